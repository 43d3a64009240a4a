import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Password changes, deactivation and third-party identifiers.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#account-management
///
/// Hearth keeps no third-party identifiers (no e-mail or phone verification): the list is
/// always empty, requests for validation tokens are denied, and nothing can be added or bound.
enum AccountRoutes {
    static let threepidDenied = ErrorCode(rawValue: "M_THREEPID_DENIED")
    static let threepidAuthFailed = ErrorCode(rawValue: "M_THREEPID_AUTH_FAILED")

    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        let requestTokenPaths = ["/account/3pid/email/requestToken", "/account/3pid/msisdn/requestToken",
                                 "/register/email/requestToken", "/register/msisdn/requestToken",
                                 "/account/password/email/requestToken", "/account/password/msisdn/requestToken"]
        return requestTokenPaths.map { path in
            e.open(.post, ClientEndpoint.client(path), rateLimited: true) { request in
                let body = try request.jsonBody()
                _ = try body.requireString("client_secret")
                _ = try body.optionalInt("send_attempt")
                throw MatrixError(threepidDenied, status: 403, "This server does not use third-party identifiers")
            }
        } + [
            e.authed(.post, ClientEndpoint.client("/account/3pid/add"), access: .nonGuest, rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                try await hs.accounts.requirePassword(body.optionalObject("auth"), for: requester, purpose: "3pid-add")
                _ = try body.requireString("sid")
                throw MatrixError(threepidAuthFailed, status: 400, "No third-party identifier was validated with this session")
            },
            e.authed(.post, ClientEndpoint.client("/account/3pid/bind"), access: .nonGuest, rateLimited: true) { request, _ in
                _ = try request.jsonBody().requireString("sid")
                throw MatrixError(threepidAuthFailed, status: 400, "No third-party identifier was validated with this session")
            },
            e.authed(.post, ClientEndpoint.client("/account/3pid/delete"), access: .nonGuest) { request, _ in
                let body = try request.jsonBody()
                _ = try body.requireString("medium")
                _ = try body.requireString("address")
                return MatrixResponse(json: ["id_server_unbind_result": "no-support"])
            },
            e.authed(.post, ClientEndpoint.client("/account/3pid/unbind"), access: .nonGuest) { request, _ in
                let body = try request.jsonBody()
                _ = try body.requireString("medium")
                _ = try body.requireString("address")
                return MatrixResponse(json: ["id_server_unbind_result": "no-support"])
            },
            e.authed(.post, ClientEndpoint.client("/account/password"), access: .nonGuest, rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                let newPassword = try body.requireString("new_password")
                guard !newPassword.isEmpty, newPassword.utf8.count <= 512 else {
                    throw MatrixError(.weakPassword, status: 400, "Password must be 1 to 512 bytes")
                }
                try await hs.accounts.requirePassword(body.optionalObject("auth"), for: requester, purpose: "password")
                try await hs.accounts.changePassword(requester, newPassword: newPassword,
                                                     logoutDevices: try body.optionalBool("logout_devices") ?? true)
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/account/deactivate"), rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                try await hs.accounts.requirePassword(body.optionalObject("auth"), for: requester, purpose: "deactivate")
                try await hs.deactivate(requester.userID, erase: try body.optionalBool("erase") ?? false)
                return MatrixResponse(json: ["id_server_unbind_result": "no-support"])
            },
            e.authed(.get, ClientEndpoint.client("/account/3pid")) { _, _ in
                MatrixResponse(json: ["threepids": []])
            },
            // https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3useruseridopenidrequest_token
            e.authed(.post, ClientEndpoint.client("/user/{userId}/openid/request_token"), rateLimited: true) { request, requester in
                guard try request.userID() == requester.userID else { throw MatrixError.forbidden("Cannot request a token for another user") }
                return MatrixResponse(json: hs.openID.issue(for: requester.userID, serverName: hs.serverName))
            },
        ]
    }
}
