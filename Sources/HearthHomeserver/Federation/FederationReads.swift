public import HearthCore
public import HearthStorage

/// Answers to other servers' questions about rooms: events, state, history.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#retrieving-events and
/// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events
///
/// A server may read a room it is in (a member of it is joined) or a world-readable room, and
/// only if the room's ACL admits it. Events its users could not see by the room's history
/// visibility are returned redacted, which keeps the room's graph whole without their content.
extension RoomFederation {
    /// Requires that `origin` may read the room.
    public func requireCanRead(_ roomID: RoomID, origin: ServerName) async throws {
        guard try await rooms.exists(roomID), try await rooms.currentState(roomID)[.create] != nil else {
            throw MatrixError.notFound("Unknown room \(roomID)")
        }
        try await requireAllowedByACL(origin, in: roomID)
        if try await serversInRoom(roomID).contains(origin) { return }
        let visibility = try await rooms.currentStateEvent(roomID, StateKey("m.room.history_visibility", ""))?
            .content["history_visibility"]?.stringValue
        guard visibility == "world_readable" else { throw MatrixError.forbidden("\(origin) is not in room \(roomID)") }
    }

    /// The event as `origin` may see it: whole, or redacted when none of its users could see it.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#history-visibility
    func visibleForm(_ event: StoredEvent, to origin: ServerName) async throws -> PDU {
        if event.pdu.sender.server == origin { return event.pdu }
        let state = try await rooms.stateMap(event.stateGroupBefore)
        let visibility = try await rooms.stateEvents(state, keys: [StateKey("m.room.history_visibility", "")])
            .values.first?.content["history_visibility"]?.stringValue ?? "shared"
        if visibility == "world_readable" || visibility == "shared" { return event.pdu }
        let members = state.filter { $0.key.type == "m.room.member" && UserID($0.key.stateKey)?.server == origin }
        let events = try await rooms.pdus(members.values)
        for member in events.values {
            let membership = member.content["membership"]?.stringValue
            if membership == "join" || (visibility == "invited" && membership == "invite") { return event.pdu }
        }
        return event.pdu.redacted()
    }

    /// `GET /_matrix/federation/v1/event/{eventId}`.
    public func event(_ eventID: EventID, origin: ServerName) async throws -> JSONObject {
        guard let stored = try await store.event(eventID) else { throw MatrixError.notFound("Event not found") }
        try await requireCanRead(stored.pdu.roomID, origin: origin)
        let pdu = try await visibleForm(stored, to: origin)
        return ["origin": .string(serverName.rawValue), "origin_server_ts": .int(clock.now()), "pdus": [.object(pdu.federationJSON)]]
    }

    /// `GET /_matrix/federation/v1/state/{roomId}?event_id=` (full events) and `/state_ids`
    /// (IDs only): the state before the event and the auth chain of that state.
    public func state(_ roomID: RoomID, at eventID: EventID, origin: ServerName, idsOnly: Bool) async throws -> JSONObject {
        try await requireCanRead(roomID, origin: origin)
        guard let stored = try await store.event(eventID), stored.pdu.roomID == roomID, !stored.outlier else {
            throw MatrixError.notFound("Event \(eventID) is not known in room \(roomID)")
        }
        let state = try await rooms.stateMap(stored.stateGroupBefore)
        let stateIDs = Array(state.values).sorted()
        let chainIDs = try await store.authChain(of: stateIDs).sorted()
        if idsOnly {
            return ["pdu_ids": JSONValue(stateIDs.map(\.rawValue)), "auth_chain_ids": JSONValue(chainIDs.map(\.rawValue))]
        }
        let events = try await rooms.pdus(stateIDs + chainIDs)
        return [
            "pdus": .array(stateIDs.compactMap { events[$0].map { .object($0.federationJSON) } }),
            "auth_chain": .array(chainIDs.compactMap { events[$0].map { .object($0.federationJSON) } }),
        ]
    }

