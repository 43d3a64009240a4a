import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging
import Synchronization
import Foundation

/// Account registration, including Synapse's shared-secret admin registration.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#account-registration
enum RegistrationRoutes {
    /// Nonces for shared-secret registration: single use, one minute.
    static let nonces = Mutex<[String: Date]>([:])

    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            e.open(.post, ClientEndpoint.client("/register"), rateLimited: true) { request in
                try await register(request, hs)
            },
            e.open(.get, ClientEndpoint.client("/register/available"), rateLimited: true) { request in
                guard let username = request.query("username") else { throw MatrixError.missingParam("Missing username") }
                _ = try await hs.accounts.validateNewLocalpart(username)
                return MatrixResponse(json: ["available": true])
            },
            e.open(.get, ["/_matrix/client/v1/register/m.login.registration_token/validity"], rateLimited: true) { request in
                guard let token = request.query("token") else { throw MatrixError.missingParam("Missing token") }
                return MatrixResponse(json: ["valid": .bool(try await hs.accounts.registrationTokenIsValid(token))])
            },
            e.open(.get, ["/_synapse/admin/v1/register"]) { _ in
                guard hs.settings.registrationSharedSecret != nil else {
                    throw MatrixError(.forbidden, status: 400, "Shared secret registration is not enabled")
                }
                let nonce = UUID().uuidString
                nonces.withLock { nonces in
                    nonces = nonces.filter { $0.value.timeIntervalSinceNow > -60 }
                    nonces[nonce] = Date()
                }
                return MatrixResponse(json: ["nonce": .string(nonce)])
            },
            e.open(.post, ["/_synapse/admin/v1/register"]) { request in
                try await sharedSecretRegister(request, hs)
            },
        ]
    }

    static func register(_ request: MatrixRequest, _ hs: Homeserver) async throws -> MatrixResponse {
        let body = try request.jsonBody()
        let kind = request.query("kind") ?? "user"
        let deviceID = try body.optionalString("device_id")
        let deviceName = try body.optionalString("initial_device_display_name")
        let inhibitLogin = try body.optionalBool("inhibit_login") ?? false
        let wantsRefresh = try body.optionalBool("refresh_token") ?? false
        if kind == "guest" {
            guard hs.settings.allowGuestAccess else {
                throw MatrixError(.guestAccessForbidden, status: 403, "Guest access is disabled")
            }
            let userID = try await hs.accounts.newGuestUserID()
            let result = try await hs.accounts.createAccount(userID: userID, password: nil, isGuest: true, deviceID: deviceID,
                                                             deviceDisplayName: deviceName, wantsRefreshToken: wantsRefresh)
            return response(result, userID: userID)
        }
        guard kind == "user" else { throw MatrixError.invalidParam("Unknown kind \(kind)") }
        guard hs.settings.enableRegistration else { throw MatrixError.forbidden("Registration has been disabled") }
        let password = try body.optionalString("password")
        if let password, password.utf8.count > 512 { throw MatrixError.invalidParam("Password too long") }
        let userID: UserID
        if let username = try body.optionalString("username") {
            userID = try await hs.accounts.validateNewLocalpart(username)
        } else {
            userID = try await hs.accounts.validateNewLocalpart(Tokens.generatedLocalpart())
        }
        try await hs.accounts.uia.require(body.optionalObject("auth"), flows: hs.accounts.registrationFlows,
                                          purpose: "register", validate: hs.accounts.registrationStages())
        let awaitingApproval = hs.settings.registrationRequiresApproval
        let result = try await hs.accounts.createAccount(userID: userID, password: password, deviceID: deviceID,
                                                         deviceDisplayName: deviceName, inhibitLogin: inhibitLogin,
                                                         wantsRefreshToken: wantsRefresh, awaitingApproval: awaitingApproval)
        hs.logger.info("registered user", metadata: ["user": "\(userID)", "awaiting_approval": "\(awaitingApproval)"])
        // The account exists, but nobody uses it until an administrator approves it (MSC3866).
        if awaitingApproval { throw Accounts.awaitingApproval }
        return response(result, userID: userID)
    }

    static func response(_ result: Accounts.LoginResult?, userID: UserID) -> MatrixResponse {
        var json: JSONObject = ["user_id": .string(userID.rawValue), "home_server": .string(userID.server.rawValue)]
        if let result {
            json["access_token"] = .string(result.accessToken)
            json["device_id"] = .string(result.deviceID)
            if let refresh = result.refreshToken { json["refresh_token"] = .string(refresh) }
            if let expires = result.expiresInMs { json["expires_in_ms"] = .int(expires) }
        }
        return MatrixResponse(json: json)
    }

    static func sharedSecretRegister(_ request: MatrixRequest, _ hs: Homeserver) async throws -> MatrixResponse {
        guard hs.settings.registrationSharedSecret != nil else {
            throw MatrixError(.forbidden, status: 400, "Shared secret registration is not enabled")
        }
        let body = try request.jsonBody()
        let nonce = try body.requireString("nonce")
        let username = try body.requireString("username")
        let password = try body.requireString("password")
        let mac = try body.requireString("mac")
        let admin = try body.optionalBool("admin") ?? false
        let known = nonces.withLock { $0.removeValue(forKey: nonce) }
        guard let issued = known, issued.timeIntervalSinceNow > -60 else {
            throw MatrixError(.unknown, status: 400, "unrecognised nonce")
        }
        guard hs.accounts.sharedSecretMACIsValid(nonce: nonce, username: username, password: password, admin: admin, mac: mac) else {
            throw MatrixError(.forbidden, status: 403, "HMAC incorrect")
        }
        let userID = try await hs.accounts.validateNewLocalpart(username)
        let result = try await hs.accounts.createAccount(userID: userID, password: password, isAdmin: admin,
                                                         displayName: try body.optionalString("displayname"))
        return response(result, userID: userID)
    }
}

extension Tokens {
    /// A localpart for registrations that do not ask for one.
    static func generatedLocalpart() -> String { "user" + String(UInt64.random(in: 1_000_000...9_999_999_999)) }
}
