import Foundation
import GRDB
import HearthCore
import HearthStorage

struct SQLitePrivacyStore: PrivacyStore {
    let pool: DatabasePool
    let checkpointer: WALCheckpointer

    func roomClass(_ roomID: RoomID) async throws -> RoomClassRecord? {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM room_classes WHERE room_id = ?"), arguments: [roomID.rawValue])
                    .flatMap(Self.roomClassRecord)
            }
        }
    }

    func setRoomClass(_ record: RoomClassRecord) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO room_classes (room_id, class, partners, set_by, set_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (room_id) DO UPDATE SET class = excluded.class, partners = excluded.partners,
                      set_by = excluded.set_by, set_at = excluded.set_at
                    """, arguments: [record.roomID.rawValue, record.roomClass, JSONValue(record.partners).encoded().utf8String,
                                     record.setBy, record.setAt])
            }
        }
    }

    static func roomClassRecord(_ row: Row) -> RoomClassRecord? {
        guard let roomID = RoomID(row["room_id"] as String) else { return nil }
        let partners = (try? JSONValue.parse(Array((row["partners"] as String).utf8)))?.arrayValue?.compactMap(\.stringValue) ?? []
        return RoomClassRecord(roomID: roomID, roomClass: row["class"], partners: partners, setBy: row["set_by"], setAt: row["set_at"])
    }

    func rooms(ofClass roomClass: String) async throws -> [RoomClassRecord] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM room_classes WHERE class = ?"), arguments: [roomClass]).compactMap(Self.roomClassRecord)
            }
        }
    }

    func roomsMentioningMedia(_ mxcURI: String) async throws -> [RoomID] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT room_id FROM media_room_refs WHERE mxc = ?"), arguments: [mxcURI])
                    .compactMap(RoomID.init)
            }
        }
    }
}

extension SQLitePrivacyStore {
    func allRooms() async throws -> [RoomID] {
        try await storageCall {
            try await pool.read { db in try String.fetchAll(db.cachedStatement(sql: "SELECT room_id FROM rooms")).compactMap(RoomID.init) }
        }
    }

    func eventsToExpire(in roomID: RoomID, sentBefore before: Milliseconds, limit: Int) async throws -> [EventID] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db.cachedStatement(sql: """
                    SELECT event_id FROM events
                    WHERE room_id = ? AND origin_server_ts < ? AND state_key IS NULL AND type != 'm.room.redaction'
                      AND redacted_by IS NULL AND rejection_reason IS NULL
                      AND json_extract(json, '$.content') != '{}'
                    ORDER BY origin_server_ts LIMIT ?
                    """), arguments: [roomID.rawValue, before, limit]).compactMap(EventID.init)
            }
        }
    }

    func selfDestructsDue(at now: Milliseconds, limit: Int) async throws -> [EventID] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db.cachedStatement(sql: "SELECT event_id FROM event_expiry WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"),
                                    arguments: [now, limit]).compactMap(EventID.init)
            }
        }
    }

    func eraseContent(of eventID: EventID, redactedJSON: JSONObject) async throws {
        try await storageCall {
            try await pool.write { db in
                // A copy still queued for a server that is down goes in its redacted form.
                if let original = try String.fetchOne(db.cachedStatement(sql: "SELECT json FROM events WHERE event_id = ?"), arguments: [eventID.rawValue]) {
                    try db.execute(sql: "UPDATE federation_outbox SET json = ? WHERE kind = 'pdu' AND json = ?",
                                   arguments: [redactedJSON.encodedString(), original])
                }
                try db.execute(sql: "UPDATE events SET json = ? WHERE event_id = ?", arguments: [redactedJSON.encodedString(), eventID.rawValue])
                try db.execute(sql: "DELETE FROM event_relations WHERE event_id = ?", arguments: [eventID.rawValue])
                try db.execute(sql: "DELETE FROM event_expiry WHERE event_id = ?", arguments: [eventID.rawValue])
            }
        }
    }

    func isMediaMentioned(_ mxcURI: String) async throws -> Bool {
        try await storageCall {
            try await pool.read { db in
                try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM events WHERE instr(json, ?) > 0)"), arguments: [mxcURI]) ?? false
            }
        }
    }

    func hasAcceptedAgreement(_ roomID: RoomID, _ userID: UserID, version: String) async throws -> Bool {
        try await storageCall {
            try await pool.read { db in
                try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM agreement_acceptances WHERE room_id = ? AND user_id = ? AND version = ?)"),
                                  arguments: [roomID.rawValue, userID.rawValue, version]) ?? false
            }
        }
    }

    func recordAgreementAcceptance(_ acceptance: AgreementAcceptance) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO agreement_acceptances (room_id, user_id, version, accepted_at) VALUES (?, ?, ?, ?)",
                               arguments: [acceptance.roomID.rawValue, acceptance.userID.rawValue, acceptance.version, acceptance.acceptedAt])
            }
        }
    }

    func agreementAcceptances(_ roomID: RoomID) async throws -> [AgreementAcceptance] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM agreement_acceptances WHERE room_id = ? ORDER BY accepted_at DESC"),
                                 arguments: [roomID.rawValue]).compactMap { row in
                    guard let user = UserID(row["user_id"] as String) else { return nil }
                    return AgreementAcceptance(roomID: roomID, userID: user, version: row["version"], acceptedAt: row["accepted_at"])
                }
            }
        }
    }

    func pseudonymMask(memberDigest: String) async throws -> PseudonymMask? {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM pseudonym_masks WHERE member_digest = ?"), arguments: [memberDigest]).flatMap(Self.mask)
            }
        }
    }

    func pseudonymMask(_ maskID: UserID) async throws -> PseudonymMask? {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM pseudonym_masks WHERE mask_id = ?"), arguments: [maskID.rawValue]).flatMap(Self.mask)
            }
        }
    }

    func savePseudonymMask(_ mask: PseudonymMask) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO pseudonym_masks (mask_id, room_id, member_digest, sealed_member, created_at) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [mask.maskID.rawValue, mask.roomID.rawValue, mask.memberDigest, mask.sealedMember.map { Data($0) },
                                     mask.createdAt])
            }
        }
    }

    static func mask(_ row: Row) -> PseudonymMask? {
        guard let mask = UserID(row["mask_id"] as String), let room = RoomID(row["room_id"] as String) else { return nil }
        return PseudonymMask(maskID: mask, roomID: room, memberDigest: row["member_digest"],
                             sealedMember: (row["sealed_member"] as Data?).map { Array($0) }, createdAt: row["created_at"])
    }

    func eventsSent(by userID: UserID, timelineOnly: Bool, after: StreamPosition, limit: Int) async throws -> [StoredEvent] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT \(SQLiteRoomStore.eventColumns) FROM events e JOIN rooms r USING (room_id)
                    WHERE e.sender = ? AND e.stream > ? AND e.rejection_reason IS NULL
                      AND json_extract(e.json, '$.content') != '{}' \(timelineOnly ? "AND e.state_key IS NULL AND e.type != 'm.room.redaction'" : "")
                    ORDER BY e.stream LIMIT ?
                    """, arguments: [userID.rawValue, after, limit]).map(SQLiteRoomStore.storedEvent(from:))
            }
        }
    }

    func mediaUploaded(by userID: UserID) async throws -> [MediaRecord] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM media WHERE uploader = ? ORDER BY created_at"), arguments: [userID.rawValue]).map {
                    MediaRecord(mediaID: $0["media_id"], uploader: userID, contentType: $0["content_type"], fileName: $0["file_name"],
                                size: $0["size"], createdAt: $0["created_at"], sha256: $0["sha256"])
                }
            }
        }
    }

    func deletePersonalData(of userID: UserID) async throws {
        try await storageCall {
            try await pool.write { db in
                for table in ["account_data", "filters", "receipts", "profile_fields", "backup_keys", "backup_versions"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE user_id = ?", arguments: [userID.rawValue])
                }
            }
        }
    }

    func scrubFreedSpace() async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM media_room_refs WHERE NOT EXISTS (SELECT 1 FROM events e WHERE instr(e.json, media_room_refs.mxc) > 0)")
                try db.execute(sql: "DELETE FROM event_expiry WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = event_expiry.event_id AND json_extract(e.json, '$.content') != '{}')")
            }
            // Checkpoint everything into the database file (whose freed pages secure_delete has
            // zeroed) and truncate the log that held the old pages.
            try await checkpointer.truncate()
        }
    }
}

