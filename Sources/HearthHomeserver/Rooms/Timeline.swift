public import HearthCore
public import HearthStorage
import Synchronization

/// A position a client can paginate from: a topological one (`t<depth>_<stream>`, from
/// /messages and prev_batch) or a stream one (`s<stream>_…`, a /sync token).
///
/// A topological token names the gap just before the event at (depth, stream): paginating
/// backwards from it returns the events before that event, forwards returns that event and
/// what follows. So a page's `end` continues exactly where the page stopped, in either direction.
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
            // Users see their own membership changes when they were or become a member or
            // invitee, so a kicked user sees the kick and an invitee the invite.
            let after = event.pdu.content["membership"]?.stringValue
            let sides: [String?] = [membership, after]
            if sides.contains(where: { $0 == "join" || $0 == "invite" }) { return true }
            membership = after
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

    /// An event as a client receives it, with `unsigned` filled in (bundled aggregations too).
    public func clientEvent(_ event: StoredEvent, for requester: Requester?) async throws -> JSONObject {
        try await clientEvent(event, for: requester, bundle: true)
    }

    /// `bundle: false` leaves out aggregations unless they are given in `relations`.
    func clientEvent(_ event: StoredEvent, for requester: Requester?, bundle: Bool, relations: JSONObject? = nil) async throws -> JSONObject {
        var unsigned: JSONObject = ["age": .int(max(0, clock.now() - event.pdu.originServerTS))]
        let relations = bundle ? try await bundledAggregations(for: [event], requester: requester)[event.pdu.eventID] : relations
        if let relations { unsigned["m.relations"] = .object(relations) }
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
        let aggregations = try await bundledAggregations(for: events, requester: requester)
        for event in events {
            out.append(.object(try await clientEvent(event, for: requester, bundle: false, relations: aggregations[event.pdu.eventID])))
        }
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
}
