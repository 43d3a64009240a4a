import Synchronization
public import HearthCore
public import HearthStorage

/// Paging through a room: /messages, /context, and the membership list at a point in time.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidmessages
extension Rooms {
    public struct MessagesPage: Sendable {
        public var chunk: [StoredEvent]
        public var start: String
        public var end: String?
        public var state: [StoredEvent]
    }

    static func position(of event: StoredEvent) -> TopologicalPosition {
        TopologicalPosition(depth: event.pdu.depth, stream: event.stream)
    }

    /// The gap just after an event.
    static func position(after event: StoredEvent) -> TopologicalPosition {
        TopologicalPosition(depth: event.pdu.depth, stream: event.stream + 1)
    }

    /// Where a token points in the room's topological order (see `PaginationToken`).
    func gap(_ token: PaginationToken, in roomID: RoomID) async throws -> TopologicalPosition {
        switch token {
        case .topological(let position):
            return position
        case .stream(let stream):
            // A /sync token: just after the newest event the client has been sent.
            guard let event = try await store.latestEvent(in: roomID, atOrBefore: stream) else {
                return TopologicalPosition(depth: 0, stream: 0)
            }
            return Self.position(after: event)
        }
    }

    /// One page of events in topological order from `from` (the room's end or start when nil)
    /// up to `to`: reads on until `limit` events pass `allows` and the user's visibility, and
    /// returns them with the token that continues after the last one (nil at the end).
    func page(_ roomID: RoomID, for user: UserID, from: PaginationToken?, to: PaginationToken?, backwards: Bool, limit: Int,
              allows: (StoredEvent) -> Bool = { _ in true }, backfillGaps: Bool = false,
              read: (TopologicalPosition, Int) async throws -> [StoredEvent]) async throws -> (start: TopologicalPosition,
                                                                                             chunk: [StoredEvent], next: String?) {
        let start: TopologicalPosition = if let from { try await gap(from, in: roomID) } else if backwards {
            TopologicalPosition(depth: .max, stream: .max)
        } else {
            TopologicalPosition(depth: 0, stream: 0)
        }
        let bound = if let to { try await gap(to, in: roomID) } else { TopologicalPosition?.none }
        // The store reads exclusively of its position; forwards, the gap's own event is included.
        var cursor = backwards ? start : TopologicalPosition(depth: start.depth, stream: start.stream - 1)
        var chunk: [StoredEvent] = []
        var exhausted = false
        // Where this server's history has holes (prev events it lacks), paginating backwards past
        // one asks the room's other servers to fill it first (/backfill).
        let federation = backfillGaps && backwards && to == nil ? federation.withLock({ $0 }) : nil
        var gaps: Set<EventID> = federation == nil ? [] : Set(try await store.backwardExtremities(in: roomID))
        var backfills = 0
        while chunk.count < limit {
            if exhausted {
                // The start of what this server holds (history before it joined).
                guard let federation, !gaps.isEmpty, backfills < 4, await federation.backfill(roomID, limit: limit) > 0 else { break }
                backfills += 1
                gaps = Set(try await store.backwardExtremities(in: roomID))
                exhausted = false
            }
            var batch = try await read(cursor, limit * 2)
            if batch.count < limit * 2 { exhausted = true }
            if let federation, backfills < 4, let index = batch.firstIndex(where: { !gaps.isDisjoint(with: $0.pdu.prevEvents) }) {
                // Read up to the event next to the hole, fill it, then go on from there.
                batch = Array(batch.prefix(index + 1))
                let missing = Set(batch[index].pdu.prevEvents).intersection(gaps)
                if await federation.backfill(roomID, limit: limit) > 0 {
                    backfills += 1
                    gaps = Set(try await store.backwardExtremities(in: roomID))
                } else {
                    gaps.subtract(missing)
                }
                exhausted = false
            }
            guard let last = batch.last else { continue }
            cursor = Self.position(of: last)
            var candidates = batch
            if let bound {
                candidates = candidates.filter { backwards ? Self.position(of: $0) >= bound : Self.position(of: $0) < bound }
                if candidates.count < batch.count { exhausted = true }
            }
            for event in try await visible(candidates.filter(allows), to: user, in: roomID) where chunk.count < limit {
                chunk.append(event)
            }
        }
        var next: String? = nil
        if let last = chunk.last, !(exhausted && chunk.count < limit) {
            next = PaginationToken.topological(backwards ? Self.position(of: last) : Self.position(after: last)).text
        }
        return (start, chunk, next)
    }

