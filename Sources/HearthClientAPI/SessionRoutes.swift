import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Login, token refresh, logout and whoami.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#login
enum SessionRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            e.open(.get, ClientEndpoint.client("/login")) { _ in
                MatrixResponse(json: ["flows": [["type": "m.login.password"]]])
            },
            e.open(.post, ClientEndpoint.client("/login"), rateLimited: true) { request in
                let body = try request.jsonBody()
                let type = try body.requireString("type")
                guard type == "m.login.password" else {
                    throw MatrixError(.unknown, status: 400, "Unknown login type \(type)")
                }
                let user: String
                if let identifier = try body.optionalObject("identifier") {
                    guard identifier["type"]?.stringValue == "m.id.user", let name = identifier["user"]?.stringValue else {
                        throw MatrixError(.unknown, status: 400, "Only m.id.user identifiers are supported")
                    }
                    user = name
                } else if let name = try body.optionalString("user") {
                    user = name
                } else {
                    throw MatrixError.missingParam("Missing identifier")
                }
                let result = try await hs.accounts.login(
                    user: user, password: try body.requireString("password"), deviceID: try body.optionalString("device_id"),
                    deviceDisplayName: try body.optionalString("initial_device_display_name"),
                    wantsRefreshToken: try body.optionalBool("refresh_token") ?? false)
                var json: JSONObject = [
                    "user_id": .string(result.userID.rawValue), "access_token": .string(result.accessToken),
                    "device_id": .string(result.deviceID), "home_server": .string(hs.serverName.rawValue),
                ]
                if let refresh = result.refreshToken { json["refresh_token"] = .string(refresh) }
                if let expires = result.expiresInMs { json["expires_in_ms"] = .int(expires) }
                if let base = hs.settings.publicBaseURL { json["well_known"] = ["m.homeserver": ["base_url": .string(base)]] }
                return MatrixResponse(json: json)
            },
            e.open(.post, ClientEndpoint.client("/refresh"), rateLimited: true) { request in
                let body = try request.jsonBody()
                let result = try await hs.accounts.refresh(refreshToken: try body.requireString("refresh_token"))
                var json: JSONObject = ["access_token": .string(result.accessToken)]
                if let refresh = result.refreshToken { json["refresh_token"] = .string(refresh) }
                if let expires = result.expiresInMs { json["expires_in_ms"] = .int(expires) }
                return MatrixResponse(json: json)
            },
            e.authed(.post, ClientEndpoint.client("/logout")) { _, requester in
                try await hs.logout(requester)
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/logout/all")) { _, requester in
                try await hs.logoutAll(requester)
                return .empty
            },
            // Spec: https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3adminwhoisuserid
            e.authed(.get, ClientEndpoint.client("/admin/whois/{userId}")) { request, requester in
                let user = try request.userID()
                guard requester.isAdmin || user == requester.userID else {
                    throw MatrixError.forbidden("Only server administrators may look up other users")
                }
                guard user.server == hs.serverName, try await hs.accounts.account(user) != nil else {
                    throw MatrixError.notFound("Unknown user")
                }
                var devices = JSONObject()
                for device in try await hs.accounts.devices(of: user) {
                    var connection = JSONObject()
                    if let ip = device.lastSeenIP { connection["ip"] = .string(ip) }
                    if let seen = device.lastSeenAt { connection["last_seen"] = .int(seen) }
                    devices[device.deviceID] = ["sessions": [["connections": [.object(connection)]]]]
                }
                return MatrixResponse(json: ["user_id": .string(user.rawValue), "devices": .object(devices)])
            },
            e.authed(.get, ClientEndpoint.client("/account/whoami")) { _, requester in
                MatrixResponse(json: ["user_id": .string(requester.userID.rawValue), "device_id": .string(requester.deviceID),
                                      "is_guest": .bool(requester.isGuest)])
            },
        ]
    }
}
