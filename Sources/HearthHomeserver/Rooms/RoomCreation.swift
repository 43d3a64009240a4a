public import HearthCore
public import HearthStorage
import Logging

extension Rooms {
    /// The power levels Hearth gives a new room before `power_level_content_override`.
    static func defaultPowerLevels(creator: UserID, version: RoomVersion, extraAdmins: [UserID]) -> JSONObject {
        var users = JSONObject()
        // v12 creators have infinite power and must not be listed.
        if !version.auth.creatorsHaveInfinitePower { users[creator.rawValue] = 100 }
        for admin in extraAdmins { users[admin.rawValue] = 100 }
        return [
            "users": .object(users),
            "users_default": 0,
            "events": [
                "m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
                "m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100,
                "m.room.server_acl": 100, "m.room.encryption": 100, "m.room.topic": 50,
            ],
            "events_default": 0,
            "state_default": 50,
            "ban": 50,
            "kick": 50,
            "redact": 50,
            "invite": 0,
            "historical": 100,
        ]
    }

    /// `POST /createRoom`, following the order of events the spec prescribes.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3createroom
    public func createRoom(_ body: JSONObject, by creator: UserID, creatorProfile: (String?, String?)) async throws -> RoomID {
        let version: RoomVersion
        if let requested = body["room_version"] {
            guard let text = requested.stringValue else { throw MatrixError.badJSON("room_version must be a string") }
            guard let known = RoomVersion(text) else {
                throw MatrixError(.unsupportedRoomVersion, status: 400, "Room version \(text) is not supported")
            }
            version = known
        } else {
            version = settings.defaultRoomVersion
        }
        let visibility = body["visibility"]?.stringValue ?? "private"
        guard visibility == "public" || visibility == "private" else { throw MatrixError.badJSON("visibility must be public or private") }
        let preset = body["preset"]?.stringValue ?? (visibility == "public" ? "public_chat" : "private_chat")
        guard ["public_chat", "private_chat", "trusted_private_chat"].contains(preset) else {
            throw MatrixError.badJSON("Unknown preset \(preset)")
        }
        if let content = body["creation_content"], content.objectValue == nil { throw MatrixError.badJSON("creation_content must be an object") }
        if let override = body["power_level_content_override"], override.objectValue == nil {
            throw MatrixError.badJSON("power_level_content_override must be an object")
        }
        let isDirect = body["is_direct"]?.boolValue ?? false
        var invitees: [UserID] = []
        if let list = body["invite"], list.arrayValue == nil { throw MatrixError.badJSON("invite must be a list of user IDs") }
        for value in body["invite"]?.arrayValue ?? [] {
            guard let text = value.stringValue, let user = UserID(text) else { throw MatrixError.badJSON("invalid user ID in invite") }
            invitees.append(user)
        }
        // Invitees' profiles go into their invite events; unknown local users are an error
        // before anything is created.
        var inviteeProfiles: [UserID: Account] = [:]
        for invitee in invitees where invitee.server == settings.serverName {
            try await ensureServiceAccount(invitee)
            guard let account = try await accounts.account(invitee), !account.isDeactivated else {
                throw MatrixError.notFound("Unknown user \(invitee)")
            }
            inviteeProfiles[invitee] = account
        }
        for key in ["name", "topic", "room_alias_name"] {
            if let value = body[key], value.stringValue == nil { throw MatrixError.badJSON("\(key) must be a string") }
        }
        if let list = body["initial_state"], list.arrayValue == nil { throw MatrixError.badJSON("initial_state must be a list") }
        var initialState: [(type: String, stateKey: String, content: JSONObject)] = []
        for value in body["initial_state"]?.arrayValue ?? [] {
            guard let type = value["type"]?.stringValue, let content = value["content"]?.objectValue else {
                throw MatrixError.badJSON("initial_state entries need type and content")
            }
            initialState.append((type, value["state_key"]?.stringValue ?? "", content))
        }
        var alias: RoomAlias? = nil
        if let name = body["room_alias_name"]?.stringValue {
            guard !name.contains(":"), let candidate = RoomAlias("#\(name):\(settings.serverName.rawValue)") else {
                throw MatrixError.invalidParam("Invalid room_alias_name")
            }
            if try await store.roomID(forAlias: candidate) != nil {
                throw MatrixError(.roomInUse, status: 400, "Room alias already taken")
            }
            alias = candidate
        }

        // The room's class under the organization policy (Hearth's createRoom extension:
        // `org.hearth.room_class` and `org.hearth.partners`, Spec/policy.md).
        var createContent = body["creation_content"]?.objectValue ?? [:]
        var requestedClass: RoomClass? = nil
        if let value = body["org.hearth.room_class"] {
            guard let text = value.stringValue, let known = RoomClass(rawValue: text) else {
                throw MatrixError.badJSON("org.hearth.room_class must be local_only, partners or open")
            }
            requestedClass = known
        }
        var partners: [ServerName] = []
        if let list = body["org.hearth.partners"] {
            guard let entries = list.arrayValue else { throw MatrixError.badJSON("org.hearth.partners must be a list of server names") }
            for entry in entries {
                guard let name = entry.stringValue.flatMap(ServerName.init) else {
                    throw MatrixError.badJSON("org.hearth.partners must be a list of server names")
                }
                partners.append(name)
            }
        }
        let creatorIsAdmin = try await accounts.account(creator)?.isAdmin ?? false
        let roomPolicy = try initialRoomPolicy(requested: requestedClass, partners: partners,
                                               roomType: createContent["type"]?.stringValue, creatorIsAdmin: creatorIsAdmin)
        // A local-only room says so in its create event too, so that spec-following servers
        // refuse to join it whatever happens to this server's configuration.
        if roomPolicy.roomClass == .localOnly, createContent["m.federate"] == nil { createContent["m.federate"] = false }
        for invitee in invitees { try await checkPolicyLists(user: invitee) }
        for invitee in invitees where invitee.server != settings.serverName {
            let may = policy.mayInviteRemoteUsers(creator, isAdmin: creatorIsAdmin)
            guard may.allowed else { throw may.error }
            let reach = policy.room(roomPolicy, reaches: invitee.server)
            guard reach.allowed else { throw reach.error }
        }

        // 1. The create event, which for v12 also fixes the room ID.
        createContent["room_version"] = .string(version.identifier)
        // trusted_private_chat: where rooms have additional creators (v12), the invitees become
        // creators rather than users listed at power 100.
        let invitedCreators = preset == "trusted_private_chat" && version.auth.hasAdditionalCreators
            ? invitees.filter { $0 != creator } : []
        if !invitedCreators.isEmpty {
            var creators = createContent["additional_creators"]?.arrayValue ?? []
            for user in invitedCreators where !creators.contains(.string(user.rawValue)) { creators.append(.string(user.rawValue)) }
            createContent["additional_creators"] = .array(creators)
        }
        if version.auth.createEventHasCreator { createContent["creator"] = .string(creator.rawValue) }
        let roomID: RoomID
        let create: PDU
        let now = clock.now()
        if version.roomIDFormat == .createEventHash {
            create = try buildSigned(EventBuilder(
                roomVersion: version, roomID: nil, type: "m.room.create", stateKey: "", sender: creator,
                content: createContent, prevEvents: [], authEvents: [], depth: 1, originServerTS: now))
            roomID = create.roomID
        } else {
            roomID = RoomID("!\(Tokens.letters(18)):\(settings.serverName.rawValue)")!
            create = try buildSigned(EventBuilder(
                roomVersion: version, roomID: roomID, type: "m.room.create", stateKey: "", sender: creator,
                content: createContent, prevEvents: [], authEvents: [], depth: 1, originServerTS: now))
        }
        do {
            try EventAuthorization.authorize(create, state: [:])
        } catch {
            throw MatrixError.badJSON("Invalid creation_content: \(error.reason)")
        }
        try await store.createRoom(RoomRecord(roomID: roomID, version: version, creator: creator, createdAt: now,
                                              isPublic: visibility == "public"))
        try await storeRoomPolicy(roomID, roomPolicy, setBy: requestedClass == nil ? nil : creator)
        try await locks.withLock(roomID) {
            var head = RoomHead(record: try await store.room(roomID)!, state: [:], maxDepth: 0)
            _ = try await persistLocal(create, head: &head, transaction: nil)
            func add(_ type: String, _ stateKey: String, _ content: JSONObject) async throws {
                let pdu = try await build(in: head, sender: creator, type: type, stateKey: stateKey, content: content)
                _ = try await persistLocal(pdu, head: &head, transaction: nil)
            }
            // 2. The creator joins.
            var member: JSONObject = ["membership": "join"]
            if let name = creatorProfile.0 { member["displayname"] = .string(name) }
            if let avatar = creatorProfile.1 { member["avatar_url"] = .string(avatar) }
            try await prepareMemberProfile(&member, user: creator, roomID: roomID)
            try await add("m.room.member", creator.rawValue, member)
            // 3. Power levels, with the client's override applied on top.
            var powerLevels = Self.defaultPowerLevels(creator: creator, version: version,
                                                      extraAdmins: preset == "trusted_private_chat" && invitedCreators.isEmpty
                                                          ? invitees : [])
            for member in body["power_level_content_override"]?.objectValue ?? [:] {
                powerLevels[member.key] = member.value
            }
            try await add("m.room.power_levels", "", powerLevels)
            // 4. The canonical alias.
            if let alias { try await add("m.room.canonical_alias", "", ["alias": .string(alias.rawValue)]) }
            // 5. What the preset implies, unless initial_state sets it.
            let presetState: [(String, JSONObject)] = [
                ("m.room.join_rules", ["join_rule": .string(preset == "public_chat" ? "public" : "invite")]),
                ("m.room.history_visibility", ["history_visibility": "shared"]),
                ("m.room.guest_access", ["guest_access": .string(preset == "public_chat" ? "forbidden" : "can_join")]),
            ]
            for (type, content) in presetState where !initialState.contains(where: { $0.type == type && $0.stateKey.isEmpty }) {
                if type == "m.room.guest_access", preset == "public_chat" { continue }
                try await add(type, "", content)
            }
            // 6. The client's initial state.
            for entry in initialState { try await add(entry.type, entry.stateKey, entry.content) }
            // 7. Name and topic.
            if let name = body["name"]?.stringValue { try await add("m.room.name", "", ["name": .string(name)]) }
            if let topic = body["topic"]?.stringValue {
                try await add("m.room.topic", "", [
                    "topic": .string(topic),
                    "m.topic": ["m.text": [["body": .string(topic), "mimetype": "text/plain"]]],
                ])
            }
            // 8. Invites of local users (remote ones follow, countersigned by their servers).
            for invitee in invitees where invitee != creator && invitee.server == settings.serverName {
                var content: JSONObject = ["membership": "invite"]
                if isDirect { content["is_direct"] = true }
                if let name = inviteeProfiles[invitee]?.displayName { content["displayname"] = .string(name) }
                if let avatar = inviteeProfiles[invitee]?.avatarURL { content["avatar_url"] = .string(avatar) }
                try await prepareMemberProfile(&content, user: invitee, roomID: roomID)
                try await add("m.room.member", invitee.rawValue, content)
            }
        }
        if roomPolicy.roomClass == .partners { try await keepPartnerACL(roomID, roomPolicy, sender: creator) }
        // A remote invitee's server must see and sign the invite (/invite): an invite event added
        // here alone would never reach it.
        for invitee in invitees where invitee.server != settings.serverName {
            do {
                try await setMembership(roomID, sender: creator, target: invitee, membership: "invite",
                                        extra: isDirect ? ["is_direct": true] : [:])
            } catch {
                logger.warning("invite of a remote user at room creation failed",
                               metadata: ["room": "\(roomID)", "invitee": "\(invitee)", "error": "\(error)"])
            }
        }
        // The creator set the room's agreement, and so has accepted that version.
        if let version = initialState.last(where: { $0.type == Self.agreementType && $0.stateKey.isEmpty })?.content["version"]?.stringValue {
            try await privacy.recordAgreementAcceptance(AgreementAcceptance(roomID: roomID, userID: creator, version: version,
                                                                                 acceptedAt: clock.now()))
        }
        if let alias { try await store.setAlias(alias, to: roomID, creator: creator) }
        notifier.notify(rooms: [roomID.rawValue], users: [creator.rawValue] + invitees.map(\.rawValue))
        return roomID
    }
}
