public import HearthCore
public import HearthStorage

extension Rooms {
    /// Deepest level `/hierarchy` descends to, and most rooms in one response.
    static let hierarchyMaxDepth = 10
    static let hierarchyMaxLimit = 100

    /// Whether a user may see a room's summary in a space tree: members and invitees, and
    /// rooms anyone may join, knock on or read.
    func canPreview(_ roomID: RoomID, for user: UserID) async throws -> Bool {
        let membership = try await membership(of: user, in: roomID)
        if membership == "join" || membership == "invite" { return true }
        let state = try await stateEvents(try await head(roomID).state, keys: [StateKey("m.room.join_rules", ""),
                                                                              StateKey("m.room.history_visibility", "")])
        let rule = state[StateKey("m.room.join_rules", "")]?.content["join_rule"]?.stringValue
        let visibility = state[StateKey("m.room.history_visibility", "")]?.content["history_visibility"]?.stringValue
        return ["public", "knock", "knock_restricted"].contains(rule ?? "") || visibility == "world_readable"
    }

    /// `GET /v1/rooms/{roomId}/hierarchy`: the space and its children, depth first, skipping
    /// rooms the user may not preview and rooms this server does not hold (no federation yet).
    /// The token is the number of rooms already returned.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidhierarchy
    public func hierarchy(_ root: RoomID, for user: UserID, suggestedOnly: Bool, maxDepth: Int?, limit: Int?,
                          from: String?) async throws -> (rooms: [JSONObject], nextBatch: String?) {
        guard try await exists(root), try await canPreview(root, for: user) else {
            throw MatrixError.forbidden("You cannot view the room \(root)")
        }
        var skip = 0
        if let from {
            guard from.hasPrefix("hier"), let value = Int(from.dropFirst(4)), value >= 0 else {
                throw MatrixError.invalidParam("Invalid from token")
            }
            skip = value
        }
        let depthLimit = min(maxDepth ?? Self.hierarchyMaxDepth, Self.hierarchyMaxDepth)
        let pageSize = min(limit ?? 20, Self.hierarchyMaxLimit)
        var result: [JSONObject] = []
        var visited = Set<RoomID>()
        var stack: [(RoomID, Int)] = [(root, 0)]
        var index = 0
        while let (roomID, depth) = stack.popLast(), result.count <= pageSize {
            guard !visited.contains(roomID) else { continue }
            visited.insert(roomID)
            guard try await exists(roomID), try await canPreview(roomID, for: user) else { continue }
            // The room's valid children: m.space.child with a non-empty `via`, in state-key order.
            let state = try await currentState(roomID)
            let childIDs = state.keys.filter { $0.type == "m.space.child" }.sorted { $0.stateKey < $1.stateKey }.compactMap { state[$0] }
            let events = try await pdus(childIDs)
            var childrenState: [JSONValue] = []
            var children: [RoomID] = []
            for id in childIDs {
                guard let event = events[id], event.content["via"]?.arrayValue?.isEmpty == false,
                      let child = event.stateKey.flatMap(RoomID.init) else { continue }
                if suggestedOnly, event.content["suggested"]?.boolValue != true { continue }
                childrenState.append(["type": .string(event.type), "state_key": .string(child.rawValue),
                                      "sender": .string(event.sender.rawValue), "content": .object(event.content),
                                      "origin_server_ts": .int(event.originServerTS)])
                children.append(child)
            }
            if index >= skip {
                var entry = try await summary(roomID)
                entry["children_state"] = .array(childrenState)
                result.append(entry)
            }
            index += 1
            if depth < depthLimit {
                for child in children.reversed() where !visited.contains(child) { stack.append((child, depth + 1)) }
            }
        }
        let more = result.count > pageSize
        return (Array(result.prefix(pageSize)), more ? "hier\(skip + pageSize)" : nil)
    }
}
