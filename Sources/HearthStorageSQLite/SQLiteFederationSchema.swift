import GRDB
import HearthStorage

extension SQLiteSchema {
    /// The federation transport's tables. Append-only like the rest of the schema.
    static func registerFederationTransportMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("0100_federation_transport") { db in
            try db.execute(sql: """
                -- Remote servers' verify keys and the signed responses they came from.
                CREATE TABLE federation_server_keys (
                    server_name TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    public_key BLOB NOT NULL,
                    valid_until_ts INTEGER NOT NULL,
                    is_old INTEGER NOT NULL,
                    fetched_at INTEGER NOT NULL,
                    response_json TEXT NOT NULL,
                    PRIMARY KEY (server_name, key_id)
                );
                -- PDUs and EDUs waiting for a destination; txn_id is set once they are in a
                -- transaction that was built (and maybe sent) but not acknowledged.
                CREATE TABLE federation_outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    destination TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('pdu', 'edu')),
                    json TEXT NOT NULL,
                    txn_id TEXT
                );
                CREATE INDEX federation_outbox_by_destination ON federation_outbox(destination, id);
                CREATE TABLE federation_destinations (
                    destination TEXT PRIMARY KEY NOT NULL,
                    failures INTEGER NOT NULL DEFAULT 0,
                    retry_at INTEGER NOT NULL DEFAULT 0,
                    open_txn_id TEXT,
                    open_txn_ts INTEGER
                );
                -- Every egress gate decision. Append-only: updates and deletes are refused.
                CREATE TABLE egress_audit (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    ts INTEGER NOT NULL,
                    destination TEXT,
                    kind TEXT NOT NULL,
                    method TEXT NOT NULL,
                    path TEXT NOT NULL,
                    decision TEXT NOT NULL,
                    reason TEXT,
                    body_sha256 TEXT,
                    body_size INTEGER NOT NULL
                );
                CREATE TRIGGER egress_audit_no_update BEFORE UPDATE ON egress_audit
                BEGIN SELECT RAISE(ABORT, 'egress_audit is append-only'); END;
                CREATE TRIGGER egress_audit_no_delete BEFORE DELETE ON egress_audit
                BEGIN SELECT RAISE(ABORT, 'egress_audit is append-only'); END;
                """)
        }
        migrator.registerMigration("0101_audit_chain") { db in
            try db.execute(sql: """
                ALTER TABLE egress_audit ADD COLUMN data_kind TEXT;
                ALTER TABLE egress_audit ADD COLUMN room_id TEXT;
                ALTER TABLE egress_audit ADD COLUMN user_id TEXT;
                ALTER TABLE egress_audit ADD COLUMN rule TEXT;
                ALTER TABLE egress_audit ADD COLUMN previous_hash TEXT NOT NULL DEFAULT '';
                ALTER TABLE egress_audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
                CREATE INDEX egress_audit_by_room ON egress_audit(room_id, sequence);
                CREATE INDEX egress_audit_by_destination ON egress_audit(destination, sequence);
                CREATE INDEX egress_audit_by_ts ON egress_audit(ts);
                -- The hash of the last pruned record: the oldest remaining record follows it.
                CREATE TABLE egress_audit_anchor (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    pruned_through INTEGER NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE TRIGGER egress_audit_anchor_forward BEFORE UPDATE ON egress_audit_anchor
                WHEN NEW.pruned_through < OLD.pruned_through
                BEGIN SELECT RAISE(ABORT, 'the audit anchor only moves forward'); END;
                CREATE TRIGGER egress_audit_anchor_no_delete BEFORE DELETE ON egress_audit_anchor
                BEGIN SELECT RAISE(ABORT, 'the audit anchor cannot be removed'); END;
                DROP TRIGGER egress_audit_no_update;
                DROP TRIGGER egress_audit_no_delete;
                """)
            // Records written before the chain existed get their hashes now, in order.
            var previous = ""
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM egress_audit ORDER BY sequence")) {
                var record = SQLiteFederationStore.auditRecord(row)
                record.previousHash = previous
                record.hash = record.chainHash(after: previous)
                try db.execute(sql: "UPDATE egress_audit SET previous_hash = ?, hash = ? WHERE sequence = ?",
                               arguments: [record.previousHash, record.hash, record.sequence])
                previous = record.hash
            }
            try db.execute(sql: """
                CREATE TRIGGER egress_audit_no_update BEFORE UPDATE ON egress_audit
                BEGIN SELECT RAISE(ABORT, 'egress_audit is append-only'); END;
                -- Only the pruned prefix (at or below the anchor) may be deleted.
                CREATE TRIGGER egress_audit_no_delete BEFORE DELETE ON egress_audit
                WHEN OLD.sequence > COALESCE((SELECT pruned_through FROM egress_audit_anchor WHERE id = 1), 0)
                BEGIN SELECT RAISE(ABORT, 'egress_audit is append-only'); END;
                """)
        }
    }
}
