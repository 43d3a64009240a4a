public import HearthCore
public import HearthStorage

extension Rooms {
    /// What the published room directory shows about a room (`PublishedRoomsChunk`).
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3publicrooms
    public func summary(_ roomID: RoomID) async throws -> JSONObject {
        let state = try await currentState(roomID)
        let types = ["m.room.name", "m.room.topic", "m.room.canonical_alias", "m.room.avatar", "m.room.join_rules",
                     "m.room.history_visibility", "m.room.guest_access", "m.room.create"]
        let events = try await stateEvents(state, keys: types.map { StateKey($0, "") })
        func content(_ type: String) -> JSONObject? { events[StateKey(type, "")]?.content }
        let joined = try await members(of: roomID).filter { $0.membership == "join" }.count
        var entry: JSONObject = [
            "room_id": .string(roomID.rawValue),
            "num_joined_members": .int(Int64(joined)),
            "world_readable": .bool(content("m.room.history_visibility")?["history_visibility"]?.stringValue == "world_readable"),
            "guest_can_join": .bool(content("m.room.guest_access")?["guest_access"]?.stringValue == "can_join"),
            "join_rule": .string(content("m.room.join_rules")?["join_rule"]?.stringValue ?? "invite"),
        ]
        if let name = content("m.room.name")?["name"]?.stringValue { entry["name"] = .string(name) }
        if let topic = content("m.room.topic")?["topic"]?.stringValue { entry["topic"] = .string(topic) }
        if let alias = content("m.room.canonical_alias")?["alias"]?.stringValue { entry["canonical_alias"] = .string(alias) }
        if let avatar = content("m.room.avatar")?["url"]?.stringValue { entry["avatar_url"] = .string(avatar) }
        if let type = content("m.room.create")?["type"]?.stringValue { entry["room_type"] = .string(type) }
        return entry
    }

    /// `GET /v1/room_summary/{roomIdOrAlias}`: the summary, for a room the asker may learn
    /// about (a member or invitee, or a room anyone may join, knock on or read). Others get
    /// "not found", which does not reveal that the room exists.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1room_summaryroomidoralias
    public func summary(_ roomID: RoomID, for user: UserID?) async throws -> JSONObject {
        guard try await exists(roomID) else { throw MatrixError.notFound("Room not found") }
        var entry = try await summary(roomID)
        let membership = if let user { try await membership(of: user, in: roomID) } else { String?.none }
        let open = ["public", "knock", "knock_restricted"].contains(entry["join_rule"]?.stringValue ?? "")
        guard open || entry["world_readable"] == true || membership == "join" || membership == "invite" || membership == "knock"
        else { throw MatrixError.notFound("Room not found") }
        entry["room_version"] = .string(try await version(of: roomID).identifier)
        if let encryption = try await currentStateEvent(roomID, StateKey("m.room.encryption", ""))?.content["algorithm"] {
            entry["encryption"] = encryption
        }
        if user != nil { entry["membership"] = .string(membership ?? "leave") }
        return entry
    }
}
