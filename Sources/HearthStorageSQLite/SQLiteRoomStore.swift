import Foundation
import GRDB
import HearthCore
import HearthStorage
import Synchronization

final class SQLiteRoomStore: RoomStore, Sendable {
    let pool: DatabasePool
    /// Snapshots never change once written, so their full maps can be cached freely.
    private let stateCache = Mutex<[StateGroupID: [StateKey: EventID]]>([:])
    private static let stateCacheLimit = 2_000
    /// A snapshot stores its parent's delta; past this many links a full copy is written so
    /// that reading state never walks a long chain.
    static let maxChainLength: Int64 = 50

    let quick: QuickReader

    init(pool: DatabasePool, quick: QuickReader) {
        self.pool = pool
        self.quick = quick
    }

    // MARK: Rooms

    func createRoom(_ room: RoomRecord) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO rooms (room_id, version, creator, created_at, is_public, current_state_group, forward_extremities) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [room.roomID.rawValue, room.version.identifier, room.creator.rawValue, room.createdAt,
                                room.isPublic, room.currentStateGroup, Self.encodeIDs(room.forwardExtremities)])
            }
        }
    }

    func room(_ roomID: RoomID) async throws -> RoomRecord? {
        try quick.read { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM rooms WHERE room_id = ?"), arguments: [roomID.rawValue]),
                  let version = RoomVersion(row["version"] as String)
            else { return nil }
            return RoomRecord(roomID: roomID, version: version, creator: UserID(row["creator"] as String)!,
                              createdAt: row["created_at"], isPublic: row["is_public"],
                              currentStateGroup: row["current_state_group"],
                              forwardExtremities: Self.decodeIDs(row["forward_extremities"]))
        }
    }

    func setPublic(_ roomID: RoomID, _ isPublic: Bool) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "UPDATE rooms SET is_public = ? WHERE room_id = ?", arguments: [isPublic, roomID.rawValue])
            }
        }
    }

    func publicRooms() async throws -> [RoomID] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db.cachedStatement(sql: "SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY created_at")).compactMap(RoomID.init)
            }
        }
    }

    static func encodeIDs(_ ids: [EventID]) -> String { JSONValue(ids.map(\.rawValue)).encodedString() }
    static func decodeIDs(_ text: String) -> [EventID] {
        (try? JSONValue.parse(text))?.arrayValue?.compactMap { $0.stringValue.flatMap(EventID.init) } ?? []
    }

    // MARK: Persisting

    func persist(_ event: EventToPersist) async throws -> PersistedEvent {
        try await persist(batch: [event])[0]
    }

    func persist(batch events: [EventToPersist]) async throws -> [PersistedEvent] {
        let encoded = events.map { ($0, $0.encodedJSON ?? $0.pdu.json.encodedString()) }
        let persisted = try await storageCall {
            try await pool.write { db in try encoded.map { try Self.write(db, $0.0, json: $0.1) } }
        }
        // /sync reads a new event back at once, for every member waiting.
        for (event, json) in encoded { Self.parsed.remember(event.pdu, json: json) }
        return persisted
    }

    func persistOutliers(_ events: [EventToPersist]) async throws {
        if events.isEmpty { return }
        precondition(events.allSatisfy(\.outlier), "persistOutliers takes outliers only")
        let ids = Self.encodeIDs(events.map(\.pdu.eventID))
        let encoded = events.map { ($0, $0.encodedJSON ?? $0.pdu.json.encodedString()) }
        try await storageCall {
            try await pool.write { db in try Self.writeOutliers(db, encoded, ids: ids) }
        }
    }

    /// The body of `persistOutliers`, inside the caller's transaction.
    private static func writeOutliers(_ db: Database, _ encoded: [(EventToPersist, String)], ids: String) throws {
        // A big room's state is thousands of outliers: which are stored already and their
        // stream positions are one statement each for all of them, and the rows are bound
        // directly (`DirectStatement`).
        let stored = try Set(String.fetchAll(
            db.cachedStatement(sql: "SELECT event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?))"),
            arguments: [ids]))
        let fresh = encoded.filter { !stored.contains($0.0.pdu.eventID.rawValue) }
        var stream = try nextStreamPositions(db, count: fresh.count)
        // What `write` stores of an outlier: no snapshots, no prev edges (until it takes its
        // place in the timeline), no transaction.
        let insert = try DirectStatement(db, sql: """
            INSERT INTO events (stream, event_id, room_id, type, state_key, sender, depth, origin_server_ts, json,
              rejection_reason, soft_failed, membership, outlier)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
            """)
        let authEdge = try DirectStatement(db, sql: "INSERT OR IGNORE INTO event_auth_edges (event_id, auth_event_id) VALUES (?, ?)")
        for (event, json) in fresh {
            let pdu = event.pdu
            try insert.run { row in
                row.integer(1, stream)
                row.text(2, pdu.eventID.rawValue)
                row.text(3, pdu.roomID.rawValue)
                row.text(4, pdu.type)
                row.text(5, pdu.stateKey)
                row.text(6, pdu.sender.rawValue)
                row.integer(7, pdu.depth)
                row.integer(8, pdu.originServerTS)
                row.text(9, json)
                row.text(10, event.rejectionReason)
                row.integer(11, event.softFailed ? 1 : 0)
                row.text(12, Self.membership(of: pdu))
            }
            try indexContent(db, pdu, json: json)
            stream += 1
            for auth in pdu.authEvents {
                try authEdge.run { edge in
                    edge.text(1, pdu.eventID.rawValue)
                    edge.text(2, auth.rawValue)
                }
            }
        }
    }

    /// The body of `persist`: everything one event's write changes, inside the caller's transaction.
    /// `stream`: the event's position when the caller took it already.
    private static func write(_ db: Database, _ event: EventToPersist, json: String,
                              stream assigned: Int64? = nil) throws -> PersistedEvent {
        let pdu = event.pdu
        // History fetched from other servers sorts before everything /sync has reported:
        // it gets negative positions, counting down, and /messages finds it by depth.
        let stream = if let assigned { assigned } else if event.backfilled {
            min(0, try Int64.fetchOne(db.cachedStatement(sql: "SELECT MIN(stream) FROM events")) ?? 0) - 1
        } else {
            try nextStreamPosition(db)
        }
        var after = event.stateGroupBefore
        if !event.outlier, let key = event.stateChange, event.rejectionReason == nil {
            after = try Self.createStateGroup(db, room: pdu.roomID, parent: event.stateGroupBefore, set: key, to: pdu.eventID)
        }
        // Only a timeline event can replace a stored outlier (an outlier is never written twice).
        let wasOutlier = try !event.outlier && Bool.fetchOne(
            db.cachedStatement(sql: "SELECT outlier FROM events WHERE event_id = ?"), arguments: [pdu.eventID.rawValue]) ?? false
        if wasOutlier {
            // Known until now for its own sake only: it takes its place in the room.
            try db.cachedStatement(
                sql: """
                    UPDATE events SET stream = ?, json = ?, state_group_before = ?, state_group_after = ?,
                      rejection_reason = ?, soft_failed = ?, outlier = 0 WHERE event_id = ?
                    """).execute(
                arguments: [stream, json, event.stateGroupBefore, after, event.rejectionReason, event.softFailed,
                            pdu.eventID.rawValue])
        } else {
            try db.cachedStatement(
                sql: """
                    INSERT INTO events (stream, event_id, room_id, type, state_key, sender, depth, origin_server_ts, json,
                      state_group_before, state_group_after, rejection_reason, soft_failed, txn_id, device_id, outlier,
                      membership)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(
                arguments: [stream, pdu.eventID.rawValue, pdu.roomID.rawValue, pdu.type, pdu.stateKey, pdu.sender.rawValue,
                            pdu.depth, pdu.originServerTS, json, event.outlier ? nil : event.stateGroupBefore,
                            event.outlier ? nil : after, event.rejectionReason, event.softFailed,
                            event.transaction?.transactionID, event.transaction?.deviceID, event.outlier, Self.membership(of: pdu)])
            try indexContent(db, pdu, json: json)
        }
        if !event.outlier { try Self.indexRelation(db, pdu, stream: stream) }
        // An outlier has no place in the timeline, so its prev events mean nothing yet; they
        // are recorded when it takes its place (`wasOutlier` above).
        for prev in pdu.prevEvents where !event.outlier {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO event_edges (event_id, prev_event_id) VALUES (?, ?)").execute(
                arguments: [pdu.eventID.rawValue, prev.rawValue])
        }
        for auth in pdu.authEvents {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO event_auth_edges (event_id, auth_event_id) VALUES (?, ?)").execute(
                arguments: [pdu.eventID.rawValue, auth.rawValue])
        }
        if let txn = event.transaction {
            try db.cachedStatement(sql: "INSERT INTO client_transactions (user_id, device_id, txn_id, event_id) VALUES (?, ?, ?, ?)").execute(
                arguments: [txn.userID.rawValue, txn.deviceID, txn.transactionID, pdu.eventID.rawValue])
        }
        if let extremities = event.newForwardExtremities {
            let newCurrent = event.currentStateGroup ?? after
            let oldCurrent = try StateGroupID?.fetchOne(
                db.cachedStatement(sql: "SELECT current_state_group FROM rooms WHERE room_id = ?"), arguments: [pdu.roomID.rawValue]) ?? nil
            try db.cachedStatement(sql: "UPDATE rooms SET forward_extremities = ?, current_state_group = ? WHERE room_id = ?").execute(
                arguments: [Self.encodeIDs(extremities), newCurrent, pdu.roomID.rawValue])
            if newCurrent == after, oldCurrent == event.stateGroupBefore {
                // The usual case: the state moved by this event alone.
                if pdu.type == "m.room.member", let target = pdu.stateKey, event.rejectionReason == nil, !event.softFailed,
                   let membership = pdu.content["membership"]?.stringValue {
                    try Self.upsertMembership(db, room: pdu.roomID, user: target, membership: membership,
                                              eventID: pdu.eventID, stream: stream)
                }
            } else {
                try Self.updateMemberships(db, room: pdu.roomID, from: oldCurrent, to: newCurrent, stream: stream)
            }
        }
        if event.recordsMembershipOutsideRoom, pdu.type == "m.room.member", let target = pdu.stateKey,
           let membership = pdu.content["membership"]?.stringValue {
            try Self.upsertMembership(db, room: pdu.roomID, user: target, membership: membership,
                                      eventID: pdu.eventID, stream: stream)
        }
        return PersistedEvent(stream: stream, stateGroupAfter: event.outlier ? nil : after)
    }

    /// The `membership` column of a member event (nil for other events, and for a member
    /// event whose `content.membership` is not a string): memberships are refreshed from it.
    static func membership(of pdu: PDU) -> String? {
        guard pdu.type == "m.room.member", pdu.stateKey != nil else { return nil }
        return pdu.content["membership"]?.stringValue
    }

    /// Side tables a new event's content feeds: the rooms an upload (any `mxc://` string in
    /// the content) was posted in, for the media policy, and the expiry time a sender set
    /// (MSC2228's `m.self_destruct_after`) on a message.
    private static func indexContent(_ db: Database, _ pdu: PDU, json: String) throws {
        if json.containsUTF8("mxc://") {
            try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO media_room_refs (mxc, room_id)
                      SELECT value, ? FROM json_tree(?, '$.content') WHERE type = 'text' AND value LIKE 'mxc://%'
                    """).execute(arguments: [pdu.roomID.rawValue, json])
        }
        guard pdu.stateKey == nil, pdu.type != "m.room.redaction" else { return }
        for key in ["m.self_destruct_after", "org.matrix.self_destruct_after"] {
            guard case .int(let expiresAt) = pdu.content[key] else { continue }
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO event_expiry (event_id, room_id, expires_at) VALUES (?, ?, ?)")
                .execute(arguments: [pdu.eventID.rawValue, pdu.roomID.rawValue, expiresAt])
            return
        }
    }

    static func upsertMembership(_ db: Database, room: RoomID, user: String, membership: String, eventID: EventID,
                                         stream: StreamPosition) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO memberships (room_id, user_id, membership, event_id, stream, forgotten) VALUES (?, ?, ?, ?, ?, 0)
                ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
                  event_id = excluded.event_id, stream = excluded.stream, forgotten = 0
                """).execute(
            arguments: [room.rawValue, user, membership, eventID.rawValue, stream])
    }

    static func createStateGroup(_ db: Database, room: RoomID, parent: StateGroupID?, set key: StateKey,
                                         to eventID: EventID) throws -> StateGroupID {
        let parentLength = try parent.flatMap {
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT chain_length FROM state_groups WHERE id = ?"), arguments: [$0])
        }
        if let parent, let parentLength, parentLength + 1 <= maxChainLength {
            try db.execute(sql: "INSERT INTO state_groups (room_id, parent, chain_length) VALUES (?, ?, ?)",
                           arguments: [room.rawValue, parent, parentLength + 1])
            let group = db.lastInsertedRowID
            try insertEntries(db, group: group, [key: eventID])
            return group
        }
        var full = try parent.map { try loadState(db, group: $0) } ?? [:]
        full[key] = eventID
        try db.execute(sql: "INSERT INTO state_groups (room_id, parent, chain_length) VALUES (?, NULL, 0)", arguments: [room.rawValue])
        let group = db.lastInsertedRowID
        try insertEntries(db, group: group, full)
        return group
    }

    /// A room's full snapshot is thousands of entries (a join through another server writes
    /// the whole state at once): each is bound directly (`DirectStatement`).
    static func insertEntries(_ db: Database, group: StateGroupID, _ entries: [StateKey: EventID]) throws {
        if entries.isEmpty { return }
        let insert = try DirectStatement(
            db, sql: "INSERT INTO state_group_entries (state_group, type, state_key, event_id) VALUES (?, ?, ?, ?)")
        for (key, eventID) in entries {
            try insert.run { row in
                row.integer(1, group)
                row.text(2, key.type)
                row.text(3, key.stateKey)
                row.text(4, eventID.rawValue)
            }
        }
    }

    /// Walks a snapshot's chain to its root and applies the deltas, root first.
    static func loadState(_ db: Database, group: StateGroupID) throws -> [StateKey: EventID] {
        var chain: [StateGroupID] = []
        var next: StateGroupID? = group
        while let current = next {
            chain.append(current)
            next = try StateGroupID?.fetchOne(db.cachedStatement(sql: "SELECT parent FROM state_groups WHERE id = ?"), arguments: [current]) ?? nil
        }
        var state: [StateKey: EventID] = [:]
        for current in chain.reversed() {
            let rows = try Row.fetchCursor(db, sql: "SELECT type, state_key, event_id FROM state_group_entries WHERE state_group = ?",
                                           arguments: [current])
            while let row = try rows.next() {
                state[StateKey(row[0], row[1])] = EventID(row[2] as String)
            }
        }
        return state
    }

    func state(_ group: StateGroupID) async throws -> [StateKey: EventID] {
        if let cached = stateCache.withLock({ $0[group] }) { return cached }
        let state = try await storageCall { try await pool.read { db in try Self.loadState(db, group: group) } }
        stateCache.withLock { cache in
            if cache.count >= Self.stateCacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[group] = state
        }
        return state
    }

    func applyRedaction(of eventID: EventID, redactedJSON: JSONObject, by redaction: EventID) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "UPDATE events SET json = ?, redacted_by = ? WHERE event_id = ?",
                               arguments: [redactedJSON.encodedString(), redaction.rawValue, eventID.rawValue])
                // A redacted event no longer relates to anything.
                try db.execute(sql: "DELETE FROM event_relations WHERE event_id = ?", arguments: [eventID.rawValue])
            }
        }
    }

    // MARK: Reading events

    /// The columns `storedEvent(from:)` reads, by position (a lookup by name lowercases the
    /// name on every access); every query that returns events selects these first.
    static let eventColumns = """
        e.stream, e.event_id, e.json, e.state_group_before, e.rejection_reason, e.soft_failed, e.redacted_by, e.txn_id,
        e.device_id, e.outlier, r.version
        """

    /// Events parsed before; shared by every store in the process (see `ParsedEvents`).
    static let parsed = ParsedEvents()

    static func storedEvent(from row: Row) throws -> StoredEvent {
        let id: String = row[1], json: String = row[2], versionName: String = row[10]
        let pdu: PDU
        if let known = parsed.pdu(id: id, json: json, version: versionName) {
            pdu = known
        } else {
            guard let version = RoomVersion(versionName), let eventID = EventID(id) else {
                throw StorageError.backend("stored event has an unknown room version")
            }
            let object = try JSONValue.parse(json).objectValue ?? [:]
            pdu = try PDU(json: object, version: version, storedEventID: eventID)
            parsed.remember(pdu, json: json)
        }
        return StoredEvent(pdu: pdu, stream: row[0], stateGroupBefore: row[3], rejectionReason: row[4], softFailed: row[5],
                           redactedBy: (row[6] as String?).flatMap(EventID.init), transactionID: row[7],
                           senderDeviceID: row[8], outlier: row[9])
    }

    func event(_ eventID: EventID) async throws -> StoredEvent? {
        try quick.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Self.eventColumns) FROM events e JOIN rooms r USING (room_id) WHERE e.event_id = ?"),
                             arguments: [eventID.rawValue]).map(Self.storedEvent(from:))
        }
    }

    func events(_ eventIDs: [EventID]) async throws -> [EventID: StoredEvent] {
        if eventIDs.isEmpty { return [:] }
        return try await storageCall { try await pool.read { db in try Self.loadEvents(db, eventIDs) } }
    }

    private static func loadEvents(_ db: Database, _ eventIDs: [EventID]) throws -> [EventID: StoredEvent] {
        var result: [EventID: StoredEvent] = [:]
        try forEachRow(db, "SELECT \(Self.eventColumns) FROM events e JOIN rooms r USING (room_id) WHERE e.event_id IN", eventIDs) { row in
            let event = try storedEvent(from: row)
            result[event.pdu.eventID] = event
        }
        return result
    }

    /// Runs `sql` (ending in `IN`) for the rows of `eventIDs`, in chunks that stay under SQLite's
    /// bound-parameter limit. The small lists (an event's auth or prev events) recur, so their
    /// statements are kept.
    private static func forEachRow(_ db: Database, _ sql: String, _ eventIDs: [EventID], _ body: (Row) throws -> Void) throws {
        for start in stride(from: 0, to: eventIDs.count, by: 500) {
            let chunk = eventIDs[start..<min(start + 500, eventIDs.count)]
            let full = sql + " (" + Array(repeating: "?", count: chunk.count).joined(separator: ",") + ")"
            let statement = chunk.count <= 8 ? try db.cachedStatement(sql: full) : try db.makeStatement(sql: full)
            let rows = try Row.fetchCursor(statement, arguments: StatementArguments(chunk.map(\.rawValue)))
            while let row = try rows.next() { try body(row) }
        }
    }

    func eventForTransaction(_ transaction: ClientTransaction) async throws -> EventID? {
        try await storageCall {
            try await pool.read { db in
                try String.fetchOne(db.cachedStatement(sql: "SELECT event_id FROM client_transactions WHERE user_id = ? AND device_id = ? AND txn_id = ?"),
                                    arguments: [transaction.userID.rawValue, transaction.deviceID, transaction.transactionID])
                    .flatMap(EventID.init)
            }
        }
    }

    func recentEvents(in roomID: RoomID, after: StreamPosition, upTo: StreamPosition, limit: Int) async throws -> [StoredEvent] {
        try await storageCall { try await pool.read { db in try Self.recentEvents(db, roomID, after: after, upTo: upTo, limit: limit) } }
    }

    private static func recentEvents(_ db: Database, _ roomID: RoomID, after: StreamPosition, upTo: StreamPosition,
                                     limit: Int) throws -> [StoredEvent] {
        try Row.fetchAll(db.cachedStatement(sql: """
                SELECT \(Self.eventColumns) FROM events e JOIN rooms r USING (room_id)
                WHERE e.room_id = ? AND e.stream > ? AND e.stream <= ? AND e.rejection_reason IS NULL AND e.soft_failed = 0 AND e.outlier = 0
                ORDER BY e.stream DESC LIMIT ?
                """),
            arguments: [roomID.rawValue, after, upTo, limit]
        ).map(Self.storedEvent(from:))
    }

    func eventsAfterOwnLatest(in roomID: RoomID, user: UserID, after: StreamPosition, upTo: StreamPosition,
                              window: Int) async throws -> [StoredEvent] {
        try await storageCall {
            try await pool.read { db in
                // The window's positions and senders first (no JSON), then only the events after
                // the user's own latest one.
                let headers = try Row.fetchCursor(
                    db.cachedStatement(sql: """
                        SELECT stream, sender FROM events
                        WHERE room_id = ? AND stream > ? AND stream <= ? AND rejection_reason IS NULL AND soft_failed = 0 AND outlier = 0
                        ORDER BY stream DESC LIMIT ?
                        """),
                    arguments: [roomID.rawValue, after, upTo, window])
                var cut: StreamPosition? = nil  // stays nil for an empty window: no second query
                while let row = try headers.next() {
                    cut = cut ?? after
                    if (row[1] as String).hasSameUTF8(as: user.rawValue) {
                        cut = row[0]
                        break
                    }
                }
                guard let cut else { return [] }
                return try Self.recentEvents(db, roomID, after: cut, upTo: upTo, limit: window)
            }
        }
    }

    func events(in roomID: RoomID, from position: TopologicalPosition, backwards: Bool, limit: Int) async throws -> [StoredEvent] {
        let comparison = backwards ? "<" : ">"
        let order = backwards ? "DESC" : "ASC"
        return try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: """
                        SELECT \(Self.eventColumns) FROM events e JOIN rooms r USING (room_id)
                        WHERE e.room_id = ? AND (e.depth, e.stream) \(comparison) (?, ?)
                          AND e.rejection_reason IS NULL AND e.soft_failed = 0 AND e.outlier = 0
                        ORDER BY e.depth \(order), e.stream \(order) LIMIT ?
                        """),
                    arguments: [roomID.rawValue, position.depth, position.stream, limit]
                ).map(Self.storedEvent(from:))
            }
        }
    }

    func stateHistory(in roomID: RoomID, key: StateKey) async throws -> [StoredEvent] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: """
                        SELECT \(Self.eventColumns) FROM events e JOIN rooms r USING (room_id)
                        WHERE e.room_id = ? AND e.type = ? AND e.state_key = ? AND e.rejection_reason IS NULL
                        ORDER BY e.stream
                        """),
                    arguments: [roomID.rawValue, key.type, key.stateKey]
                ).map(Self.storedEvent(from:))
            }
        }
    }

    func latestEvent(in roomID: RoomID, atOrBefore position: StreamPosition) async throws -> StoredEvent? {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchOne(db.cachedStatement(sql: """
                        SELECT \(Self.eventColumns) FROM events e JOIN rooms r USING (room_id)
                        WHERE e.room_id = ? AND e.stream <= ? AND e.rejection_reason IS NULL AND e.soft_failed = 0 AND e.outlier = 0
                        ORDER BY e.stream DESC LIMIT 1
                        """),
                    arguments: [roomID.rawValue, position]
                ).map(Self.storedEvent(from:))
            }
        }
    }

    func timelineStateGroups(_ eventIDs: [EventID]) async throws -> [EventID: StateGroupID?] {
        if eventIDs.isEmpty { return [:] }
        return try quick.read { db in
            var result: [EventID: StateGroupID?] = [:]
            try Self.forEachRow(db, "SELECT event_id, state_group_after FROM events WHERE outlier = 0 AND event_id IN", eventIDs) { row in
                if let id = EventID(row["event_id"] as String) { result[id] = row["state_group_after"] as StateGroupID? }
            }
            return result
        }
    }

    func stateGroupAfter(_ eventID: EventID) async throws -> StateGroupID? {
        try await storageCall {
            try await pool.read { db in
                try StateGroupID?.fetchOne(db.cachedStatement(sql: "SELECT state_group_after FROM events WHERE event_id = ?"),
                                           arguments: [eventID.rawValue]) ?? nil
            }
        }
    }

    func topologicalPosition(of eventID: EventID) async throws -> TopologicalPosition? {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT depth, stream FROM events WHERE event_id = ?"), arguments: [eventID.rawValue]).map {
                    TopologicalPosition(depth: $0["depth"], stream: $0["stream"])
                }
            }
        }
    }

    // MARK: Memberships

    /// The columns `membership(from:)` reads, by position (a lookup by name lowercases the name
    /// on every access).
    private static let membershipColumns = "room_id, user_id, membership, event_id, stream, forgotten"

    private static func membership(from row: Row) -> Membership {
        Membership(roomID: RoomID(row[0] as String)!, userID: UserID(row[1] as String)!,
                   membership: row[2], eventID: EventID(row[3] as String)!, stream: row[4], forgotten: row[5])
    }

    func memberships(of userID: UserID) async throws -> [Membership] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT \(Self.membershipColumns) FROM memberships WHERE user_id = ? AND forgotten = 0"), arguments: [userID.rawValue])
                    .map(Self.membership(from:))
            }
        }
    }

    func members(of roomID: RoomID) async throws -> [Membership] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT \(Self.membershipColumns) FROM memberships WHERE room_id = ?"), arguments: [roomID.rawValue])
                    .map(Self.membership(from:))
            }
        }
    }

    func forget(_ roomID: RoomID, userID: UserID) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "UPDATE memberships SET forgotten = 1 WHERE room_id = ? AND user_id = ?",
                               arguments: [roomID.rawValue, userID.rawValue])
            }
        }
    }

    func currentStreamPosition() async throws -> StreamPosition {
        try await storageCall {
            try await pool.read { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT position FROM stream_counter WHERE id = 1")) ?? 0 }
        }
    }

    // MARK: Aliases

    func setAlias(_ alias: RoomAlias, to roomID: RoomID, creator: UserID) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "INSERT INTO room_aliases (alias, room_id, creator) VALUES (?, ?, ?)",
                               arguments: [alias.rawValue, roomID.rawValue, creator.rawValue])
            }
        }
    }

    func roomID(forAlias alias: RoomAlias) async throws -> RoomID? {
        try await storageCall {
            try await pool.read { db in
                try String.fetchOne(db.cachedStatement(sql: "SELECT room_id FROM room_aliases WHERE alias = ?"), arguments: [alias.rawValue]).flatMap(RoomID.init)
            }
        }
    }

    func aliases(of roomID: RoomID) async throws -> [RoomAlias] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db.cachedStatement(sql: "SELECT alias FROM room_aliases WHERE room_id = ? ORDER BY alias"), arguments: [roomID.rawValue])
                    .compactMap(RoomAlias.init)
            }
        }
    }

    func aliasCreator(_ alias: RoomAlias) async throws -> UserID? {
        try await storageCall {
            try await pool.read { db in
                try String.fetchOne(db.cachedStatement(sql: "SELECT creator FROM room_aliases WHERE alias = ?"), arguments: [alias.rawValue]).flatMap(UserID.init)
            }
        }
    }

    func deleteAlias(_ alias: RoomAlias) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM room_aliases WHERE alias = ?", arguments: [alias.rawValue])
            }
        }
    }
}

/// Events already parsed, by event ID, each with the stored JSON it was parsed from. Reading
/// an event parses its JSON into a `PDU`; /sync reads every new event once for each member
/// waiting, and this spares all but the first parse. An entry is used only when the stored
/// JSON is byte for byte the one it was parsed from, in the same room version, so an event whose
/// JSON was rewritten (a redaction, an erasure) is parsed afresh, and sharing the cache between
/// databases (tests run several servers in one process) can never return another server's
/// copy: the PDU is a function of those two inputs.
final class ParsedEvents: Sendable {
    private struct Entry {
        let json: String
        let pdu: PDU
    }

    /// Two generations: a full young one becomes the old one, and the old one is dropped, so
    /// recently used events stay without the bookkeeping of an exact LRU.
    private struct Generations {
        var young: [String: Entry] = [:]
        var old: [String: Entry] = [:]
    }

    private let generations = Mutex(Generations())
    private let generationSize: Int

    init(generationSize: Int = 4_096) {
        self.generationSize = generationSize
    }

    func pdu(id: String, json: String, version: String) -> PDU? {
        // The JSON is compared outside the lock: it is the costly part.
        guard let (entry, young) = generations.withLock({ generations -> (Entry, Bool)? in
                  if let entry = generations.young[id] { return (entry, true) }
                  return generations.old[id].map { ($0, false) }
              }),
              entry.pdu.roomVersion.identifier == version, entry.json.hasSameUTF8(as: json)
        else { return nil }
        if !young { generations.withLock { Self.insert(entry, id, into: &$0, limit: generationSize) } }
        return entry.pdu
    }

    func remember(_ pdu: PDU, json: String) {
        let entry = Entry(json: json, pdu: pdu)
        generations.withLock { Self.insert(entry, pdu.eventID.rawValue, into: &$0, limit: generationSize) }
    }

    private static func insert(_ entry: Entry, _ id: String, into generations: inout Generations, limit: Int) {
        if generations.young.count >= limit {
            generations.old = generations.young
            generations.young = [:]
            generations.young.reserveCapacity(limit)
        }
        generations.young[id] = entry
    }
}
