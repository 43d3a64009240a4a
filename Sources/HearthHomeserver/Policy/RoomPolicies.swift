public import HearthCore
public import HearthStorage
import Logging

/// Room classes on the room layer: what a room's class is, assigning it at creation, changing
/// it later, and the checks a client's action meets before it would cross the boundary.
extension Rooms {
    /// The organization policy in force.
    public var policy: OrganizationPolicy { settings.policy.current }

    /// A room's class: as assigned, or for an unassigned room the policy's default when this
    /// server created it and `open` when another server did (it federated before we joined).
    public func roomPolicy(_ roomID: RoomID) async throws -> RoomPolicy {
        if let record = try await privacy.roomClass(roomID), let roomClass = RoomClass(rawValue: record.roomClass) {
            return RoomPolicy(roomClass: roomClass, partners: record.partners.compactMap(ServerName.init))
        }
        guard let room = try await store.room(roomID), room.creator.server == settings.serverName else {
            return RoomPolicy(roomClass: .open, assigned: false)
        }
        return RoomPolicy(roomClass: policy.rooms.defaultClass, assigned: false)
    }

    /// The class a room being created gets: the one asked for (if the creator may choose it)
    /// or the policy's default for the room type and creator.
    func initialRoomPolicy(requested: RoomClass?, partners: [ServerName], roomType: String?,
                           creatorIsAdmin: Bool) throws -> RoomPolicy {
        let policy = self.policy
        guard let requested else {
            return RoomPolicy(roomClass: policy.rooms.initialClass(roomType: roomType, creatorIsAdmin: creatorIsAdmin), partners: partners)
        }
        if !creatorIsAdmin {
            let verdict = policy.roomAdminMayChoose(requested)
            guard verdict.allowed else { throw verdict.error }
        }
        return RoomPolicy(roomClass: requested, partners: partners)
    }

    func storeRoomPolicy(_ roomID: RoomID, _ roomPolicy: RoomPolicy, setBy: UserID?) async throws {
        try await privacy.setRoomClass(RoomClassRecord(roomID: roomID, roomClass: roomPolicy.roomClass.rawValue,
                                                            partners: roomPolicy.partners.map(\.rawValue), setBy: setBy?.rawValue,
                                                            setAt: clock.now()))
    }

    /// Changes a room's class. Server admins may choose any class; a room admin (who may change
    /// the room's power levels) only those the policy lets room admins choose. A room created
    /// with `m.federate: false` stays local-only. A `partners` room gets an `m.room.server_acl`
    /// that admits only this server and the partners, so the room itself refuses other servers.
    public func changeRoomClass(_ roomID: RoomID, to roomClass: RoomClass, partners: [ServerName], by user: UserID,
                                isServerAdmin: Bool) async throws {
        guard try await exists(roomID) else { throw MatrixError.notFound("Unknown room \(roomID)") }
        if !isServerAdmin {
            let levels = try await powerLevels(roomID)
            guard levels.userLevel(user) >= levels.requiredLevel(forEvent: "m.room.power_levels", isState: true) else {
                throw MatrixError.forbidden("Only room admins and server admins may change a room's class")
            }
            let verdict = policy.roomAdminMayChoose(roomClass)
            guard verdict.allowed else { throw verdict.error }
        }
        if roomClass != .localOnly,
           try await currentStateEvent(roomID, StateKey("m.room.create", ""))?.content["m.federate"]?.boolValue == false {
            throw MatrixError.forbidden("The room was created with m.federate false and stays local-only")
        }
        let updated = RoomPolicy(roomClass: roomClass, partners: partners)
        let previous = try await roomPolicy(roomID)
        // The server ACL changes first: if it cannot be sent, the class stays as it was.
        if roomClass == .partners || (previous.roomClass == .partners && roomClass == .open) {
            let sender = try await aclSender(roomID, preferring: user)
            if roomClass == .partners {
                try await keepPartnerACL(roomID, updated, sender: sender)
            } else {
                try await send(roomID, sender: sender, type: "m.room.server_acl", stateKey: "",
                               content: ["allow": ["*"], "deny": [], "allow_ip_literals": .bool(true)])
            }
        }
        try await storeRoomPolicy(roomID, updated, setBy: user)
    }

    /// After a policy reload: partners rooms that follow the policy's default partners get an
    /// ACL naming the partners now configured. Rooms nobody here may change are logged.
    public func refreshPartnerACLs() async {
        do {
            for record in try await privacy.rooms(ofClass: RoomClass.partners.rawValue) where record.partners.isEmpty {
                guard try await exists(record.roomID),
                      let creator = try await currentStateEvent(record.roomID, StateKey("m.room.create", ""))?.sender else { continue }
                do {
                    let sender = try await aclSender(record.roomID, preferring: creator)
                    try await keepPartnerACL(record.roomID, RoomPolicy(roomClass: .partners), sender: sender)
                } catch {
                    logger.warning("partner ACL not updated", metadata: ["room": "\(record.roomID)", "error": "\(error)"])
                }
            }
        } catch {
            logger.error("partner ACLs not refreshed", metadata: ["error": "\(error)"])
        }
    }

    /// A local member who may change the room's server ACL: `user` if they can, else another.
    private func aclSender(_ roomID: RoomID, preferring user: UserID) async throws -> UserID {
        let levels = try await powerLevels(roomID)
        let needed = levels.requiredLevel(forEvent: "m.room.server_acl", isState: true)
        var candidates = [user]
        for member in try await members(of: roomID) where member.membership == "join" && member.userID.server == settings.serverName {
            candidates.append(member.userID)
        }
        for candidate in candidates where candidate.server == settings.serverName {
            if try await membership(of: candidate, in: roomID) == "join", levels.userLevel(candidate) >= needed { return candidate }
        }
        throw MatrixError.forbidden("No member of this server may change the room's server ACL, which its class needs")
    }

