import Crypto
import Foundation
import HearthCore
import Testing

/// Account registration: UIA flows, tokens, closed registration, guests and Synapse's
/// shared-secret admin registration.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#account-registration
@Suite(.serialized) struct RegistrationTests {
    @Test func dummyFlowCreatesAccountAndSession() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let first = try await server.post(TestServer.v3("/register"), nil, ["username": "Alice", "password": "pw"])
        #expect(first.status == 401)
        #expect(first.json["flows"]?.arrayValue?.first?["stages"] == ["m.login.dummy"])
        #expect(first.json["errcode"] == nil)
        let session = try #require(first.json["session"]?.stringValue)
        let second = try await server.post(TestServer.v3("/register"), nil, [
            "username": "Alice", "password": "pw", "initial_device_display_name": "Phone",
            "auth": ["type": "m.login.dummy", "session": .string(session)],
        ])
        second.expectOK()
        // Localparts are lower-cased, as Synapse does.
        #expect(second.json["user_id"] == "@alice:hearth.test")
        #expect(second.json["home_server"] == "hearth.test")
        let token = try #require(second.json["access_token"]?.stringValue)
        let user = TestServer.User(userID: "@alice:hearth.test", token: token, deviceID: second.json["device_id"]?.stringValue ?? "")
        let device = try await server.get(TestServer.v3("/devices/\(user.deviceID)"), user)
        #expect(device.json["display_name"] == "Phone")
        // Registration sets the display name to the localpart.
        let name = try await server.get(TestServer.v3("/profile/@alice:hearth.test/displayname"))
        #expect(name.json["displayname"] == "alice")
    }

    @Test func inhibitLoginAndRefreshTokens() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let first = try await server.post(TestServer.v3("/register"), nil, ["username": "quiet", "password": "pw"])
        let session = try #require(first.json["session"]?.stringValue)
        let quiet = try await server.post(TestServer.v3("/register"), nil, [
            "username": "quiet", "password": "pw", "inhibit_login": true, "auth": ["type": "m.login.dummy", "session": .string(session)],
        ])
        quiet.expectOK()
        #expect(quiet.json["user_id"] == "@quiet:hearth.test" && quiet.json["access_token"] == nil && quiet.json["device_id"] == nil)

        let again = try await server.post(TestServer.v3("/register"), nil, ["username": "fresh", "password": "pw"])
        let refreshing = try await server.post(TestServer.v3("/register"), nil, [
            "username": "fresh", "password": "pw", "refresh_token": true,
            "auth": ["type": "m.login.dummy", "session": .string(again.json["session"]?.stringValue ?? "")],
        ])
        #expect(refreshing.json["refresh_token"]?.stringValue != nil && (refreshing.json["expires_in_ms"]?.intValue ?? 0) > 0)
    }

    @Test func badRegistrationInput() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        try await server.post(TestServer.v3("/register"), nil, ["username": "not valid!", "password": "pw"])
            .expectError(400, "M_INVALID_USERNAME")
        try await server.post(TestServer.v3("/register"), nil, ["username": 12, "password": "pw"]).expectError(400, "M_BAD_JSON")
        try await server.post(TestServer.v3("/register?kind=robot"), nil, ["username": "x", "password": "pw"])
            .expectError(400, "M_INVALID_PARAM")
        try await server.post(TestServer.v3("/register"), nil, ["username": "bob", "password": "pw", "auth": ["type": "m.login.magic"]])
            .expectError(400, "M_UNRECOGNIZED")
        try await server.get(TestServer.v3("/register/available")).expectError(400, "M_MISSING_PARAM")
        // An unknown UIA session starts over with a new one.
        let madeUp = try await server.post(TestServer.v3("/register"), nil, [
            "username": "bob", "password": "pw", "auth": ["type": "m.login.dummy", "session": "made-up"],
        ])
        #expect(madeUp.status == 401 && madeUp.json["session"]?.stringValue != nil && madeUp.json["session"] != "made-up")
        #expect(try await server.get(TestServer.v3("/register/available?username=bob")).json["available"] == true)
    }

    @Test func tokenFlowRejectsExpiredAndUsedTokens() async throws {
        let server = try await TestServer.start { $0.registrationRequiresToken = true }
        defer { Task { await server.destroy() } }
        let accounts = server.homeserver.accounts
        try await accounts.createRegistrationToken("expired", usesAllowed: nil, expiresAt: 1)
        try await accounts.createRegistrationToken("twice", usesAllowed: 2, expiresAt: nil)
        let validity = "/_matrix/client/v1/register/m.login.registration_token/validity?token="
        #expect(try await server.get(validity + "expired").json["valid"] == false)
        #expect(try await server.get(validity + "twice").json["valid"] == true)
        #expect(try await server.get(validity + "unknown").json["valid"] == false)
        try await server.get("/_matrix/client/v1/register/m.login.registration_token/validity").expectError(400, "M_MISSING_PARAM")
        for (index, name) in ["one", "two", "three"].enumerated() {
            let first = try await server.post(TestServer.v3("/register"), nil, ["username": .string(name), "password": "pw"])
            let session = try #require(first.json["session"]?.stringValue)
            let second = try await server.post(TestServer.v3("/register"), nil, [
                "username": .string(name), "password": "pw",
                "auth": ["type": "m.login.registration_token", "token": "twice", "session": .string(session)],
            ])
            if index < 2 { second.expectOK() } else { second.expectError(401, "M_FORBIDDEN") }
        }
        // The dummy stage is not offered when a token is required.
        let dummy = try await server.post(TestServer.v3("/register"), nil, ["username": "four", "password": "pw", "auth": ["type": "m.login.dummy"]])
        dummy.expectError(400, "M_UNRECOGNIZED")
    }

    @Test func closedRegistrationRefusesEvenWithAuth() async throws {
        let server = try await TestServer.start { $0.enableRegistration = false }
        defer { Task { await server.destroy() } }
        try await server.post(TestServer.v3("/register"), nil, ["username": "alice", "password": "pw", "auth": ["type": "m.login.dummy"]])
            .expectError(403, "M_FORBIDDEN")
        try await server.post("/_matrix/client/r0/register", nil, ["username": "alice", "password": "pw"]).expectError(403, "M_FORBIDDEN")
    }

    @Test func guestsWhenEnabled() async throws {
        let server = try await TestServer.start { $0.allowGuestAccess = true }
        defer { Task { await server.destroy() } }
        let guest = try await server.post(TestServer.v3("/register?kind=guest"), nil, [:])
        guest.expectOK()
        let token = try #require(guest.json["access_token"]?.stringValue)
        let user = TestServer.User(userID: guest.json["user_id"]?.stringValue ?? "", token: token, deviceID: "")
        let whoami = try await server.get(TestServer.v3("/account/whoami"), user)
        #expect(whoami.json["is_guest"] == true && whoami.json["user_id"]?.stringValue == user.userID)
        // Guests cannot do what the spec reserves for full accounts.
        try await server.post(TestServer.v3("/createRoom"), user, [:]).expectError(403, "M_GUEST_ACCESS_FORBIDDEN")
        try await server.post(TestServer.v3("/account/password"), user, ["new_password": "x"]).expectError(403, "M_GUEST_ACCESS_FORBIDDEN")
    }

    /// Synapse's HMAC: SHA-1 over nonce NUL username NUL password NUL admin|notadmin.
    static func mac(secret: String, nonce: String, username: String, password: String, admin: Bool) -> String {
        let message = Array("\(nonce)\0\(username)\0\(password)\0\(admin ? "admin" : "notadmin")".utf8)
        let code = HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    @Test func sharedSecretRegistration() async throws {
        let server = try await TestServer.start {
            $0.registrationSharedSecret = "s3cr3t"
            $0.enableRegistration = false
        }
        defer { Task { await server.destroy() } }
        let path = "/_synapse/admin/v1/register"
        let nonce = try #require(try await server.get(path).json["nonce"]?.stringValue)
        let wrong = try await server.post(path, nil, [
            "nonce": .string(nonce), "username": "admin", "password": "pw", "admin": true,
            "mac": .string(Self.mac(secret: "wrong", nonce: nonce, username: "admin", password: "pw", admin: true)),
        ])
        wrong.expectError(403, "M_FORBIDDEN")
        // The nonce was spent by the failed attempt.
        let reuse = try await server.post(path, nil, [
            "nonce": .string(nonce), "username": "admin", "password": "pw", "admin": true,
            "mac": .string(Self.mac(secret: "s3cr3t", nonce: nonce, username: "admin", password: "pw", admin: true)),
        ])
        reuse.expectError(400, "M_UNKNOWN")
        // admin: true signed as notadmin is refused: the flag is part of the MAC.
        let flagNonce = try #require(try await server.get(path).json["nonce"]?.stringValue)
        try await server.post(path, nil, [
            "nonce": .string(flagNonce), "username": "admin", "password": "pw", "admin": true,
            "mac": .string(Self.mac(secret: "s3cr3t", nonce: flagNonce, username: "admin", password: "pw", admin: false)),
        ]).expectError(403, "M_FORBIDDEN")

        let fresh = try #require(try await server.get(path).json["nonce"]?.stringValue)
        let right = try await server.post(path, nil, [
            "nonce": .string(fresh), "username": "admin", "password": "pw", "admin": true, "displayname": "The Admin",
            "mac": .string(Self.mac(secret: "s3cr3t", nonce: fresh, username: "admin", password: "pw", admin: true)),
        ])
        right.expectOK()
        #expect(right.json["user_id"] == "@admin:hearth.test" && right.json["access_token"]?.stringValue != nil)
        let account = try await server.homeserver.accounts.account(UserID("@admin:hearth.test")!)
        #expect(account?.isAdmin == true && account?.displayName == "The Admin")
        _ = try await server.login("admin", password: "pw")
    }

    @Test func sharedSecretRegistrationDisabledWithoutSecret() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        #expect(try await server.get("/_synapse/admin/v1/register").status == 400)
        try await server.post("/_synapse/admin/v1/register", nil, ["nonce": "x", "username": "a", "password": "b", "mac": "c"])
            .expectError(400, "M_FORBIDDEN")
    }
}
