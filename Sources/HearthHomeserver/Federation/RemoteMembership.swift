public import HearthCore
public import HearthStorage
import Logging

/// This server's half of the membership handshakes, for local users and rooms this server is
/// not in: joining (make_join, send_join), knocking, leaving (rejecting an invite or retracting
/// a knock), and inviting remote users (the invitee's server signs the invite).
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#joining-rooms
extension RoomFederation {
    /// Joins `user` to a room this server is not in, through the first of `servers` that
    /// succeeds: make_join, sign, send_join, then the returned state and auth chain are checked
    /// event by event and become the room's state before the join.
    public func joinRemote(_ roomID: RoomID, user: UserID, via servers: [ServerName], content extra: JSONObject) async throws -> EventID {
        try await handshake("join", roomID, user: user, via: servers, extra: extra, versions: RoomVersion.all) { server, version, event in
            let response = try await self.remotes.sendMembership("join", at: server, room: roomID, event: event)
            var join = event
            if let resigned = response["event"]?.objectValue, let candidate = try? PDU(json: resigned, version: version),
               candidate.eventID == event.eventID {
                join = candidate
            }
            try await self.persistJoin(join, response: response, version: version, from: server)
            return join.eventID
        }
    }

    /// Knocks on a room this server is not in; the knock and the room state the resident
    /// server returns are kept for the user's /sync.
    public func knockRemote(_ roomID: RoomID, user: UserID, via servers: [ServerName], content extra: JSONObject) async throws -> EventID {
        try await handshake("knock", roomID, user: user, via: servers, extra: extra,
                            versions: RoomVersion.all.filter(\.auth.allowsKnocking)) { server, version, event in
            let response = try await self.remotes.sendMembership("knock", at: server, room: roomID, event: event)
            let state = response["knock_room_state"]?.arrayValue ?? []
            try await self.recordOutsideRoom(event, version: version, roomState: ("knock_room_state", state))
            return event.eventID
        }
    }

    /// Leaves a room this server is not in (rejects an invite, retracts a knock) through the
    /// servers that know it: make_leave, sign, send_leave.
    public func leaveRemote(_ roomID: RoomID, user: UserID, via servers: [ServerName], content extra: JSONObject) async throws -> EventID {
        try await handshake("leave", roomID, user: user, via: servers, extra: extra, versions: []) { server, version, event in
            _ = try await self.remotes.sendMembership("leave", at: server, room: roomID, event: event)
            try await self.recordOutsideRoom(event, version: version, roomState: nil)
            return event.eventID
        }
    }

    /// make_*, then sign the template, then `complete` (send_* and what follows), trying each
    /// candidate server until one succeeds.
    private func handshake(_ membership: String, _ roomID: RoomID, user: UserID, via servers: [ServerName], extra: JSONObject,
                           versions: [RoomVersion],
                           complete: (ServerName, RoomVersion, PDU) async throws -> EventID) async throws -> EventID {
        var lastError: any Error = MatrixError.notFound("No known servers to \(membership) \(roomID) through")
        for server in Self.candidates(servers, excluding: serverName) {
            do {
                let template = try await remotes.makeMembership(membership, at: server, room: roomID, user: user, versions: versions)
                let (version, event) = try signedTemplate(template, room: roomID, user: user, membership: membership, extra: extra)
                return try await complete(server, version, event)
            } catch {
                logger.info("remote \(membership) attempt failed", metadata: ["room": "\(roomID)", "via": "\(server)", "error": "\(error)"])
                lastError = error
            }
        }
        throw lastError
    }

    /// Invites a remote user: the invitee's server signs the event (/invite v2), then it is
    /// persisted on the room's head like any local event and sent to the room.
    func inviteRemote(_ roomID: RoomID, sender: UserID, target: UserID, content: JSONObject) async throws -> EventID {
        let inviteState = try await inviteRoomState(roomID)
        let (pdu, persisted) = try await rooms.locks.withLock(roomID) { () async throws -> (PDU, PersistedEvent) in
            var head = try await rooms.head(roomID)
            let unsigned = try await rooms.build(in: head, sender: sender, type: "m.room.member", stateKey: target.rawValue,
                                                 content: content)
            let response = try await remotes.invite(at: target.server, event: unsigned, inviteRoomState: inviteState)
            guard let json = response["event"]?.objectValue, let signed = try? PDU(json: json, version: unsigned.roomVersion),
                  signed.eventID == unsigned.eventID, signed.type == "m.room.member", signed.stateKey == target.rawValue,
                  signed.content["membership"]?.stringValue == "invite"
            else { throw MatrixError(.unknown, status: 502, "\(target.server) returned a different invite event") }
            do {
                try await verifySignatures(of: signed)
                guard JSONSigning.ed25519KeyIDs(in: signed.json, by: target.server.rawValue).isEmpty == false else {
                    throw DroppedPDU("the invite carries no signature from \(target.server)")
                }
            } catch {
                throw MatrixError(.unknown, status: 502, "\(target.server) returned an invite that does not verify: \(error)")
            }
            return (signed, try await rooms.persistLocal(signed, head: &head, transaction: nil))
        }
        _ = persisted
        try await rooms.afterPersist(pdu)
        await broadcast(pdu)
        return pdu.eventID
    }

