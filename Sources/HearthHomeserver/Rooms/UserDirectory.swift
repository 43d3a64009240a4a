public import HearthCore
public import HearthStorage

extension Homeserver {
    /// User directory search: local users whose ID or display name contains `term`, limited to
    /// those the searcher shares a room with or who are in a public room (Synapse's default,
    /// so a user in no room is not discoverable).
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#user-directory
    public func searchUserDirectory(_ term: String, limit: Int, for searcher: UserID) async throws -> (results: [Account], limited: Bool) {
        let limit = max(1, min(limit, 100))
        let searcherRooms = Set(try await rooms.memberships(of: searcher).filter { $0.membership == "join" }.map(\.roomID))
        var publicRooms: [RoomID: Bool] = [:]
        func isPublic(_ roomID: RoomID) async throws -> Bool {
            if let known = publicRooms[roomID] { return known }
            let rule = try await rooms.currentStateEvent(roomID, StateKey("m.room.join_rules", ""))?.content["join_rule"]?.stringValue
            publicRooms[roomID] = rule == "public"
            return rule == "public"
        }
        var results: [Account] = []
        for account in try await storage.accounts.searchUsers(term, limit: 500) {
            let joined = try await rooms.memberships(of: account.userID).filter { $0.membership == "join" }.map(\.roomID)
            var visible = false
            for roomID in joined {
                if searcherRooms.contains(roomID), account.userID != searcher { visible = true; break }
                if try await isPublic(roomID) { visible = true; break }
            }
            guard visible else { continue }
            results.append(account)
            if results.count > limit { break }
        }
        return (Array(results.prefix(limit)), results.count > limit)
    }
}