    /// `GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}`: the event's auth chain.
    public func eventAuth(_ roomID: RoomID, eventID: EventID, origin: ServerName) async throws -> JSONObject {
        try await requireCanRead(roomID, origin: origin)
        guard let stored = try await store.event(eventID), stored.pdu.roomID == roomID else {
            throw MatrixError.notFound("Event \(eventID) is not known in room \(roomID)")
        }
        let chainIDs = try await store.authChain(of: [eventID]).sorted()
        let events = try await rooms.pdus(chainIDs)
        return ["auth_chain": .array(chainIDs.compactMap { events[$0].map { .object($0.federationJSON) } })]
    }

    /// `GET /_matrix/federation/v1/backfill/{roomId}?v=…&limit=…`: the given events and their
    /// predecessors, newest first by depth, at most `limit`.
    public func backfill(_ roomID: RoomID, from: [EventID], limit: Int, origin: ServerName) async throws -> JSONObject {
        try await requireCanRead(roomID, origin: origin)
        let events = try await walkBack(roomID, from: from, including: true, stopAt: [], limit: min(max(limit, 0), limits.maxBackfill),
                                        minDepth: 0)
        var pdus: [JSONValue] = []
        for event in events { pdus.append(.object(try await visibleForm(event, to: origin).federationJSON)) }
        return ["origin": .string(serverName.rawValue), "origin_server_ts": .int(clock.now()), "pdus": .array(pdus)]
    }

    /// `POST /_matrix/federation/v1/get_missing_events/{roomId}`: the prev events of
    /// `latest_events`, backwards, not past `earliest_events` or below `min_depth`.
    public func missingEvents(_ roomID: RoomID, body: JSONObject, origin: ServerName) async throws -> JSONObject {
        try await requireCanRead(roomID, origin: origin)
        func ids(_ key: String) throws -> [EventID] {
            guard let array = body[key]?.arrayValue ?? (key == "earliest_events" ? [] : nil) else {
                throw MatrixError.badJSON("\(key) must be an array of event IDs")
            }
            return array.compactMap { $0.stringValue.flatMap(EventID.init) }
        }
        let limit = Int(body["limit"]?.intValue ?? 10)
        let events = try await walkBack(roomID, from: try ids("latest_events"), including: false, stopAt: Set(try ids("earliest_events")),
                                        limit: min(max(limit, 0), limits.maxBackfill), minDepth: body["min_depth"]?.intValue ?? 0)
        var pdus: [JSONValue] = []
        for event in events.reversed() { pdus.append(.object(try await visibleForm(event, to: origin).federationJSON)) }
        return ["events": .array(pdus)]
    }

    /// Breadth-first along prev_events from `from`, deepest first, skipping outliers and
    /// events in other rooms; `stopAt` events and their ancestors through them are not walked.
    func walkBack(_ roomID: RoomID, from: [EventID], including: Bool, stopAt: Set<EventID>, limit: Int,
                  minDepth: Int64) async throws -> [StoredEvent] {
        var result: [StoredEvent] = []
        var seen = Set(from).union(stopAt)
        var frontier: [StoredEvent] = []
        for (_, event) in try await store.events(from) where event.pdu.roomID == roomID { frontier.append(event) }
        if including { result += frontier.filter { !$0.outlier }.prefix(limit) }
        while result.count < limit, !frontier.isEmpty {
            var next: [EventID] = []
            for event in frontier {
                for prev in event.pdu.prevEvents where seen.insert(prev).inserted { next.append(prev) }
            }
            let loaded = try await store.events(next).values
                .filter { $0.pdu.roomID == roomID && !$0.outlier && $0.pdu.depth >= minDepth }
                .sorted { $0.pdu.depth != $1.pdu.depth ? $0.pdu.depth > $1.pdu.depth : $0.pdu.eventID < $1.pdu.eventID }
            result += loaded.prefix(limit - result.count)
            frontier = loaded
        }
        return result
    }
}
