public import HearthCore
public import HearthStorage
import Synchronization

/// A position a client can paginate from: a topological one (`t<depth>_<stream>`, from
/// /messages and prev_batch) or a stream one (`s<stream>_…`, a /sync token).
public enum PaginationToken: Sendable, Equatable {
    case topological(TopologicalPosition)
    case stream(StreamPosition)

    public init?(_ text: String) {
        if text.hasPrefix("t") {
            let parts = text.dropFirst().split(separator: "_")
            guard parts.count == 2, let depth = Int64(parts[0]), let stream = Int64(parts[1]) else { return nil }
            self = .topological(TopologicalPosition(depth: depth, stream: stream))
        } else if let sync = SyncToken(text) {
            self = .stream(sync.stream)
        } else {
            return nil
        }
    }

    public var text: String {
        switch self {
        case .topological(let p): return "t\(p.depth)_\(p.stream)"
        case .stream(let s): return SyncToken(stream: s, typing: 0).text
        }
    }
}

/// A /sync `since`/`next_batch` token: the server-wide stream position plus the typing serial
/// (typing notifications are not persisted and have their own counter).
public struct SyncToken: Sendable, Equatable {
    public var stream: StreamPosition
    public var typing: Int64

    public init(stream: StreamPosition, typing: Int64) {
        self.stream = stream
        self.typing = typing
    }

    public init?(_ text: String) {
        guard text.hasPrefix("s") else { return nil }
        let parts = text.dropFirst().split(separator: "_")
        guard parts.count == 2, let stream = Int64(parts[0]), let typing = Int64(parts[1]), stream >= 0, typing >= 0 else {
            return nil
        }
        self.stream = stream
        self.typing = typing
    }

    public var text: String { "s\(stream)_\(typing)" }
}

extension Rooms {
    // MARK: History visibility

    /// Whether `user` may see `event`, by the room's history visibility and the user's
    /// membership at the event.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#history-visibility
    func isVisible(_ event: StoredEvent, to user: UserID, currentMembership: String?, joinStreams: [StreamPosition]) async throws -> Bool {
        if event.pdu.sender == user { return true }
        let state = try await stateMap(event.stateGroupBefore)
        let visibilityEvent = try await stateEvents(state, keys: [StateKey("m.room.history_visibility", ""), .member(user)])
        let visibility = visibilityEvent[StateKey("m.room.history_visibility", "")]?.content["history_visibility"]?.stringValue ?? "shared"
        if visibility == "world_readable" { return true }
        var membership = visibilityEvent[.member(user)]?.content["membership"]?.stringValue
        if event.pdu.type == "m.room.member", event.pdu.stateKey == user.rawValue {
            membership = event.pdu.content["membership"]?.stringValue
        }
        if membership == "join" { return true }
        if visibility == "shared" {
            if currentMembership == "join" { return true }
            if joinStreams.contains(where: { $0 >= event.stream }) { return true }
        }
        if visibility == "invited", membership == "invite" { return true }
        return false
    }

    func stateMap(_ group: StateGroupID?) async throws -> [StateKey: EventID] {
        guard let group else { return [:] }
        return try await store.state(group)
    }

    /// Filters events down to those `user` may see.
    public func visible(_ events: [StoredEvent], to user: UserID, in roomID: RoomID) async throws -> [StoredEvent] {
        if events.isEmpty { return [] }
        let current = try await membership(of: user, in: roomID)
        let joins = try await store.stateHistory(in: roomID, key: .member(user))
            .filter { $0.pdu.content["membership"]?.stringValue == "join" }.map(\.stream)
        var result: [StoredEvent] = []
        for event in events where try await isVisible(event, to: user, currentMembership: current, joinStreams: joins) {
            result.append(event)
        }
        return result
    }

    /// Requires that `user` is or was in the room (or that it is world-readable).
    func requireCanRead(_ user: UserID, _ roomID: RoomID) async throws -> String? {
        guard try await exists(roomID) else { throw MatrixError.forbidden("User \(user) not in room \(roomID)") }
        let membership = try await membership(of: user, in: roomID)
        if membership == "join" || membership == "leave" || membership == "ban" || membership == "invite" { return membership }
        let visibility = try await currentStateEvent(roomID, StateKey("m.room.history_visibility", ""))?
            .content["history_visibility"]?.stringValue
        if visibility == "world_readable" { return membership }
        throw MatrixError.forbidden("User \(user) not in room \(roomID)")
    }

