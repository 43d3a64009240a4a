import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Room aliases, the public room directory and the user directory.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#room-aliases
enum DirectoryRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        let store = hs.storage.rooms
        @Sendable func alias(_ request: MatrixRequest) throws -> RoomAlias {
            let text = try request.path("roomAlias")
            guard let alias = RoomAlias(text) else { throw MatrixError.invalidParam("Invalid room alias \(text)") }
            return alias
        }
        @Sendable func publicRooms(_ request: MatrixRequest, body: JSONObject) async throws -> MatrixResponse {
            let limit = Int(try body.optionalInt("limit") ?? Int64(try request.queryInt("limit") ?? 100))
            let since = Int(try body.optionalString("since") ?? request.query("since") ?? "0") ?? 0
            let term = try body.optionalObject("filter")?.optionalString("generic_search_term")
            let json = try await hs.rooms.publicRoomsPage(limit: limit, since: since, searchTerm: term)
            return MatrixResponse(json: json)
        }
        return [
            e.authed(.put, ClientEndpoint.client("/directory/room/{roomAlias}"), access: .nonGuest) { request, requester in
                let alias = try alias(request)
                guard alias.server == hs.serverName else { throw MatrixError.invalidParam("Alias must be on this server") }
                let text = try request.jsonBody().requireString("room_id")
                guard let roomID = RoomID(text) else { throw MatrixError.invalidParam("Invalid room_id") }
                try await hs.rooms.requireJoined(requester.userID, roomID)
                do {
                    try await store.setAlias(alias, to: roomID, creator: requester.userID)
                } catch {
                    throw MatrixError(.unknown, status: 409, "Room alias \(alias) already exists")
                }
                return .empty
            },
            e.open(.get, ClientEndpoint.client("/directory/room/{roomAlias}")) { request in
                let (roomID, servers) = try await hs.federation.resolveAlias(try alias(request))
                return MatrixResponse(json: ["room_id": .string(roomID.rawValue), "servers": JSONValue(servers.map(\.rawValue))])
            },
            e.authed(.delete, ClientEndpoint.client("/directory/room/{roomAlias}"), access: .nonGuest) { request, requester in
                let alias = try alias(request)
                guard let roomID = try await store.roomID(forAlias: alias) else { throw MatrixError.notFound("Room alias not found") }
                let creator = try await store.aliasCreator(alias)
                if creator != requester.userID, !requester.isAdmin {
                    let levels = try await hs.rooms.powerLevels(roomID)
                    guard levels.userLevel(requester.userID) >= levels.requiredLevel(forEvent: "m.room.canonical_alias", isState: true) else {
                        throw MatrixError.forbidden("You don't have permission to delete the alias")
                    }
                }
                try await store.deleteAlias(alias)
                return .empty
            },
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/aliases")) { request, requester in
                let roomID = try request.roomID()
                _ = try await hs.rooms.visibleState(roomID, for: requester.userID)
                return MatrixResponse(json: ["aliases": JSONValue(try await store.aliases(of: roomID).map(\.rawValue))])
            },
            e.open(.get, ClientEndpoint.client("/directory/list/room/{roomId}")) { request in
                let roomID = try request.roomID()
                guard let room = try await store.room(roomID) else { throw MatrixError.notFound("Room not found") }
                return MatrixResponse(json: ["visibility": .string(room.isPublic ? "public" : "private")])
            },
            e.authed(.put, ClientEndpoint.client("/directory/list/room/{roomId}"), access: .nonGuest) { request, requester in
                let roomID = try request.roomID()
                let visibility = try request.jsonBody().optionalString("visibility") ?? "public"
                guard visibility == "public" || visibility == "private" else { throw MatrixError.invalidParam("Invalid visibility") }
                let levels = try await hs.rooms.powerLevels(roomID)
                guard requester.isAdmin || levels.userLevel(requester.userID) >= levels.requiredLevel(forEvent: "m.room.canonical_alias", isState: true)
                else { throw MatrixError.forbidden("You don't have permission to publish this room") }
                try await store.setPublic(roomID, visibility == "public")
                return .empty
            },
            e.open(.get, ClientEndpoint.client("/publicRooms")) { request in
                if let server = request.query("server"), server != hs.serverName.rawValue {
                    throw MatrixError.notFound("Room directories of other servers are not available")
                }
                return try await publicRooms(request, body: [:])
            },
            e.authed(.post, ClientEndpoint.client("/publicRooms")) { request, _ in
                if let server = request.query("server"), server != hs.serverName.rawValue {
                    throw MatrixError.notFound("Room directories of other servers are not available")
                }
                return try await publicRooms(request, body: try request.jsonBody())
            },
            e.optionallyAuthed(.get, ["/_matrix/client/v1/room_summary/{roomIdOrAlias}"], rateLimited: true) { request, requester in
                let text = try request.path("roomIdOrAlias")
                let roomID: RoomID
                if let id = RoomID(text) {
                    roomID = id
                } else if let alias = RoomAlias(text) {
                    guard let id = try await store.roomID(forAlias: alias) else { throw MatrixError.notFound("Room alias not found") }
                    roomID = id
                } else {
                    throw MatrixError.invalidParam("Invalid room ID or alias \(text)")
                }
                return MatrixResponse(json: try await hs.rooms.summary(roomID, for: requester?.userID))
            },
            // Spec: https://spec.matrix.org/v1.19/client-server-api/#spaces
            e.authed(.get, ["/_matrix/client/v1/rooms/{roomId}/hierarchy"], rateLimited: true) { request, requester in
                let limit = try request.queryInt("limit")
                if let limit, limit <= 0 { throw MatrixError.invalidParam("limit must be positive") }
                let maxDepth = try request.queryInt("max_depth")
                if let maxDepth, maxDepth < 0 { throw MatrixError.invalidParam("max_depth must not be negative") }
                let page = try await hs.rooms.hierarchy(try request.roomID(), for: requester.userID,
                                                        suggestedOnly: try request.queryBool("suggested_only") ?? false,
                                                        maxDepth: maxDepth, limit: limit, from: request.query("from"))
                var json: JSONObject = ["rooms": .array(page.rooms.map(JSONValue.object))]
                if let next = page.nextBatch { json["next_batch"] = .string(next) }
                return MatrixResponse(json: json)
            },
            e.authed(.post, ClientEndpoint.client("/user_directory/search"), rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                let term = try body.requireString("search_term")
                let limit = Int(clamping: try body.optionalInt("limit") ?? 10)
                let found = try await hs.searchUserDirectory(term, limit: limit, for: requester.userID)
                let results: [JSONValue] = found.results.map { account in
                    var entry: JSONObject = ["user_id": .string(account.userID.rawValue)]
                    if let name = account.displayName { entry["display_name"] = .string(name) }
                    if let avatar = account.avatarURL { entry["avatar_url"] = .string(avatar) }
                    return .object(entry)
                }
                return MatrixResponse(json: ["results": .array(results), "limited": .bool(found.limited)])
            },
        ]
    }
}