    // MARK: Helpers

    static func candidates(_ servers: [ServerName], excluding own: ServerName) -> [ServerName] {
        var seen = Set<ServerName>()
        return servers.filter { $0 != own && seen.insert($0).inserted }
    }

    /// Checks a make_* template (the spec's "MUST also verify that the type, room_id, sender,
    /// state_key and content.membership fields have the expected values"), completes it and
    /// signs it.
    func signedTemplate(_ response: JSONObject, room: RoomID, user: UserID, membership: String,
                        extra: JSONObject) throws -> (RoomVersion, PDU) {
        let versionText = response["room_version"]?.stringValue ?? "1"
        guard let version = RoomVersion(versionText) else {
            throw MatrixError(.unsupportedRoomVersion, status: 400, "Room version \(versionText) is not supported")
        }
        guard var json = response["event"]?.objectValue else { throw MatrixError(.unknown, status: 502, "No event template") }
        guard json["type"]?.stringValue == "m.room.member", json["sender"]?.stringValue == user.rawValue,
              json["state_key"]?.stringValue == user.rawValue,
              json["content"]?["membership"]?.stringValue == membership,
              json["room_id"]?.stringValue == room.rawValue
        else { throw MatrixError(.unknown, status: 502, "The \(membership) template does not match the request") }
        var content = json["content"]?.objectValue ?? [:]
        for member in extra where member.key != "membership" && member.key != "join_authorised_via_users_server" {
            content[member.key] = member.value
        }
        json["content"] = .object(content)
        json["origin"] = .string(serverName.rawValue)
        json["origin_server_ts"] = .int(clock.now())
        json["signatures"] = nil
        json["hashes"] = nil
        json["unsigned"] = nil
        json["event_id"] = version.eventIDFormat == .serverScoped ? .string("$" + Tokens.random(bytes: 12) + ":" + serverName.rawValue) : nil
        do {
            let signed = try EventHashing.hashAndSign(json, server: serverName, key: signingKey, version: version)
            return (version, try PDU(json: signed, version: version))
        } catch {
            throw MatrixError(.unknown, status: 502, "The \(membership) template cannot be signed: \(error)")
        }
    }

    /// Stores the state and auth chain a send_join returned (each event checked) and the join
    /// on top of that state, as the room's new head.
    func persistJoin(_ join: PDU, response: JSONObject, version: RoomVersion, from server: ServerName) async throws {
        let roomID = join.roomID
        let stateJSON = response["state"]?.arrayValue?.compactMap(\.objectValue) ?? []
        let chainJSON = response["auth_chain"]?.arrayValue?.compactMap(\.objectValue) ?? []
        let createJSON = (stateJSON + chainJSON).first { $0["type"]?.stringValue == "m.room.create" && $0["state_key"]?.stringValue == "" }
        guard let createJSON, let create = try? PDU(json: createJSON, version: version), create.roomID == roomID else {
            throw MatrixError(.unknown, status: 502, "The send_join response has no create event for \(roomID)")
        }
        if try await store.room(roomID) == nil {
            try await store.createRoom(RoomRecord(roomID: roomID, version: version, creator: create.sender, createdAt: clock.now()))
        }
        let fetched = try await storeFetchedEvents(chainJSON + stateJSON, ensuring: [], room: roomID, version: version, from: server)
        var state: [StateKey: EventID] = [:]
        for index in stateJSON.indices {
            guard let id = fetched.idAt[chainJSON.count + index], let accepted = fetched.accepted[id],
                  let key = accepted.stateTuple
            else { continue }
            state[key] = id
        }
        guard state[.create] != nil else { throw MatrixError(.unknown, status: 502, "The room's create event was rejected") }
        let group = try await store.createStateGroup(roomID, state: state, base: nil)
        let checked = try await checkedPDU(join.json, version: version)
        let outcome = try await persistReceived(checked, fetchedStates: [:], knownState: (group, state))
        guard outcome == .accepted || outcome == .alreadyKnown else {
            throw MatrixError.forbidden("The join was not accepted against the room's state: \(outcome)")
        }
    }

    /// Records a knock or leave of a local user in a room this server is not in, for /sync.
    func recordOutsideRoom(_ event: PDU, version: RoomVersion, roomState: (String, [JSONValue])?) async throws {
        let roomID = event.roomID
        if try await store.room(roomID) == nil {
            try await store.createRoom(RoomRecord(roomID: roomID, version: version, creator: event.sender, createdAt: clock.now()))
        }
        var pdu = event
        if let (key, state) = roomState {
            var json = event.json
            json["unsigned"] = [key: .array(state)]
            pdu = (try? PDU(json: json, version: version, storedEventID: event.eventID)) ?? event
        }
        if try await store.event(pdu.eventID) != nil { return }
        _ = try await store.persist(EventToPersist(pdu: pdu, stateGroupBefore: nil, stateChange: nil, newForwardExtremities: nil,
                                                   outlier: true, recordsMembershipOutsideRoom: true))
        notifier.notify(rooms: [roomID.rawValue], users: [pdu.stateKey ?? ""])
    }
}
