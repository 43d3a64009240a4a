public import HearthCore
public import HearthStorage
import Logging

extension Rooms {
    /// State copied into the replacement room: the spec's recommended list, plus the canonical
    /// alias (whose aliases move with the room).
    static let upgradedStateTypes = [
        "m.room.server_acl", "m.room.encryption", "m.room.name", "m.room.avatar", "m.room.topic", "m.room.guest_access",
        "m.room.history_visibility", "m.room.join_rules", "m.room.canonical_alias",
    ]

    /// `POST /rooms/{roomId}/upgrade`: a replacement room of another version that points back
    /// at this one, a tombstone here, and this room's power levels tightened so that
    /// conversation moves on.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-behaviour-19
    public func upgrade(_ oldRoom: RoomID, to versionID: String, additionalCreators: [UserID], by user: UserID,
                        profile: (String?, String?)) async throws -> RoomID {
        guard let version = RoomVersion(versionID) else {
            throw MatrixError(.unsupportedRoomVersion, status: 400, "Room version \(versionID) is not supported")
        }
        try await requireJoined(user, oldRoom)
        let levels = try await powerLevels(oldRoom)
        guard levels.userLevel(user) >= levels.requiredLevel(forEvent: "m.room.tombstone", isState: true) else {
            throw MatrixError.forbidden("You don't have permission to upgrade this room")
        }
        if !additionalCreators.isEmpty, !version.auth.hasAdditionalCreators {
            throw MatrixError.badJSON("Room version \(version.identifier) has no additional creators")
        }
        let head = try await head(oldRoom)
        let old = try await stateEvents(head.state, keys: (Self.upgradedStateTypes + ["m.room.create", "m.room.power_levels"])
            .map { StateKey($0, "") })

        // 1. The create event's content: predecessor, the old room's type, chosen creators.
        var predecessor: JSONObject = ["room_id": .string(oldRoom.rawValue)]
        if let last = head.record.forwardExtremities.first { predecessor["event_id"] = .string(last.rawValue) }
        var creation: JSONObject = ["predecessor": .object(predecessor)]
        if let type = old[.create]?.content["type"] { creation["type"] = type }
        if !additionalCreators.isEmpty { creation["additional_creators"] = JSONValue(additionalCreators.map(\.rawValue)) }

        // 2. Power levels as they were; creators of a v12+ room may not be listed, and in
        // older versions the upgrader keeps enough power to set up the room.
        var powerLevels = old[.powerLevels]?.content ?? Self.defaultPowerLevels(creator: user, version: version, extraAdmins: [])
        var users = powerLevels["users"]?.objectValue ?? [:]
        if version.auth.creatorsHaveInfinitePower {
            for creator in [user] + additionalCreators { users[creator.rawValue] = nil }
        } else {
            users[user.rawValue] = .int(max(levels.userLevel(user).finiteValue ?? 100, 100))
        }
        powerLevels["users"] = .object(users)
        if version.auth.creatorsHaveInfinitePower {
            // v12: tombstones need more than state_default.
            var events = powerLevels["events"]?.objectValue ?? [:]
            let stateDefault = powerLevels["state_default"]?.intValue ?? 50
            if (events["m.room.tombstone"]?.intValue ?? stateDefault) <= stateDefault {
                events["m.room.tombstone"] = .int(max(stateDefault + 1, 150))
            }
            powerLevels["events"] = .object(events)
        }

        // 3. The other transferable state.
        var initialState: [JSONValue] = []
        for type in Self.upgradedStateTypes {
            guard let event = old[StateKey(type, "")] else { continue }
            initialState.append(["type": .string(type), "state_key": "", "content": .object(event.content)])
        }
        if old[StateKey("m.room.guest_access", "")] == nil {
            initialState.append(["type": "m.room.guest_access", "state_key": "", "content": ["guest_access": "forbidden"]])
        }
        let newRoom = try await createRoom([
            "room_version": .string(version.identifier), "creation_content": .object(creation),
            "power_level_content_override": .object(powerLevels), "initial_state": .array(initialState),
            "preset": "private_chat",
        ], by: user, creatorProfile: profile)

        // 4. Local aliases and the directory listing move to the new room.
        for alias in try await store.aliases(of: oldRoom) {
            let creator = try await store.aliasCreator(alias) ?? user
            try await store.deleteAlias(alias)
            try await store.setAlias(alias, to: newRoom, creator: creator)
        }
        if old[StateKey("m.room.canonical_alias", "")] != nil {
            try await send(oldRoom, sender: user, type: "m.room.canonical_alias", stateKey: "", content: [:])
        }
        if try await store.room(oldRoom)?.isPublic == true {
            try await store.setPublic(newRoom, true)
            try await store.setPublic(oldRoom, false)
        }

        // 5. The tombstone, then 6. the old room goes quiet.
        try await send(oldRoom, sender: user, type: "m.room.tombstone", stateKey: "", content: [
            "body": "This room has been replaced", "replacement_room": .string(newRoom.rawValue),
        ])
        if var oldLevels = old[.powerLevels]?.content {
            let restricted = max(50, (oldLevels["users_default"]?.intValue ?? 0) + 1)
            oldLevels["events_default"] = .int(max(oldLevels["events_default"]?.intValue ?? 0, restricted))
            oldLevels["invite"] = .int(max(oldLevels["invite"]?.intValue ?? 0, restricted))
            do {
                try await send(oldRoom, sender: user, type: "m.room.power_levels", stateKey: "", content: oldLevels)
            } catch {
                logger.warning("old room's power levels not restricted", metadata: ["room": "\(oldRoom)", "error": "\(error)"])
            }
        }
        return newRoom
    }

    /// The room this one replaced, from its create event.
    public func predecessor(of roomID: RoomID) async throws -> RoomID? {
        guard let create = try await currentStateEvent(roomID, .create),
              let text = create.content["predecessor"]?["room_id"]?.stringValue else { return nil }
        return RoomID(text)
    }
}
