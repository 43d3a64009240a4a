public import HearthCore
import HearthStorage

extension Rooms {
    /// A room as the public room directory and the space hierarchy describe it ("PublishedRoomsChunk").
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3publicrooms
    public func summary(of roomID: RoomID) async throws -> JSONObject {
        let state = try await currentState(roomID)
        let keys = ["m.room.name", "m.room.topic", "m.room.canonical_alias", "m.room.avatar", "m.room.join_rules",
                    "m.room.history_visibility", "m.room.guest_access", "m.room.create"].map { StateKey($0, "") }
        let events = try await stateEvents(state, keys: keys)
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

    /// A page of the public room directory, filtered by a search term, with `since` an offset.
    public func publicRoomsPage(limit: Int, since: Int, searchTerm: String?) async throws -> JSONObject {
        let term = searchTerm?.lowercased()
        var chunk: [JSONValue] = []
        for roomID in try await store.publicRooms() {
            let entry = try await summary(of: roomID)
            if let term {
                let haystack = [entry["name"]?.stringValue, entry["topic"]?.stringValue, entry["canonical_alias"]?.stringValue]
                    .compactMap { $0?.lowercased() }
                if !haystack.contains(where: { $0.contains(term) }) { continue }
            }
            chunk.append(.object(entry))
        }
        let page = Array(chunk.dropFirst(max(0, since)).prefix(max(0, limit)))
        var json: JSONObject = ["chunk": .array(page), "total_room_count_estimate": .int(Int64(chunk.count))]
        if since + page.count < chunk.count { json["next_batch"] = .string(String(since + page.count)) }
        if since > 0 { json["prev_batch"] = .string(String(max(0, since - limit))) }
        return json
    }
}
