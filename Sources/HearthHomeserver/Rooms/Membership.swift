public import HearthCore
import Logging
import Synchronization
public import HearthStorage

extension Rooms {
    /// Sends a membership change, after checks the auth rules cannot make (the target must be
    /// a user this server knows, or a remote user). In a room this server is not in, a local
    /// user's own join, knock or leave goes through a resident server; inviting a remote user
    /// has the invitee's server countersign the invite.
    @discardableResult
    public func setMembership(_ roomID: RoomID, sender: UserID, target: UserID, membership: String, reason: String? = nil,
                              extra: JSONObject = [:], via: [ServerName] = []) async throws -> EventID {
        try await ensureServiceAccount(target)
        if target.server == settings.serverName {
            guard let account = try await accounts.account(target), !account.isDeactivated || membership == "leave" || membership == "ban"
            else { throw MatrixError.notFound("Unknown user \(target)") }
        }
        try await checkPolicyLists(roomID: roomID, sender: sender, target: target, membership: membership)
        var content = extra
        content["membership"] = .string(membership)
        if let reason { content["reason"] = .string(reason) }
        if membership == "join" || (membership == "invite" && target.server == settings.serverName) {
            // The member event carries the profile the room should show.
            if let account = try await accounts.account(target) {
                if content["displayname"] == nil, let name = account.displayName { content["displayname"] = .string(name) }
                if content["avatar_url"] == nil, let avatar = account.avatarURL { content["avatar_url"] = .string(avatar) }
            }
            try await prepareMemberProfile(&content, user: target, roomID: roomID)
        }
        let federation = self.federation.withLock { $0 }
        if let federation, try await !federation.isResident(roomID) {
            guard sender == target, sender.server == settings.serverName else {
                throw MatrixError.forbidden("This server is not in room \(roomID)")
            }
            // Only servers the policy lets this server talk to can help.
            let servers = try permittedServers(via + (try await knownServers(roomID, for: sender)))
            switch membership {
            case "join": return try await federation.joinRemote(roomID, user: sender, via: servers, content: content)
            case "knock": return try await federation.knockRemote(roomID, user: sender, via: servers, content: content)
            case "leave": return try await federation.leaveRemote(roomID, user: sender, via: servers, content: content)
            default: throw MatrixError.forbidden("This server is not in room \(roomID)")
            }
        }
        guard try await exists(roomID) else {
            // Without federation a remote room is simply unknown, but a policy refusal still
            // says which rule would have kept the user out.
            if sender == target, membership == "join" || membership == "knock" {
                _ = try permittedServers(via + (try await knownServers(roomID, for: sender)))
            }
            throw MatrixError.notFound("Unknown room \(roomID)")
        }
        if membership == "invite", target.server != settings.serverName {
            try await checkRemoteInvite(roomID, sender: sender, target: target)
        }
        if membership == "invite", target.server != settings.serverName, let federation {
            return try await federation.inviteRemote(roomID, sender: sender, target: target, content: content)
        }
        return try await send(roomID, sender: sender, type: "m.room.member", stateKey: target.rawValue, content: content)
    }

    public func join(_ roomID: RoomID, user: UserID, reason: String? = nil, via: [ServerName] = []) async throws -> EventID {
        // Joining again is a no-op in the spec's eyes, but a new event is harmless; avoid it.
        if try await exists(roomID), try await membership(of: user, in: roomID) == "join",
           let id = try await head(roomID).state[.member(user)] {
            return id
        }
        return try await setMembership(roomID, sender: user, target: user, membership: "join", reason: reason, via: via)
    }

    /// Servers that may be able to help `user` into or out of a room this server is not in:
    /// the sender of the user's invite or knock, the room ID's server (before room version 12),
    /// and the servers in the last state this server saw.
    func knownServers(_ roomID: RoomID, for user: UserID) async throws -> [ServerName] {
        var servers: [ServerName] = []
        if let membership = try await store.memberships(of: user).first(where: { $0.roomID == roomID }),
           let event = try await store.event(membership.eventID) {
            servers.append(event.pdu.sender.server)
            for entry in event.pdu.json["unsigned"]?["invite_room_state"]?.arrayValue ?? [] {
                if let sender = entry["sender"]?.stringValue.flatMap(UserID.init) { servers.append(sender.server) }
            }
        }
        if let server = roomID.server { servers.append(server) }
        if try await exists(roomID) {
            for member in try await store.members(of: roomID) where member.membership == "join" { servers.append(member.userID.server) }
        }
        return servers
    }

    /// Pushes a new display name or avatar into every room the user is joined to.
    public func propagateProfile(of user: UserID, displayName: String?, avatarURL: String?) async throws {
        for membership in try await store.memberships(of: user) where membership.membership == "join" {
            guard var content = try await currentStateEvent(membership.roomID, .member(user))?.content else { continue }
            content["displayname"] = displayName.map(JSONValue.string)
            content["avatar_url"] = avatarURL.map(JSONValue.string)
            do {
                try await prepareMemberProfile(&content, user: user, roomID: membership.roomID)
                try await send(membership.roomID, sender: user, type: "m.room.member", stateKey: user.rawValue, content: content)
            } catch {
                logger.warning("profile update not sent", metadata: ["room": "\(membership.roomID)", "error": "\(error)"])
            }
        }
    }

    /// Leaves every room (deactivation).
    public func leaveAll(_ user: UserID) async throws {
        for membership in try await store.memberships(of: user) where ["join", "invite", "knock"].contains(membership.membership) {
            _ = try? await setMembership(membership.roomID, sender: user, target: user, membership: "leave")
        }
    }

    public func memberships(of user: UserID) async throws -> [Membership] { try await store.memberships(of: user) }
    public func members(of roomID: RoomID) async throws -> [Membership] { try await store.members(of: roomID) }
    public func forget(_ roomID: RoomID, user: UserID) async throws {
        let current = try await membership(of: user, in: roomID)
        if current == "join" || current == "invite" || current == "knock" {
            throw MatrixError(.unknown, status: 400, "User must leave the room before forgetting it")
        }
        try await store.forget(roomID, userID: user)
    }

    /// Requires that `user` is joined to the room.
    public func requireJoined(_ user: UserID, _ roomID: RoomID) async throws {
        guard try await exists(roomID), try await membership(of: user, in: roomID) == "join" else {
            throw MatrixError.forbidden("User \(user) not in room \(roomID)")
        }
    }

    // MARK: Redaction

    /// A redaction from a client: allowed for one's own events, or with the redact power level.
    public func redact(_ roomID: RoomID, sender: UserID, target: EventID, reason: String?,
                       transaction: ClientTransaction?) async throws -> EventID {
        try await requireJoined(sender, roomID)
        if let stored = try await store.event(target), stored.pdu.roomID == roomID, stored.pdu.sender != sender {
            let levels = try await powerLevels(roomID)
            guard levels.userLevel(sender) >= .finite(levels.redact) else {
                throw MatrixError.forbidden("You don't have permission to redact events")
            }
        }
        var content: JSONObject = [:]
        if let reason { content["reason"] = .string(reason) }
        return try await send(roomID, sender: sender, type: "m.room.redaction", content: content, redacts: target,
                              transaction: transaction)
    }
}
