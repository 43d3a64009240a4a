import Foundation
import GRDB
import HearthCore
import HearthStorage

struct SQLiteRoomPolicyStore: RoomPolicyStore {
    let pool: DatabasePool

    func roomClass(_ roomID: RoomID) async throws -> RoomClassRecord? {
        try await storageCall {
            try await pool.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT * FROM room_classes WHERE room_id = ?", arguments: [roomID.rawValue])
                else { return nil }
                let partners = (try? JSONValue.parse(Array((row["partners"] as String).utf8)))?.arrayValue?.compactMap(\.stringValue) ?? []
                return RoomClassRecord(roomID: roomID, roomClass: row["class"], partners: partners, setBy: row["set_by"],
                                       setAt: row["set_at"])
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

    func roomsMentioningMedia(_ mxcURI: String) async throws -> [RoomID] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db, sql: "SELECT DISTINCT room_id FROM media_room_refs WHERE mxc = ?", arguments: [mxcURI])
                    .compactMap(RoomID.init)
            }
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
    }
}
