public import HearthCore
public import HearthStorage
import Logging

/// The resident server's half of the membership handshakes: templates for make_join,
/// make_leave and make_knock, accepting send_join, send_leave and send_knock, and signing the
/// invites other servers send this server's users.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#joining-rooms
extension RoomFederation {
    /// `GET /make_join|make_leave|make_knock/{roomId}/{userId}`: an unsigned template of the
    /// membership event, built on the room's head, for the requesting server to sign.
    /// `versions` are the `ver` parameters (none means version 1 only); make_leave has none.
    public func makeMembership(_ membership: String, roomID: RoomID, user: UserID, versions: [String]?,
                               origin: ServerName) async throws -> JSONObject {
        guard user.server == origin else { throw MatrixError.forbidden("\(user) does not belong to \(origin)") }
        guard try await isResident(roomID) else { throw MatrixError.notFound("This server is not in room \(roomID)") }
        try await requireAllowedByACL(origin, in: roomID)
        // A remote user or server a subscribed policy list bans does not get a join template.
        try await rooms.checkPolicyLists(roomID: roomID, sender: user, target: user, membership: membership)
        let head = try await rooms.head(roomID)
        let version = head.record.version
        if let versions {
            let supported = versions.isEmpty ? ["1"] : versions
            guard supported.contains(version.identifier) else {
                throw MatrixError(.incompatibleRoomVersion, status: 400, "Room version \(version) is not among \(supported)",
                                  extra: ["room_version": .string(version.identifier)])
            }
        }
        if membership == "knock", !version.auth.allowsKnocking {
            throw MatrixError(.incompatibleRoomVersion, status: 400, "Room version \(version) does not allow knocking",
                              extra: ["room_version": .string(version.identifier)])
        }
        var content: JSONObject = ["membership": .string(membership)]
        if membership == "join", let via = try await restrictedJoinAuthoriser(roomID, user: user, head: head) {
            content["join_authorised_via_users_server"] = .string(via.rawValue)
        }
        let (builder, authState) = try await rooms.builder(in: head, sender: user, type: "m.room.member",
                                                           stateKey: user.rawValue, content: content)
        // The would-be event must pass the auth rules against the current state now.
        let probe = try rooms.buildSigned(builder)
        do {
            try EventAuthorization.authorize(probe, state: authState)
        } catch {
            throw MatrixError.forbidden("\(user) may not \(membership) \(roomID): \(error.reason)")
        }
        return ["room_version": .string(version.identifier), "event": .object(builder.unsignedJSON())]
    }

    /// For a restricted room (v8+), the local member who vouches for `user`'s join
    /// (`join_authorised_via_users_server`), or nil when none is needed (the user is invited or
    /// joined, or the room is not restricted).
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#restricted-rooms
    func restrictedJoinAuthoriser(_ roomID: RoomID, user: UserID, head: Rooms.RoomHead) async throws -> UserID? {
        let version = head.record.version
        guard version.auth.allowsRestrictedJoins,
              let rules = try await rooms.stateEvents(head.state, keys: [.joinRules])[.joinRules]?.content,
              let rule = rules["join_rule"]?.stringValue,
              rule == "restricted" || (rule == "knock_restricted" && version.auth.allowsKnockRestrictedJoins)
        else { return nil }
        let current = try await rooms.membership(of: user, in: roomID)
        if current == "join" || current == "invite" { return nil }
        var knowsAny = false
        var satisfied = false
        for condition in rules["allow"]?.arrayValue ?? [] {
            guard condition["type"]?.stringValue == "m.room_membership",
                  let other = condition["room_id"]?.stringValue.flatMap(RoomID.init),
                  try await isResident(other)
            else { continue }
            knowsAny = true
            if try await rooms.membership(of: user, in: other) == "join" { satisfied = true; break }
        }
        guard satisfied else {
            if !knowsAny { throw MatrixError(.unableToAuthoriseJoin, status: 400, "None of the room's join conditions can be checked here") }
            throw MatrixError.forbidden("\(user) meets none of the room's join conditions")
        }
        let levels = try await rooms.powerLevels(roomID)
        for member in try await store.members(of: roomID).sorted(by: { $0.userID < $1.userID })
        where isLocal(member.userID) && member.membership == "join" && levels.userLevel(member.userID) >= .finite(levels.invite) {
            return member.userID
        }
        throw MatrixError(.unableToGrantJoin, status: 400, "No member of this server can authorise the join")
    }

