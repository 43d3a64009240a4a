import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Profiles.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#profiles
enum ProfileRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        @Sendable func profile(_ request: MatrixRequest) async throws -> JSONObject {
            let user = try request.userID()
            if user.server != hs.serverName { return try await hs.federation.remoteProfile(user) }
            guard let account = try await hs.accounts.account(user), !account.isDeactivated else {
                throw MatrixError.notFound("Profile not found")
            }
            var json = JSONObject()
            if let name = account.displayName { json["displayname"] = .string(name) }
            if let avatar = account.avatarURL { json["avatar_url"] = .string(avatar) }
            return json
        }
        @Sendable func field(_ name: String) -> [Route] {
            [
                e.open(.get, ClientEndpoint.client("/profile/{userId}/\(name)")) { request in
                    let json = try await profile(request)
                    guard let value = json[name] else { throw MatrixError.notFound("Profile field not set") }
                    return MatrixResponse(json: [name: value])
                },
                e.authed(.put, ClientEndpoint.client("/profile/{userId}/\(name)"), rateLimited: true) { request, requester in
                    let user = try request.userID()
                    guard user == requester.userID else { throw MatrixError.forbidden("Cannot set another user's profile") }
                    let value = try request.jsonBody().optionalString(name)
                    if let value, value.utf8.count > 256 { throw MatrixError.badJSON("\(name) is too long") }
                    if name == "displayname" {
                        try await hs.setProfile(user, displayName: .some(value), avatarURL: nil)
                    } else {
                        try await hs.setProfile(user, displayName: nil, avatarURL: .some(value))
                    }
                    return .empty
                },
            ]
        }
        return [
            e.open(.get, ClientEndpoint.client("/profile/{userId}")) { request in
                MatrixResponse(json: try await profile(request))
            },
        ] + field("displayname") + field("avatar_url")
    }
}
