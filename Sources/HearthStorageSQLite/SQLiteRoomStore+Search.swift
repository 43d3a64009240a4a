import Foundation
import GRDB
import HearthCore
import HearthStorage

/// Server-side message search: every term must appear (case-insensitively) in one of the
/// searched content keys. SQLite's LIKE over the stored JSON; rooms of a clinic are small
/// enough that this needs no full-text index yet.
extension SQLiteRoomStore {
    /// The WHERE clause and its arguments shared by the search and its count.
    private static func searchCondition(rooms: [RoomID], terms: [String], keys: [String]) -> (String, [String]) {
        var sql = "e.room_id IN (" + Array(repeating: "?", count: rooms.count).joined(separator: ",") + ")"
            + " AND e.rejection_reason IS NULL AND e.soft_failed = 0 AND e.redacted_by IS NULL"
        var arguments = rooms.map(\.rawValue)
        for term in terms {
            let escaped = term.lowercased().replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            let alternatives = keys.map { key in
                "lower(coalesce(json_extract(e.json, '$.\(key)'), '')) LIKE ? ESCAPE '\\'"
            }
            sql += " AND (" + alternatives.joined(separator: " OR ") + ")"
            arguments += Array(repeating: "%" + escaped + "%", count: keys.count)
        }
        return (sql, arguments)
    }

    func search(in rooms: [RoomID], terms: [String], keys: [String], before: StreamPosition?, limit: Int) async throws -> [StoredEvent] {
        if rooms.isEmpty || terms.isEmpty || keys.isEmpty { return [] }
        let (condition, values) = Self.searchCondition(rooms: rooms, terms: terms, keys: keys)
        var arguments = StatementArguments(values)
        _ = arguments.append(contentsOf: [before ?? Int64.max, limit])
        let bound = arguments
        return try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.eventColumns) FROM events e JOIN rooms r USING (room_id)
                        WHERE \(condition) AND e.stream < ? ORDER BY e.stream DESC LIMIT ?
                        """,
                    arguments: bound
                ).map(Self.storedEvent(from:))
            }
        }
    }

    func searchCount(in rooms: [RoomID], terms: [String], keys: [String]) async throws -> Int {
        if rooms.isEmpty || terms.isEmpty || keys.isEmpty { return 0 }
        let (condition, values) = Self.searchCondition(rooms: rooms, terms: terms, keys: keys)
        return try await storageCall {
            try await pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM events e WHERE \(condition)", arguments: StatementArguments(values)) ?? 0
            }
        }
    }
}