    /// Sends the `m.room.server_acl` a partners room needs, unless the room already has it.
    func keepPartnerACL(_ roomID: RoomID, _ roomPolicy: RoomPolicy, sender: UserID) async throws {
        let partners = roomPolicy.partners.isEmpty ? policy.rooms.partners : roomPolicy.partners
        // ACL entries match host names; ports are not part of the match (spec), so servers
        // that differ only by port cannot be told apart here: the egress gate still can.
        var allow: [String] = []
        for server in [settings.serverName] + partners where !allow.contains(server.hostname) { allow.append(server.hostname) }
        let content: JSONObject = ["allow": JSONValue(allow), "deny": [], "allow_ip_literals": .bool(true)]
        if try await currentStateEvent(roomID, StateKey("m.room.server_acl", ""))?.content == content { return }
        try await send(roomID, sender: sender, type: "m.room.server_acl", stateKey: "", content: content)
    }

    /// Refuses, with the rule's M_FORBIDDEN, an invite of a remote user the policy does not allow.
    func checkRemoteInvite(_ roomID: RoomID, sender: UserID, target: UserID) async throws {
        let policy = self.policy
        let isAdmin = try await accounts.account(sender)?.isAdmin ?? false
        let may = policy.mayInviteRemoteUsers(sender, isAdmin: isAdmin)
        guard may.allowed else { throw may.error }
        let reach = policy.room(try await roomPolicy(roomID), reaches: target.server)
        guard reach.allowed else { throw reach.error }
    }

    /// The servers of `candidates` this server may talk to; M_FORBIDDEN naming the rule when
    /// none is left.
    func permittedServers(_ candidates: [ServerName]) throws -> [ServerName] {
        let policy = self.policy
        var allowed: [ServerName] = []
        var lastRefusal: PolicyVerdict?
        for server in candidates {
            let verdict = policy.federates(with: server)
            if verdict.allowed { allowed.append(server) } else { lastRefusal = verdict }
        }
        if allowed.isEmpty, let lastRefusal { throw lastRefusal.error }
        return allowed
    }

    /// The display name and avatar a local user's member event carries, chosen when the event
    /// is made: in a room that can reach other servers the policy may replace them (a per-room
    /// pseudonym, or nothing), and a verified professional's role is shown after the name.
    /// Signed events are never changed afterwards.
    func prepareMemberProfile(_ content: inout JSONObject, user: UserID, roomID: RoomID) async throws {
        guard user.server == settings.serverName else { return }
        let policy = self.policy
        if policy.federatedProfile != .real, try await roomPolicy(roomID).roomClass != .localOnly {
            content["avatar_url"] = nil
            switch policy.federatedProfile {
            case .real: break
            case .none: content["displayname"] = nil
            case .pseudonym: content["displayname"] = .string(pseudonym(of: user, in: roomID))
            }
        }
        if let role = try await verifiedRole(of: user) {
            let name = content["displayname"]?.stringValue ?? user.localpart
            content["displayname"] = .string("\(name) (\(Self.verifiedMark) \(role.label))")
        }
    }

    /// A stable per-room pseudonym: nobody without this server's key can link it to the user
    /// or to the same user's pseudonym in another room.
    public func pseudonym(of user: UserID, in roomID: RoomID) -> String {
        let digest = signingKey.keyedDigest(label: "pseudonym", Array("\(roomID.rawValue)\n\(user.rawValue)".utf8))
        let words = ["Amber", "Birch", "Cedar", "Dawn", "Ember", "Fern", "Grove", "Harbor", "Iris", "Juniper", "Kestrel", "Linden",
                     "Maple", "Nova", "Orchid", "Pine", "Quill", "River", "Sage", "Thistle", "Umber", "Violet", "Willow", "Yarrow"]
        let number = (Int(digest[1]) << 8 | Int(digest[2])) % 1000
        return "\(words[Int(digest[0]) % words.count]) \(number)"
    }
}

/// What the egress policy needs to know about rooms, users and media to judge an item.
public protocol PolicyFacts: Sendable {
    var policy: OrganizationPolicy { get }
    func roomPolicy(_ roomID: RoomID) async throws -> RoomPolicy
    func roomOfEvent(_ eventID: EventID) async throws -> RoomID?
    /// Whether `user` is joined to a room that a user of `server` is joined to.
    func sharesRoom(_ user: UserID, with server: ServerName) async throws -> Bool
    func roomsMentioningMedia(_ mxcURI: String) async throws -> [RoomID]
}

extension Rooms: PolicyFacts {
    public func roomOfEvent(_ eventID: EventID) async throws -> RoomID? {
        if let pdu = eventCache.get(eventID) { return pdu.roomID }
        return try await store.event(eventID)?.pdu.roomID
    }

    public func sharesRoom(_ user: UserID, with server: ServerName) async throws -> Bool {
        for membership in try await store.memberships(of: user) where membership.membership == "join" {
            if try await store.members(of: membership.roomID).contains(where: { $0.membership == "join" && $0.userID.server == server }) {
                return true
            }
        }
        return false
    }

    public func roomsMentioningMedia(_ mxcURI: String) async throws -> [RoomID] {
        try await privacy.roomsMentioningMedia(mxcURI)
    }
}