    // MARK: Client format

    /// An event as a client receives it, with `unsigned` filled in.
    public func clientEvent(_ event: StoredEvent, for requester: Requester?) async throws -> JSONObject {
        var unsigned: JSONObject = ["age": .int(max(0, clock.now() - event.pdu.originServerTS))]
        if let requester, event.pdu.sender == requester.userID, event.senderDeviceID == requester.deviceID,
           let txn = event.transactionID {
            unsigned["transaction_id"] = .string(txn)
        }
        if let redactedBy = event.redactedBy, let redaction = try await store.event(redactedBy) {
            var because = redaction.pdu.clientEvent()
            if let target = redaction.pdu.redacts { because["redacts"] = .string(target.rawValue) }
            unsigned["redacted_because"] = .object(because)
        }
        if let key = event.pdu.stateTuple, let before = event.stateGroupBefore,
           let previousID = try await store.state(before)[key], let previous = try await pdus([previousID])[previousID] {
            unsigned["prev_content"] = .object(previous.content)
            unsigned["replaces_state"] = .string(previousID.rawValue)
            unsigned["prev_sender"] = .string(previous.sender.rawValue)
        }
        var json = event.pdu.clientEvent(unsigned: unsigned)
        if event.pdu.type == "m.room.redaction", let target = event.pdu.redacts {
            // Clients read `redacts` at the top level in every room version; v11+ also in content.
            json["redacts"] = .string(target.rawValue)
            if var content = json["content"]?.objectValue, content["redacts"] == nil {
                content["redacts"] = .string(target.rawValue)
                json["content"] = .object(content)
            }
        }
        return json
    }

    public func clientEvents(_ events: [StoredEvent], for requester: Requester?) async throws -> [JSONValue] {
        var out: [JSONValue] = []
        out.reserveCapacity(events.count)
        for event in events { out.append(.object(try await clientEvent(event, for: requester))) }
        return out
    }

    // MARK: Reading

    /// `GET /rooms/{roomId}/event/{eventId}`.
    public func event(_ eventID: EventID, in roomID: RoomID, for requester: Requester) async throws -> JSONObject {
        _ = try await requireCanRead(requester.userID, roomID)
        guard let stored = try await store.event(eventID), stored.pdu.roomID == roomID, stored.isVisible,
              try await !visible([stored], to: requester.userID, in: roomID).isEmpty
        else { throw MatrixError.notFound("Event not found.") }
        return try await clientEvent(stored, for: requester)
    }

    public struct MessagesPage: Sendable {
        public var chunk: [StoredEvent]
        public var start: String
        public var end: String?
        public var state: [StoredEvent]
    }