    /// `GET /rooms/{roomId}/messages`.
    public func messages(_ roomID: RoomID, for user: UserID, from: PaginationToken?, to: PaginationToken?, backwards: Bool,
                         limit: Int, filter: EventFilter) async throws -> MessagesPage {
        _ = try await requireCanRead(user, roomID)
        let (start, chunk, end) = try await page(roomID, for: user, from: from, to: to, backwards: backwards,
                                                 limit: max(1, min(limit, 1000)), allows: { filter.allows($0.pdu) },
                                                 backfillGaps: true) { cursor, count in
            try await store.events(in: roomID, from: cursor, backwards: backwards, limit: count)
        }
        var state: [StoredEvent] = []
        if filter.lazyLoadMembers {
            let senders = Set(chunk.map(\.pdu.sender))
            let current = try await head(roomID).state
            let ids = senders.compactMap { current[.member($0)] }
            state = Array(try await store.events(ids).values)
        }
        return MessagesPage(chunk: chunk, start: PaginationToken.topological(start).text, end: end, state: state)
    }

    public struct EventContext: Sendable {
        public var event: StoredEvent
        public var before: [StoredEvent]
        public var after: [StoredEvent]
        public var start: String
        public var end: String
        public var state: [StoredEvent]
    }

    /// `GET /rooms/{roomId}/context/{eventId}`: `limit` events around one, split evenly.
    public func context(_ roomID: RoomID, eventID: EventID, for user: UserID, limit: Int, filter: EventFilter) async throws -> EventContext {
        _ = try await requireCanRead(user, roomID)
        guard let event = try await store.event(eventID), event.pdu.roomID == roomID,
              try await !visible([event], to: user, in: roomID).isEmpty
        else { throw MatrixError.notFound("Event not found.") }
        let position = Self.position(of: event)
        let total = max(0, min(limit, 100))
        let before = try await visible(store.events(in: roomID, from: position, backwards: true, limit: total / 2)
            .filter { filter.allows($0.pdu) }, to: user, in: roomID)
        let after = try await visible(store.events(in: roomID, from: position, backwards: false, limit: total - total / 2)
            .filter { filter.allows($0.pdu) }, to: user, in: roomID)
        let startPosition = before.last.map(Self.position(of:)) ?? position
        let endPosition = after.last.map(Self.position(after:)) ?? Self.position(after: event)
        var stateIDs = try await stateMap(event.stateGroupBefore)
        if filter.lazyLoadMembers {
            let senders = Set(([event] + before + after).map(\.pdu.sender.rawValue))
            stateIDs = stateIDs.filter { $0.key.type != "m.room.member" || senders.contains($0.key.stateKey) }
        }
        let state = Array(try await store.events(Array(stateIDs.values)).values)
        return EventContext(event: event, before: before, after: after, start: PaginationToken.topological(startPosition).text,
                            end: PaginationToken.topological(endPosition).text, state: state)
    }

    /// The state a user may see: the current state if they are in the room, otherwise the
    /// state when they left.
    public func visibleState(_ roomID: RoomID, for user: UserID) async throws -> [StateKey: EventID] {
        let membership = try await requireCanRead(user, roomID)
        if membership == "join" || membership == nil { return try await head(roomID).state }
        guard let memberEventID = try await head(roomID).state[.member(user)],
              let group = try await store.stateGroupAfter(memberEventID)
        else { return [:] }
        return try await store.state(group)
    }

    /// Members at a point (a sync token or a pagination token; now if nil), filtered by membership.
    public func memberEvents(_ roomID: RoomID, for user: UserID, at: PaginationToken?, membership: String?,
                             notMembership: String?) async throws -> [StoredEvent] {
        var state = try await visibleState(roomID, for: user)
        if let at {
            // The state after the last event before the point (none before the room began).
            let point = try await gap(at, in: roomID)
            if let event = try await store.events(in: roomID, from: point, backwards: true, limit: 1).first,
               let group = try await store.stateGroupAfter(event.pdu.eventID) {
                state = try await store.state(group)
            } else {
                state = [:]
            }
        }
        let ids = state.filter { $0.key.type == "m.room.member" }.map(\.value)
        return try await store.events(ids).values.filter { event in
            let value = event.pdu.content["membership"]?.stringValue
            if let membership, value != membership { return false }
            if let notMembership, value == notMembership { return false }
            return true
        }.sorted { $0.stream < $1.stream }
    }

    public func storedEvents(_ ids: [EventID]) async throws -> [EventID: StoredEvent] { try await store.events(ids) }
}

extension Rooms {
    /// `GET /rooms/{roomId}/timestamp_to_event`: the visible event closest to a time, at or
    /// after it (`forwards`) or at or before it.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidtimestamp_to_event
    public func event(in roomID: RoomID, nearest timestamp: Milliseconds, forwards: Bool, for user: UserID) async throws -> StoredEvent {
        _ = try await requireCanRead(user, roomID)
        let candidates = try await store.events(in: roomID, nearTimestamp: timestamp, forwards: forwards, limit: 50)
        guard let found = try await visible(candidates, to: user, in: roomID).first else {
            throw MatrixError.notFound("Unable to find an event \(forwards ? "after" : "before") \(timestamp)")
        }
        return found
    }
}
