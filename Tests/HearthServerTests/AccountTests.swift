import Foundation
import HearthCore
import Testing

/// Password changes, deactivation and third-party identifiers.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#account-management
@Suite(.serialized) struct AccountTests {
    /// The UIA dance for an endpoint protected by m.login.password: first the 401 with a
    /// session, then the request with the password.
    static func withPassword(_ server: TestServer, _ method: String, _ path: String, _ user: TestServer.User,
                             password: String, body: JSONObject = [:]) async throws -> TestServer.Response {
        let challenge = try await server.request(method, path, token: user.token, json: .object(body))
        guard challenge.status == 401, let session = challenge.json["session"]?.stringValue else { return challenge }
        #expect(challenge.json["flows"]?.arrayValue?.first?["stages"] == ["m.login.password"])
        var authed = body
        authed["auth"] = ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": .string(user.userID)],
                          "password": .string(password), "session": .string(session)]
        return try await server.request(method, path, token: user.token, json: .object(authed))
    }

    @Test func passwordChangeNeedsTheOldPasswordAndLogsOutOtherDevices() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "old-pw")
        let phone = try await server.login("alice", password: "old-pw")
        let path = TestServer.v3("/account/password")
        let challenge = try await server.post(path, alice, ["new_password": "new-pw"])
        #expect(challenge.status == 401 && challenge.json["errcode"] == nil)
        let session = try #require(challenge.json["session"]?.stringValue)
        let wrong = try await server.post(path, alice, [
            "new_password": "new-pw",
            "auth": ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": "alice"], "password": "guess", "session": .string(session)],
        ])
        wrong.expectError(401, "M_FORBIDDEN")
        #expect(wrong.json["session"]?.stringValue == session)
        let right = try await server.post(path, alice, [
            "new_password": "new-pw",
            "auth": ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": "alice"], "password": "old-pw", "session": .string(session)],
        ])
        right.expectOK()
        // The session that changed the password stays, the other device is gone.
        try await server.get(TestServer.v3("/account/whoami"), alice).expectOK()
        try await server.get(TestServer.v3("/account/whoami"), phone).expectError(401, "M_UNKNOWN_TOKEN")
        let devices = try await server.get(TestServer.v3("/devices"), alice).json["devices"]?.arrayValue ?? []
        #expect(devices.compactMap { $0["device_id"]?.stringValue } == [alice.deviceID])
        // Old password refused, new one accepted.
        try await server.post(TestServer.v3("/login"), nil, ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": "alice"], "password": "old-pw"])
            .expectError(403, "M_FORBIDDEN")
        _ = try await server.login("alice", password: "new-pw")
    }

    @Test func passwordChangeCanKeepOtherDevices() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "old-pw")
        let phone = try await server.login("alice", password: "old-pw")
        try await Self.withPassword(server, "POST", TestServer.v3("/account/password"), alice, password: "old-pw",
                                    body: ["new_password": "new-pw", "logout_devices": false]).expectOK()
        try await server.get(TestServer.v3("/account/whoami"), phone).expectOK()
        // Someone else's password does not pass the stage.
        let bob = try await server.register("bob", password: "bob-pw")
        let challenge = try await server.post(TestServer.v3("/account/password"), alice, ["new_password": "x"])
        try await server.post(TestServer.v3("/account/password"), alice, [
            "new_password": "x",
            "auth": ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": .string(bob.userID)], "password": "bob-pw",
                     "session": challenge.json["session"] ?? ""],
        ]).expectError(401, "M_FORBIDDEN")
        try await server.post(TestServer.v3("/account/password"), alice, [:]).expectError(400, "M_MISSING_PARAM")
    }

    @Test func deactivationLeavesRoomsAndRetiresTheUserID() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let bob = try await server.register("bob", password: "pw")
        let room = try await server.publicRoom(alice, with: bob)
        let invited = try await server.createRoom(alice)
        try await server.invite(alice, invited, bob)
        let response = try await Self.withPassword(server, "POST", TestServer.v3("/account/deactivate"), bob, password: "pw")
        response.expectOK()
        #expect(response.json["id_server_unbind_result"] == "no-support")
        // Bob left the room he was in and declined the invite.
        let member = try await server.get(TestServer.room(room, "/state/m.room.member/\(bob.userID.urlPathEncoded)"), alice)
        #expect(member.json["membership"] == "leave")
        let invite = try await server.get(TestServer.room(invited, "/state/m.room.member/\(bob.userID.urlPathEncoded)"), alice)
        #expect(invite.json["membership"] == "leave")
        // His token is dead, he cannot log in, and his name cannot be registered again.
        try await server.get(TestServer.v3("/account/whoami"), bob).expectError(401, "M_UNKNOWN_TOKEN")
        try await server.post(TestServer.v3("/login"), nil, ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": "bob"], "password": "pw"])
            .expectError(403, "M_USER_DEACTIVATED")
        try await server.post(TestServer.v3("/register"), nil, ["username": "bob", "password": "pw"]).expectError(400, "M_USER_IN_USE")
        try await server.get(TestServer.v3("/profile/\(bob.userID)")).expectError(404, "M_NOT_FOUND")
        // Nobody can invite the deactivated user.
        try await server.post(TestServer.room(room, "/invite"), alice, ["user_id": .string(bob.userID)]).expectError(404, "M_NOT_FOUND")
    }

    @Test func deactivationWithEraseClearsTheProfile() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let carol = try await server.register("carol", password: "pw")
        try await server.put(TestServer.v3("/profile/\(carol.userID)/avatar_url"), carol, ["avatar_url": "mxc://hearth.test/abc"]).expectOK()
        try await Self.withPassword(server, "POST", TestServer.v3("/account/deactivate"), carol, password: "pw", body: ["erase": true]).expectOK()
        let account = try await server.homeserver.accounts.account(UserID(carol.userID)!)
        #expect(account?.isDeactivated == true && account?.displayName == nil && account?.avatarURL == nil)
    }

    @Test func thirdPartyIdentifiersAreEmpty() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let response = try await server.get(TestServer.v3("/account/3pid"), alice)
        response.expectOK()
        #expect(response.json["threepids"] == [])
        try await server.get(TestServer.v3("/account/3pid")).expectError(401, "M_MISSING_TOKEN")
        // Nothing can be validated, added or bound; removing what is not there is a no-op.
        let email: JSONValue = ["client_secret": "s3cret", "email": "alice@clinic.example", "send_attempt": 1]
        for path in ["/register/email/requestToken", "/account/3pid/email/requestToken", "/account/password/email/requestToken"] {
            try await server.post(TestServer.v3(path), nil, email).expectError(403, "M_THREEPID_DENIED")
        }
        try await server.post(TestServer.v3("/register/msisdn/requestToken"), nil, [:]).expectError(400, "M_MISSING_PARAM")
        let add = try await AccountTests.withPassword(server, "POST", TestServer.v3("/account/3pid/add"), alice,
                                                      password: "correct horse battery", body: ["client_secret": "s", "sid": "1"])
        add.expectError(400, "M_THREEPID_AUTH_FAILED")
        try await server.post(TestServer.v3("/account/3pid/bind"), alice, ["client_secret": "s", "sid": "1", "id_server": "id.example",
                                                                          "id_access_token": "x"]).expectError(400, "M_THREEPID_AUTH_FAILED")
        let delete = try await server.post(TestServer.v3("/account/3pid/delete"), alice, ["medium": "email", "address": "a@b.c"])
        #expect(delete.status == 200 && delete.json["id_server_unbind_result"] == "no-support")
        let unbind = try await server.post(TestServer.v3("/account/3pid/unbind"), alice, ["medium": "email", "address": "a@b.c"])
        #expect(unbind.status == 200 && unbind.json["id_server_unbind_result"] == "no-support")
        try await server.post(TestServer.v3("/account/3pid/delete"), alice, [:]).expectError(400, "M_MISSING_PARAM")
        #expect(try await server.get(TestServer.v3("/account/3pid"), alice).json["threepids"] == [])
    }
}