extension SQLiteSchema {
    static func registerPolicyMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("0005_organization_policy") { db in
            try db.execute(sql: """
                CREATE TABLE room_classes (
                    room_id TEXT PRIMARY KEY NOT NULL,
                    class TEXT NOT NULL CHECK (class IN ('local_only', 'partners', 'open')),
                    partners TEXT NOT NULL DEFAULT '[]',
                    set_by TEXT,
                    set_at INTEGER NOT NULL
                );
                -- Which rooms an upload was posted in (any mxc:// string in an event's content),
                -- so the policy can serve media only to servers that may see one of those rooms.
                CREATE TABLE media_room_refs (
                    mxc TEXT NOT NULL,
                    room_id TEXT NOT NULL,
                    PRIMARY KEY (mxc, room_id)
                ) WITHOUT ROWID;
                INSERT OR IGNORE INTO media_room_refs (mxc, room_id)
                  SELECT DISTINCT t.value, e.room_id FROM events e, json_tree(e.json, '$.content') t
                  WHERE t.type = 'text' AND t.value LIKE 'mxc://%';
                CREATE TRIGGER events_media_refs AFTER INSERT ON events
                WHEN instr(NEW.json, 'mxc://') > 0
                BEGIN
                  INSERT OR IGNORE INTO media_room_refs (mxc, room_id)
                    SELECT value, NEW.room_id FROM json_tree(NEW.json, '$.content') WHERE type = 'text' AND value LIKE 'mxc://%';
                END;
                """)
        }
        migrator.registerMigration("0006_message_expiry") { db in
            try db.execute(sql: """
                -- Messages whose sender set an expiry time (MSC2228's m.self_destruct_after).
                CREATE TABLE event_expiry (
                    event_id TEXT PRIMARY KEY NOT NULL,
                    room_id TEXT NOT NULL,
                    expires_at INTEGER NOT NULL
                );
                CREATE INDEX event_expiry_by_time ON event_expiry(expires_at);
                CREATE TRIGGER events_expiry AFTER INSERT ON events
                WHEN NEW.state_key IS NULL AND NEW.type != 'm.room.redaction'
                  AND (json_type(NEW.json, '$.content."m.self_destruct_after"') = 'integer'
                       OR json_type(NEW.json, '$.content."org.matrix.self_destruct_after"') = 'integer')
                BEGIN
                  INSERT OR IGNORE INTO event_expiry (event_id, room_id, expires_at)
                    VALUES (NEW.event_id, NEW.room_id,
                            CASE WHEN json_type(NEW.json, '$.content."m.self_destruct_after"') = 'integer'
                                 THEN json_extract(NEW.json, '$.content."m.self_destruct_after"')
                                 ELSE json_extract(NEW.json, '$.content."org.matrix.self_destruct_after"') END);
                END;
                INSERT OR IGNORE INTO event_expiry (event_id, room_id, expires_at)
                  SELECT event_id, room_id, COALESCE(json_extract(json, '$.content."m.self_destruct_after"'),
                                                     json_extract(json, '$.content."org.matrix.self_destruct_after"'))
                  FROM events
                  WHERE state_key IS NULL AND (json_type(json, '$.content."m.self_destruct_after"') = 'integer'
                        OR json_type(json, '$.content."org.matrix.self_destruct_after"') = 'integer');
                """)
        }
        migrator.registerMigration("0007_agreements") { db in
            try db.execute(sql: """
                -- Who accepted which version of a room's org.hearth.agreement, and when.
                CREATE TABLE agreement_acceptances (
                    room_id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    version TEXT NOT NULL,
                    accepted_at INTEGER NOT NULL,
                    PRIMARY KEY (room_id, user_id, version)
                );
                """)
        }
        migrator.registerMigration("0008_moderation_queue") { db in
            try db.execute(sql: """
                ALTER TABLE reports ADD COLUMN resolved_by TEXT;
                ALTER TABLE reports ADD COLUMN resolution TEXT;
                CREATE INDEX reports_by_room ON reports(room_id, id);
                """)
        }
        migrator.registerMigration("0009_pseudonyms") { db in
            try db.execute(sql: """
                -- Room-scoped identities members post under; who is behind one is sealed or not kept.
                CREATE TABLE pseudonym_masks (
                    mask_id TEXT PRIMARY KEY NOT NULL,
                    room_id TEXT NOT NULL,
                    member_digest TEXT NOT NULL,
                    sealed_member BLOB,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX pseudonym_masks_by_digest ON pseudonym_masks(member_digest);
                """)
        }
        migrator.registerMigration("0010_account_approval") { db in
            try db.execute(sql: "ALTER TABLE accounts ADD COLUMN awaiting_approval INTEGER NOT NULL DEFAULT 0")
        }
    }
}
