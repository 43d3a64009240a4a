import GRDB

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
    }
}