    /// `PUT /send_join|send_leave|send_knock/{roomId}/{eventId}`: checks the signed membership
    /// event like any PDU, persists it and passes it on to the other servers in the room.
    /// Returns the event as accepted (with this server's signature for a restricted join).
    func acceptMembership(_ membership: String, roomID: RoomID, eventID: EventID, json: JSONObject,
                          origin: ServerName) async throws -> PDU {
        guard try await isResident(roomID) else { throw MatrixError.notFound("This server is not in room \(roomID)") }
        try await requireAllowedByACL(origin, in: roomID)
        let version = try await rooms.version(of: roomID)
        var pdu: PDU
        do { pdu = try PDU(json: json, version: version) } catch { throw MatrixError.badJSON("Invalid event: \(error.reason)") }
        guard pdu.eventID == eventID, pdu.roomID == roomID else {
            throw MatrixError.invalidParam("The event's ID or room does not match the request")
        }
        guard pdu.type == "m.room.member", pdu.content["membership"]?.stringValue == membership,
              pdu.stateKey == pdu.sender.rawValue, pdu.sender.server == origin
        else { throw MatrixError.invalidParam("Not a \(membership) of a user of \(origin) by that user") }
        if membership == "join", let via = pdu.content["join_authorised_via_users_server"]?.stringValue.flatMap(UserID.init),
           isLocal(via) {
            pdu = try addOwnSignature(pdu)
        }
        do {
            pdu = try await checkedPDU(pdu.json, version: version)
            try await fetchMissingAuthEvents(of: pdu, from: origin)
        } catch let error as DroppedPDU {
            throw MatrixError.invalidParam("Event refused: \(error.description)")
        }
        let outcome: PDUOutcome
        do {
            outcome = try await persistReceived(pdu, fetchedStates: try await statesAtUnknownPrevEvents(of: pdu, from: origin))
        } catch let error as DroppedPDU {
            throw MatrixError.invalidParam("Event refused: \(error.description)")
        }
        switch outcome {
        case .accepted, .alreadyKnown: break
        case .rejected(let why), .softFailed(let why), .dropped(let why): throw MatrixError.forbidden("Event not accepted: \(why)")
        }
        await broadcast(pdu, except: [origin])
        return pdu
    }

    /// `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}`: the state before the join and
    /// its auth chain. Membership events are never omitted (`omit_members` is allowed to be
    /// ignored), so `members_omitted` is false.
    public func sendJoin(roomID: RoomID, eventID: EventID, json: JSONObject, origin: ServerName) async throws -> JSONObject {
        let pdu = try await acceptMembership("join", roomID: roomID, eventID: eventID, json: json, origin: origin)
        guard let stored = try await store.event(pdu.eventID) else { throw MatrixError.unknown("The join was not stored") }
        let state = try await rooms.stateMap(stored.stateGroupBefore)
        let stateEvents = try await rooms.pdus(state.values)
        let chainIDs = try await store.authChain(of: Array(state.values) + [pdu.eventID])
        let chain = try await rooms.pdus(chainIDs)
        var servers = try await serversInRoom(roomID)
        servers.remove(origin)
        return [
            "origin": .string(serverName.rawValue),
            "state": .array(state.values.sorted().compactMap { stateEvents[$0].map { .object($0.federationJSON) } }),
            "auth_chain": .array(chainIDs.sorted().compactMap { chain[$0].map { .object($0.federationJSON) } }),
            "event": .object(pdu.federationJSON),
            "members_omitted": false,
            "servers_in_room": JSONValue(servers.map(\.rawValue).sorted()),
        ]
    }

    /// `PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}`.
    public func sendLeave(roomID: RoomID, eventID: EventID, json: JSONObject, origin: ServerName) async throws -> JSONObject {
        _ = try await acceptMembership("leave", roomID: roomID, eventID: eventID, json: json, origin: origin)
        return [:]
    }

    /// `PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}`: the room state a knocker sees.
    public func sendKnock(roomID: RoomID, eventID: EventID, json: JSONObject, origin: ServerName) async throws -> JSONObject {
        _ = try await acceptMembership("knock", roomID: roomID, eventID: eventID, json: json, origin: origin)
        return ["knock_room_state": .array(try await inviteRoomState(roomID))]
    }

    /// The events an invitee or knocker gets to identify the room (`invite_room_state`,
    /// `knock_room_state`): the create event and the state that names and describes the room,
    /// as PDUs of the room's version.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#stripped-state
    func inviteRoomState(_ roomID: RoomID) async throws -> [JSONValue] {
        let keys = ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias",
                    "m.room.encryption", "m.room.topic"].map { StateKey($0, "") }
        let state = try await rooms.currentState(roomID)
        let ids = keys.compactMap { state[$0] }
        let events = try await rooms.pdus(ids)
        return ids.compactMap { events[$0].map { .object($0.federationJSON) } }
    }

    /// The event with this server's signature added (on its redacted form, as for any event).
    func addOwnSignature(_ pdu: PDU) throws -> PDU {
        let signed: JSONObject
        do {
            signed = try JSONSigning.sign(Redaction.redact(pdu.json, version: pdu.roomVersion), as: serverName.rawValue,
                                          with: signingKey)
        } catch {
            throw MatrixError.badJSON("The event cannot be signed: \(error)")
        }
        var json = pdu.json
        json["signatures"] = signed["signatures"]
        do { return try PDU(json: json, version: pdu.roomVersion) } catch { throw MatrixError.badJSON("\(error)") }
    }
}
