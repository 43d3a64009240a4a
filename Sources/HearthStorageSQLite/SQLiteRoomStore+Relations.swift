import GRDB
import HearthCore
import HearthStorage

/// Relations between events (`content.m.relates_to`), indexed as events are persisted.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#forming-relationships-between-events
extension SQLiteRoomStore {
    /// Records the event's relation, if it has a well-formed one.
    static func indexRelation(_ db: Database, _ pdu: PDU, stream: StreamPosition) throws {
        guard let relation = pdu.content["m.relates_to"]?.objectValue,
              let parent = relation["event_id"]?.stringValue, let relType = relation["rel_type"]?.stringValue
        else { return }
        try db.execute(sql: "INSERT OR IGNORE INTO event_relations (event_id, room_id, relates_to, rel_type, stream) VALUES (?, ?, ?, ?, ?)",
                       arguments: [pdu.eventID.rawValue, pdu.roomID.rawValue, parent, relType, stream])
    }

    func relations(in roomID: RoomID, to parents: [EventID], relType: String?, eventType: String?, from: TopologicalPosition,
                   backwards: Bool, limit: Int) async throws -> [StoredEvent] {
        if parents.isEmpty { return [] }
        let comparison = backwards ? "<" : ">"
        let order = backwards ? "DESC" : "ASC"
        let marks = Array(repeating: "?", count: parents.count).joined(separator: ",")
        var conditions = ""
        var arguments = StatementArguments([roomID.rawValue] + parents.map(\.rawValue))
        _ = arguments.append(contentsOf: [from.depth, from.stream])
        if let relType {
            conditions += " AND x.rel_type = ?"
            _ = arguments.append(contentsOf: [relType])
        }
        if let eventType {
            conditions += " AND e.type = ?"
            _ = arguments.append(contentsOf: [eventType])
        }
        _ = arguments.append(contentsOf: [limit])
        let filters = conditions
        let values = arguments
        return try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.eventColumns) FROM event_relations x
                          JOIN events e ON e.event_id = x.event_id JOIN rooms r ON r.room_id = e.room_id
                        WHERE x.room_id = ? AND x.relates_to IN (\(marks)) AND (e.depth, e.stream) \(comparison) (?, ?)
                          AND e.rejection_reason IS NULL AND e.soft_failed = 0\(filters)
                        ORDER BY e.depth \(order), e.stream \(order) LIMIT ?
                        """,
                    arguments: values
                ).map(Self.storedEvent(from:))
            }
        }
    }

    func relationChildren(of parents: [EventID], relTypes: [String]?) async throws -> [RelationChild] {
        if parents.isEmpty || relTypes?.isEmpty == true { return [] }
        let parentMarks = Array(repeating: "?", count: parents.count).joined(separator: ",")
        let typeCondition = relTypes.map { " AND x.rel_type IN (" + Array(repeating: "?", count: $0.count).joined(separator: ",") + ")" } ?? ""
        return try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT x.event_id, x.relates_to, x.rel_type, e.sender, e.type, e.origin_server_ts, e.stream
                        FROM event_relations x JOIN events e ON e.event_id = x.event_id
                        WHERE x.relates_to IN (\(parentMarks))\(typeCondition)
                          AND e.rejection_reason IS NULL AND e.soft_failed = 0
                        ORDER BY e.stream
                        """,
                    arguments: StatementArguments(parents.map(\.rawValue) + (relTypes ?? []))
                ).compactMap { row in
                    guard let id = EventID(row["event_id"] as String), let parent = EventID(row["relates_to"] as String),
                          let sender = UserID(row["sender"] as String) else { return nil }
                    return RelationChild(eventID: id, parent: parent, relType: row["rel_type"], type: row["type"], sender: sender,
                                         originServerTS: row["origin_server_ts"], stream: row["stream"])
                }
            }
        }
    }

    func threadSummaries(of roots: [EventID], participant: UserID?) async throws -> [EventID: ThreadSummary] {
        if roots.isEmpty { return [:] }
        let marks = Array(repeating: "?", count: roots.count).joined(separator: ",")
        return try await storageCall {
            try await pool.read { db in
                var result: [EventID: ThreadSummary] = [:]
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT x.relates_to, count(*) AS replies, max(e.stream) AS latest,
                               max(e.sender = ?) AS participated
                        FROM event_relations x JOIN events e ON e.event_id = x.event_id
                        WHERE x.relates_to IN (\(marks)) AND x.rel_type = 'm.thread'
                          AND e.rejection_reason IS NULL AND e.soft_failed = 0
                        GROUP BY x.relates_to
                        """,
                    arguments: StatementArguments([participant?.rawValue ?? ""] + roots.map(\.rawValue)))
                for row in rows {
                    guard let root = EventID(row["relates_to"] as String),
                          let latest = try String.fetchOne(db.cachedStatement(sql: "SELECT event_id FROM events WHERE stream = ?"),
                                                           arguments: [row["latest"] as Int64]).flatMap(EventID.init)
                    else { continue }
                    result[root] = ThreadSummary(root: root, count: row["replies"], latestEventID: latest,
                                                 latestStream: row["latest"], participated: (row["participated"] as Bool?) ?? false)
                }
                return result
            }
        }
    }

    func events(in roomID: RoomID, nearTimestamp timestamp: Milliseconds, forwards: Bool, limit: Int) async throws -> [StoredEvent] {
        let comparison = forwards ? ">=" : "<="
        let order = forwards ? "ASC" : "DESC"
        return try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: """
                        SELECT \(Self.eventColumns) FROM events e JOIN rooms r USING (room_id)
                        WHERE e.room_id = ? AND e.origin_server_ts \(comparison) ?
                          AND e.rejection_reason IS NULL AND e.soft_failed = 0
                        ORDER BY e.origin_server_ts \(order), e.stream \(order) LIMIT ?
                        """),
                    arguments: [roomID.rawValue, timestamp, limit]
                ).map(Self.storedEvent(from:))
            }
        }
    }

    func threads(in roomID: RoomID, participant: UserID?, before: StreamPosition?, limit: Int) async throws -> [ThreadSummary] {
        try await storageCall {
            try await pool.read { db in
                // Threads the participant started or replied to, when asked for.
                let participation = participant == nil ? "" : """
                     AND (max(e.sender = ?) = 1
                          OR EXISTS (SELECT 1 FROM events root WHERE root.event_id = x.relates_to AND root.sender = ?))
                    """
                var arguments: StatementArguments = [roomID.rawValue]
                if let participant { _ = arguments.append(contentsOf: [participant.rawValue, participant.rawValue]) }
                _ = arguments.append(contentsOf: [before ?? Int64.max, limit])
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT x.relates_to, count(*) AS replies, max(e.stream) AS latest
                        FROM event_relations x JOIN events e ON e.event_id = x.event_id
                        WHERE x.room_id = ? AND x.rel_type = 'm.thread' AND e.rejection_reason IS NULL AND e.soft_failed = 0
                        GROUP BY x.relates_to
                        HAVING 1 = 1\(participation) AND max(e.stream) < ?
                        ORDER BY latest DESC LIMIT ?
                        """,
                    arguments: arguments)
                return try rows.compactMap { row in
                    guard let root = EventID(row["relates_to"] as String),
                          let latest = try String.fetchOne(db.cachedStatement(sql: "SELECT event_id FROM events WHERE stream = ?"),
                                                           arguments: [row["latest"] as Int64]).flatMap(EventID.init)
                    else { return nil }
                    return ThreadSummary(root: root, count: row["replies"], latestEventID: latest, latestStream: row["latest"],
                                         participated: participant != nil)
                }
            }
        }
    }
}
