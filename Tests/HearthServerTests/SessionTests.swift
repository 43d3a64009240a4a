import Foundation
import HearthCore
import HearthHomeserver
import Testing

/// Login, refresh, logout and whoami.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#login
@Suite(.serialized) struct SessionTests {
    @Test func loginFlowsAndIdentifiers() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        _ = try await server.register("alice", password: "pw")
        let flows = try await server.get(TestServer.v3("/login"))
        #expect(flows.json["flows"]?.arrayValue?.contains { $0["type"] == "m.login.password" } == true)
        // Localpart, full user ID and the deprecated top-level `user` all work.
        _ = try await server.login("alice", password: "pw")
        _ = try await server.login("@alice:hearth.test", password: "pw")
        let legacy = try await server.post(TestServer.v3("/login"), nil, ["type": "m.login.password", "user": "alice", "password": "pw"])
        legacy.expectOK()
        #expect(legacy.json["home_server"] == "hearth.test")
        // Errors.
        try await server.post(TestServer.v3("/login"), nil, ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": "nobody"], "password": "pw"])
            .expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.v3("/login"), nil, ["type": "m.login.token", "token": "x"]).expectError(400, "M_UNKNOWN")
        try await server.post(TestServer.v3("/login"), nil, ["type": "m.login.password", "password": "pw"]).expectError(400, "M_MISSING_PARAM")
        try await server.post(TestServer.v3("/login"), nil, ["password": "pw"]).expectError(400, "M_MISSING_PARAM")
        try await server.post(TestServer.v3("/login"), nil, ["type": "m.login.password", "identifier": ["type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"], "password": "pw"])
            .expectError(400, "M_UNKNOWN")
        // A user of another server cannot log in here.
        try await server.post(TestServer.v3("/login"), nil, ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": "@alice:elsewhere.test"], "password": "pw"])
            .expectError(403, "M_FORBIDDEN")
    }

    @Test func loginWithExistingDeviceIDKeepsTheDevice() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let again = try await server.login("alice", password: "pw", deviceID: alice.deviceID)
        #expect(again.deviceID == alice.deviceID)
        let devices = try await server.get(TestServer.v3("/devices"), again)
        #expect(devices.json["devices"]?.arrayValue?.count == 1)
        // Both sessions on the device work until the device is logged out.
        #expect(try await server.get(TestServer.v3("/account/whoami"), alice).json["device_id"]?.stringValue == alice.deviceID)
        try await server.post(TestServer.v3("/logout"), again).expectOK()
        try await server.get(TestServer.v3("/account/whoami"), alice).expectError(401, "M_UNKNOWN_TOKEN")
    }

    @Test func refreshRotatesTokens() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        _ = try await server.register("alice", password: "pw")
        let login = try await server.post(TestServer.v3("/login"), nil, [
            "type": "m.login.password", "identifier": ["type": "m.id.user", "user": "alice"], "password": "pw", "refresh_token": true,
        ])
        let refresh = try #require(login.json["refresh_token"]?.stringValue)
        let first = try await server.post(TestServer.v3("/refresh"), nil, ["refresh_token": .string(refresh)])
        first.expectOK()
        let next = try #require(first.json["refresh_token"]?.stringValue)
        #expect(next != refresh && (first.json["expires_in_ms"]?.intValue ?? 0) > 0)
        // The old refresh token is spent.
        try await server.post(TestServer.v3("/refresh"), nil, ["refresh_token": .string(refresh)]).expectError(401, "M_UNKNOWN_TOKEN")
        try await server.post(TestServer.v3("/refresh"), nil, [:]).expectError(400, "M_MISSING_PARAM")
        let token = try #require(first.json["access_token"]?.stringValue)
        let whoami = try await server.request("GET", TestServer.v3("/account/whoami"), token: token)
        #expect(whoami.json["user_id"] == "@alice:hearth.test")
    }

    @Test func expiredAccessTokenIsSoftLogout() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        _ = try await server.register("alice", password: "pw")
        let settings = server.homeserver.settings
        let login = try await server.post(TestServer.v3("/login"), nil, [
            "type": "m.login.password", "identifier": ["type": "m.id.user", "user": "alice"], "password": "pw", "refresh_token": true,
        ])
        #expect(login.json["expires_in_ms"]?.intValue == settings.refreshableAccessTokenLifetime)
        let token = try #require(login.json["access_token"]?.stringValue)
        // Age the session in the store.
        let digest = Tokens.digest(token)
        let session = try #require(try await server.homeserver.storage.accounts.session(accessTokenDigest: digest))
        try await server.homeserver.storage.accounts.deleteSession(accessTokenDigest: digest)
        try await server.homeserver.storage.accounts.createSession(
            .init(userID: session.userID, deviceID: session.deviceID, expiresAt: 1), accessTokenDigest: digest, refreshTokenDigest: nil)
        let expired = try await server.request("GET", TestServer.v3("/account/whoami"), token: token)
        expired.expectError(401, "M_UNKNOWN_TOKEN")
        #expect(expired.json["soft_logout"] == true)
    }

    @Test func whois() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let bob = try await server.register("bob")
        let phone = try await server.login("alice", password: "pw")
        let own = try await server.get(TestServer.v3("/admin/whois/\(alice.userID.urlPathEncoded)"), alice)
        #expect(own.json["user_id"]?.stringValue == alice.userID)
        #expect(Set(own.json["devices"]?.objectValue?.keys ?? []) == [alice.deviceID, phone.deviceID])
        #expect(own.json["devices"]?[phone.deviceID]?["sessions"]?.arrayValue?.first?["connections"]?.arrayValue?.first?["last_seen"]?.intValue != nil)
        try await server.get(TestServer.v3("/admin/whois/\(alice.userID.urlPathEncoded)"), bob).expectError(403, "M_FORBIDDEN")
        try await server.homeserver.storage.accounts.setAdmin(UserID(bob.userID)!, true)
        #expect(try await server.get(TestServer.v3("/admin/whois/\(alice.userID.urlPathEncoded)"), bob).status == 200)
        try await server.get(TestServer.v3("/admin/whois/@ghost:hearth.test"), bob).expectError(404, "M_NOT_FOUND")
    }

    @Test func logoutAllEndsEverySession() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let phone = try await server.login("alice", password: "pw")
        let laptop = try await server.login("alice", password: "pw")
        try await server.post(TestServer.v3("/logout/all"), phone).expectOK()
        for session in [alice, phone, laptop] {
            try await server.get(TestServer.v3("/account/whoami"), session).expectError(401, "M_UNKNOWN_TOKEN")
        }
        let back = try await server.login("alice", password: "pw")
        #expect(try await server.get(TestServer.v3("/devices"), back).json["devices"]?.arrayValue?.count == 1)
        // Logging out needs a token.
        try await server.post(TestServer.v3("/logout")).expectError(401, "M_MISSING_TOKEN")
        // The token may also come as the deprecated access_token query parameter.
        #expect(try await server.get(TestServer.v3("/account/whoami?access_token=\(back.token)")).status == 200)
    }
}
