import GRDB
import HearthCore
import HearthStorage

/// What federation needs beyond a local room's timeline: outliers, state snapshots computed
/// elsewhere, auth chains and the edges of known history.
extension SQLiteRoomStore {
    func createStateGroup(_ roomID: RoomID, state: [StateKey: EventID], base: StateGroupID?) async throws -> StateGroupID {
        try await storageCall {
            try await pool.write { db in
                if let base, let length = try Int64.fetchOne(db.cachedStatement(sql: "SELECT chain_length FROM state_groups WHERE id = ?"),
                                                             arguments: [base]),
                   length + 1 <= Self.maxChainLength {
                    let parentState = try Self.loadState(db, group: base)
                    // A snapshot is its parent plus entries: it can add and replace, never remove.
                    if parentState.keys.allSatisfy({ state[$0] != nil }) {
                        let delta = state.filter { parentState[$0.key] != $0.value }
                        if delta.count <= 256 {
                            try db.execute(sql: "INSERT INTO state_groups (room_id, parent, chain_length) VALUES (?, ?, ?)",
                                           arguments: [roomID.rawValue, base, length + 1])
                            let group = db.lastInsertedRowID
                            try Self.insertEntries(db, group: group, delta)
                            return group
                        }
                    }
                }
                try db.execute(sql: "INSERT INTO state_groups (room_id, parent, chain_length) VALUES (?, NULL, 0)",
                               arguments: [roomID.rawValue])
                let group = db.lastInsertedRowID
                try Self.insertEntries(db, group: group, state)
                return group
            }
        }
    }

    func authChain(of eventIDs: [EventID]) async throws -> Set<EventID> {
        if eventIDs.isEmpty { return [] }
        let seeds = Self.encodeIDs(eventIDs)
        return try await storageCall {
            try await pool.read { db in
                let ids = try String.fetchAll(db.cachedStatement(sql: """
                        WITH RECURSIVE chain(id) AS (
                          SELECT auth_event_id FROM event_auth_edges WHERE event_id IN (SELECT value FROM json_each(?))
                          UNION
                          SELECT a.auth_event_id FROM event_auth_edges a JOIN chain c ON a.event_id = c.id
                        )
                        SELECT c.id FROM chain c JOIN events e ON e.event_id = c.id
                        """),
                    arguments: [seeds])
                return Set(ids.compactMap(EventID.init))
            }
        }
    }

    func backwardExtremities(in roomID: RoomID) async throws -> [EventID] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db.cachedStatement(sql: """
                        SELECT DISTINCT ed.prev_event_id FROM event_edges ed JOIN events ev ON ev.event_id = ed.event_id
                        WHERE ev.room_id = ? AND ev.outlier = 0
                          AND NOT EXISTS (SELECT 1 FROM events x WHERE x.event_id = ed.prev_event_id AND x.outlier = 0)
                        """),
                    arguments: [roomID.rawValue]
                ).compactMap(EventID.init)
            }
        }
    }

    /// Brings the memberships of a room in line with a new current state: every member key
    /// whose event changed between the two snapshots.
    static func updateMemberships(_ db: Database, room: RoomID, from old: StateGroupID?, to new: StateGroupID?,
                                          stream: StreamPosition) throws {
        guard let old else {
            // No state before (a room this server has just joined): every member of the new
            // snapshot, in one statement that reads neither the snapshot nor the events into
            // memory. The snapshot's chain is applied from its root, so the newest entry for a
            // member wins.
            guard let new else { return }
            try db.cachedStatement(
                sql: """
                    WITH RECURSIVE chain(id, depth) AS (
                      SELECT ?, 0
                      UNION ALL
                      SELECT g.parent, c.depth + 1 FROM state_groups g JOIN chain c ON g.id = c.id WHERE g.parent IS NOT NULL
                    )
                    INSERT INTO memberships (room_id, user_id, membership, event_id, stream, forgotten)
                      SELECT ?, s.state_key, e.membership, e.event_id, ?, 0
                      FROM chain c JOIN state_group_entries s ON s.state_group = c.id AND s.type = 'm.room.member'
                        JOIN events e ON e.event_id = s.event_id
                      WHERE e.membership IS NOT NULL
                      ORDER BY c.depth DESC
                    ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
                      event_id = excluded.event_id, stream = excluded.stream, forgotten = 0
                    """).execute(arguments: [new, room.rawValue, stream])
            return
        }
        let before = try loadState(db, group: old)
        let after = try new.map { try loadState(db, group: $0) } ?? [:]
        var changed: [(String, EventID)] = []
        for (key, id) in after where key.type == "m.room.member" && before[key] != id {
            changed.append((key.stateKey, id))
        }
        for (key, _) in before where key.type == "m.room.member" && after[key] == nil {
            try db.execute(sql: "DELETE FROM memberships WHERE room_id = ? AND user_id = ?", arguments: [room.rawValue, key.stateKey])
        }
        if changed.isEmpty { return }
        // One statement for all of them. A member event's state key is its target, so the
        // event's own state_key names the user.
        try db.cachedStatement(
            sql: """
                INSERT INTO memberships (room_id, user_id, membership, event_id, stream, forgotten)
                  SELECT ?, e.state_key, e.membership, e.event_id, ?, 0
                  FROM json_each(?) changed JOIN events e ON e.event_id = changed.value
                  WHERE e.state_key IS NOT NULL AND e.membership IS NOT NULL
                ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
                  event_id = excluded.event_id, stream = excluded.stream, forgotten = 0
                """).execute(arguments: [room.rawValue, stream, encodeIDs(changed.map(\.1))])
    }
}
