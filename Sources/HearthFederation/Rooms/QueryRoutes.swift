public import HearthCore
public import HearthHTTP
public import HearthHomeserver
import Hummingbird

/// Queries about this server's users and rooms, the room directory, spaces, OpenID and devices.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#querying-for-information
enum QueryRoutes {
    static func routes(_ e: FederationEndpoint, _ homeserver: Homeserver) -> [Route] {
        let federation = homeserver.federation
        return [
            e.signed(.get, FederationEndpoint.federation("/query/profile")) { request, _ in
                guard let text = request.query("user_id") else { throw MatrixError.missingParam("Missing user_id") }
                guard let user = UserID(text) else { throw MatrixError.invalidParam("Invalid user_id") }
                return MatrixResponse(json: try await federation.queryProfile(user, field: request.query("field")))
            },
            e.signed(.get, FederationEndpoint.federation("/query/directory")) { request, _ in
                guard let text = request.query("room_alias") else { throw MatrixError.missingParam("Missing room_alias") }
                guard let alias = RoomAlias(text) else { throw MatrixError.invalidParam("Invalid room_alias") }
                return MatrixResponse(json: try await federation.queryDirectory(alias))
            },
            e.signed(.get, FederationEndpoint.federation("/publicRooms")) { request, _ in
                MatrixResponse(json: try await federation.publicRooms(limit: try request.queryInt("limit"), since: request.query("since"),
                                                                      searchTerm: nil))
            },
            e.signed(.post, FederationEndpoint.federation("/publicRooms")) { request, _ in
                let body = try request.jsonBody()
                return MatrixResponse(json: try await federation.publicRooms(
                    limit: try body.optionalInt("limit").map(Int.init), since: try body.optionalString("since"),
                    searchTerm: try body.optionalObject("filter")?.optionalString("generic_search_term")))
            },
            e.signed(.get, FederationEndpoint.federation("/hierarchy/{roomId}")) { request, origin in
                MatrixResponse(json: try await federation.hierarchy(try request.roomID(),
                                                                    suggestedOnly: try request.queryBool("suggested_only") ?? false,
                                                                    origin: origin))
            },
            // OpenID userinfo is asked by third parties with the token itself, not signed.
            e.open(.get, FederationEndpoint.federation("/openid/userinfo")) { request in
                guard let token = request.query("access_token") else { throw MatrixError.missingParam("Missing access_token") }
                return MatrixResponse(json: try homeserver.openID.userInfo(token))
            },
            e.signed(.get, FederationEndpoint.federation("/user/devices/{userId}")) { request, _ in
                MatrixResponse(json: try await homeserver.keys.devicesForServer(try request.userID()))
            },
            e.signed(.post, FederationEndpoint.federation("/user/keys/query")) { request, _ in
                MatrixResponse(json: try await homeserver.keys.queryForServer(try request.jsonBody()))
            },
            e.signed(.post, FederationEndpoint.federation("/user/keys/claim")) { request, _ in
                MatrixResponse(json: try await homeserver.keys.claimForServer(try request.jsonBody()))
            },
        ]
    }
}
