import Foundation
import GRDB
import HearthCore
import HearthStorage
@testable import HearthStorageSQLite
import Testing

/// The SQLite schema: a database written before a migration reads the same after it, and
/// the memberships derived from room state follow the state.
@Suite struct SQLiteSchemaTests {
    /// Migration 0013 moves memberships and snapshot entries into WITHOUT ROWID tables and
    /// gives member events a `membership` column, filled for the events already stored.
    @Test func memberEventsKeepTheirMembershipsThroughTheColumnMigration() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-migration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("old.db").path
        do {
            var configuration = Configuration()
            configuration.journalMode = .wal
            let pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteSchema.migrator.migrate(pool, upTo: "0012_event_triggers_in_code")
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO rooms (room_id, version, creator, created_at) VALUES ('!r:old.test', '11', '@a:old.test', 0);
                    INSERT INTO events (stream, event_id, room_id, type, state_key, sender, depth, origin_server_ts, json)
                      VALUES (1, '$join', '!r:old.test', 'm.room.member', '@a:old.test', '@a:old.test', 1, 0,
                              '{"content":{"membership":"join"},"type":"m.room.member"}'),
                             (2, '$odd', '!r:old.test', 'm.room.member', '@b:old.test', '@b:old.test', 2, 0,
                              '{"content":{"membership":5},"type":"m.room.member"}'),
                             (3, '$text', '!r:old.test', 'm.room.message', NULL, '@a:old.test', 3, 0,
                              '{"content":{"membership":"join","body":"hi"},"type":"m.room.message"}');
                    INSERT INTO state_groups (id, room_id, parent, chain_length) VALUES (7, '!r:old.test', NULL, 0);
                    INSERT INTO state_group_entries (state_group, type, state_key, event_id)
                      VALUES (7, 'm.room.member', '@a:old.test', '$join'), (7, 'm.room.member', '@b:old.test', '$odd');
                    INSERT INTO memberships (room_id, user_id, membership, event_id, stream, forgotten)
                      VALUES ('!r:old.test', '@a:old.test', 'join', '$join', 1, 1);
                    """)
            }
            try pool.close()
        }
        let storage = try SQLiteStorage(path: path)
        #expect(try storage.appliedMigrations().contains("0013_membership_column"))
        let (columns, withoutRowID, memberships, entries) = try await storage.pool.read { db in
            (try [String: String?](uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT event_id, membership FROM events").map {
                ($0[0] as String, $0[1] as String?)
            }),
             try String.fetchAll(db, sql: """
                SELECT name FROM sqlite_master WHERE name IN ('memberships', 'state_group_entries') AND sql LIKE '%WITHOUT ROWID%'
                ORDER BY name
                """),
             try Row.fetchAll(db, sql: "SELECT user_id, membership, event_id, forgotten FROM memberships").map {
                 "\($0[0] as String) \($0[1] as String) \($0[2] as String) \($0[3] as Int)"
             },
             try Int.fetchOne(db, sql: "SELECT count(*) FROM state_group_entries WHERE state_group = 7"))
        }
        // Only a member event's string membership fills the column.
        #expect(columns == ["$join": "join", "$odd": nil, "$text": nil])
        #expect(withoutRowID == ["memberships", "state_group_entries"])
        #expect(memberships == ["@a:old.test join $join 1"])
        #expect(entries == 2)
        let state = try await storage.rooms.state(7)
        #expect(state.count == 2 && state[.member(UserID("@b:old.test")!)] == EventID("$odd"))
        // The by-user index came back with the table.
        let indexes = try await storage.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'memberships'")
        }
        #expect(indexes.contains("memberships_by_user"))
    }

    /// A room this server has just joined: its memberships come from the whole snapshot, the
    /// newest entry of its chain winning, and only member events with a string membership.
    @Test func aFirstSnapshotGivesEveryMemberTheirNewestMembership() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-members-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let storage = try SQLiteStorage(path: directory.appendingPathComponent("hearth.db").path)
        try await storage.pool.write { db in
            try db.execute(sql: """
                INSERT INTO rooms (room_id, version, creator, created_at) VALUES ('!r:new.test', '11', '@a:new.test', 0);
                INSERT INTO events (stream, event_id, room_id, type, state_key, sender, depth, origin_server_ts, json, membership)
                  VALUES (1, '$a-join', '!r:new.test', 'm.room.member', '@a:new.test', '@a:new.test', 1, 0, '{}', 'join'),
                         (2, '$b-join', '!r:new.test', 'm.room.member', '@b:new.test', '@b:new.test', 2, 0, '{}', 'join'),
                         (3, '$a-leave', '!r:new.test', 'm.room.member', '@a:new.test', '@a:new.test', 3, 0, '{}', 'leave'),
                         (4, '$c-odd', '!r:new.test', 'm.room.member', '@c:new.test', '@c:new.test', 4, 0, '{}', NULL),
                         (5, '$d-invite', '!r:new.test', 'm.room.member', '@d:new.test', '@a:new.test', 5, 0, '{}', 'invite');
                INSERT INTO state_groups (id, room_id, parent, chain_length) VALUES (1, '!r:new.test', NULL, 0),
                  (2, '!r:new.test', 1, 1), (3, '!r:new.test', 2, 2);
                INSERT INTO state_group_entries (state_group, type, state_key, event_id)
                  VALUES (1, 'm.room.member', '@a:new.test', '$a-join'), (1, 'm.room.member', '@b:new.test', '$b-join'),
                         (2, 'm.room.member', '@a:new.test', '$a-leave'), (2, 'm.room.member', '@c:new.test', '$c-odd'),
                         (3, 'm.room.member', '@d:new.test', '$d-invite');
                """)
            try SQLiteRoomStore.updateMemberships(db, room: RoomID("!r:new.test")!, from: nil, to: 3, stream: 9)
        }
        let rows = try await storage.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT user_id, membership, event_id, stream FROM memberships ORDER BY user_id").map {
                "\($0[0] as String) \($0[1] as String) \($0[2] as String) \($0[3] as Int)"
            }
        }
        #expect(rows == ["@a:new.test leave $a-leave 9", "@b:new.test join $b-join 9", "@d:new.test invite $d-invite 9"])
    }
}