    /// `GET /rooms/{roomId}/messages`.
    public func messages(_ roomID: RoomID, for user: UserID, from: PaginationToken?, to: PaginationToken?, backwards: Bool,
                         limit: Int, filter: EventFilter) async throws -> MessagesPage {
        _ = try await requireCanRead(user, roomID)
        let limit = max(1, min(limit, 1000))
        var position: TopologicalPosition
        switch from {
        case .topological(let p)?:
            position = p
        case .stream(let s)?:
            if let event = try await store.latestEvent(in: roomID, atOrBefore: s) {
                position = TopologicalPosition(depth: event.pdu.depth, stream: event.stream + (backwards ? 1 : 0))
            } else {
                position = TopologicalPosition(depth: 0, stream: 0)
            }
        case nil:
            position = backwards ? TopologicalPosition(depth: .max, stream: .max) : TopologicalPosition(depth: 0, stream: 0)
        }
        let start = PaginationToken.topological(position).text
        var chunk: [StoredEvent] = []
        var exhausted = false
        // Where this server's history has holes (prev events it lacks): paginating backwards
        // past one asks the room's other servers to fill it first (/backfill).
        let federation = backwards && to == nil ? federation.withLock({ $0 }) : nil
        var gaps: Set<EventID> = federation == nil ? [] : Set(try await store.backwardExtremities(in: roomID))
        var backfills = 0
        // Keep reading until the page is full of events the user may see and the filter allows.
        while chunk.count < limit {
            if exhausted {
                // The start of what this server holds (history before it joined).
                guard let federation, !gaps.isEmpty, backfills < 4, await federation.backfill(roomID, limit: limit) > 0 else { break }
                backfills += 1
                gaps = Set(try await store.backwardExtremities(in: roomID))
                exhausted = false
            }
            var batch = try await store.events(in: roomID, from: position, backwards: backwards, limit: limit * 2)
            if batch.count < limit * 2 { exhausted = true }
            if let federation, backfills < 4,
               let index = batch.firstIndex(where: { !gaps.isDisjoint(with: $0.pdu.prevEvents) }) {
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
            position = TopologicalPosition(depth: last.pdu.depth, stream: last.stream)
            var candidates = batch
            if case .topological(let bound)? = to {
                candidates = candidates.filter {
                    let p = TopologicalPosition(depth: $0.pdu.depth, stream: $0.stream)
                    return backwards ? p > bound : p < bound
                }
                if candidates.count < batch.count { exhausted = true }
            }
            let visibleEvents = try await visible(candidates.filter { filter.allows($0.pdu) }, to: user, in: roomID)
            for event in visibleEvents where chunk.count < limit { chunk.append(event) }
            if chunk.count == limit, let lastTaken = chunk.last {
                position = TopologicalPosition(depth: lastTaken.pdu.depth, stream: lastTaken.stream)
            }
        }
        let end: String? = chunk.isEmpty && exhausted ? nil : PaginationToken.topological(position).text
        var state: [StoredEvent] = []
        if filter.lazyLoadMembers {
            let senders = Set(chunk.map(\.pdu.sender))
            let current = try await head(roomID).state
            let ids = senders.compactMap { current[.member($0)] }
            state = Array(try await store.events(ids).values)
        }
        return MessagesPage(chunk: chunk, start: start, end: exhausted && chunk.count < limit ? nil : end, state: state)
    }

    public struct EventContext: Sendable {
        public var event: StoredEvent
        public var before: [StoredEvent]
        public var after: [StoredEvent]
        public var start: String
        public var end: String
        public var state: [StoredEvent]
    }

    /// `GET /rooms/{roomId}/context/{eventId}`.
    public func context(_ roomID: RoomID, eventID: EventID, for user: UserID, limit: Int, filter: EventFilter) async throws -> EventContext {
        _ = try await requireCanRead(user, roomID)
        guard let event = try await store.event(eventID), event.pdu.roomID == roomID,
              try await !visible([event], to: user, in: roomID).isEmpty
        else { throw MatrixError.notFound("Event not found.") }
        let position = TopologicalPosition(depth: event.pdu.depth, stream: event.stream)
        let half = max(0, min(limit, 100)) / 2
        let beforeCount = half
        let afterCount = max(0, min(limit, 100)) - half
        let before = try await visible(store.events(in: roomID, from: position, backwards: true, limit: beforeCount)
            .filter { filter.allows($0.pdu) }, to: user, in: roomID)
        let after = try await visible(store.events(in: roomID, from: position, backwards: false, limit: afterCount)
            .filter { filter.allows($0.pdu) }, to: user, in: roomID)
        let startPosition = before.last.map { TopologicalPosition(depth: $0.pdu.depth, stream: $0.stream) } ?? position
        let endPosition = after.last.map { TopologicalPosition(depth: $0.pdu.depth, stream: $0.stream) } ?? position
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

    /// Members at a sync token (or now), filtered by membership.
    public func memberEvents(_ roomID: RoomID, for user: UserID, at: PaginationToken?, membership: String?,
                             notMembership: String?) async throws -> [StoredEvent] {
        var state = try await visibleState(roomID, for: user)
        if case .stream(let position)? = at, let event = try await store.latestEvent(in: roomID, atOrBefore: position),
           let group = try await store.stateGroupAfter(event.pdu.eventID) {
            state = try await store.state(group)
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
