import Foundation
import HearthCore
import HearthHomeserver
import Testing

/// The moderation queue (reports, read and resolved by room moderators and server admins)
/// and the transparency page.
@Suite(.serialized) struct ModerationTests {
    @Test func roomModeratorsWorkThroughTheReportsAboutTheirRooms() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let facilitator = try await server.register("facilitator")
        let member = try await server.register("member")
        let reporter = try await server.register("reporter")
        let elsewhere = try await server.register("elsewhere")
        let admin = try await server.register("admin")
        try await server.homeserver.storage.accounts.setAdmin(UserID(admin.userID)!, true)
        let group = try await server.createRoom(facilitator, ["preset": "public_chat"])
        try await server.join(member, group)
        try await server.join(reporter, group)
        let other = try await server.createRoom(elsewhere, ["preset": "public_chat"])
        try await server.join(reporter, other)
        let hurtful = try await server.sendEvent(member, group, type: "m.room.message", ["msgtype": "m.text", "body": "hurtful-9191"])
        let otherEvent = try await server.sendEvent(elsewhere, other, type: "m.room.message", ["msgtype": "m.text", "body": "fine"])
        try await server.post(TestServer.room(group, "/report/\(hurtful.urlPathEncoded)"), reporter, ["reason": "unkind", "score": -100]).expectOK()
        try await server.post(TestServer.room(other, "/report/\(otherEvent.urlPathEncoded)"), reporter, ["reason": "spam"]).expectOK()

        // The facilitator sees the report about their room only; a member sees none.
        let queue = try await server.get("/_hearth/admin/v1/reports", facilitator)
        queue.expectOK()
        let reports = queue.json["reports"]?.arrayValue ?? []
        #expect(reports.count == 1 && reports.first?["event_id"]?.stringValue == hurtful && reports.first?["reason"] == "unkind")
        #expect(try await server.get("/_hearth/admin/v1/reports", member).json["reports"]?.arrayValue?.isEmpty == true)
        #expect(try await server.get("/_hearth/admin/v1/reports", admin).json["reports"]?.arrayValue?.count == 2)
        let id = try #require(reports.first?["id"]?.intValue)

        // Others cannot resolve it; the facilitator removes the message and closes the report.
        try await server.post("/_hearth/admin/v1/reports/\(id)/resolve", member, ["resolution": "dismissed"]).expectError(403, "M_FORBIDDEN")
        try await server.post("/_hearth/admin/v1/reports/\(id)/resolve", facilitator, ["resolution": "removed", "remove_event": true]).expectOK()
        #expect(try await server.get(TestServer.room(group, "/event/\(hurtful.urlPathEncoded)"), reporter).json["content"] == [:])
        #expect(try await server.get("/_hearth/admin/v1/reports", facilitator).json["reports"]?.arrayValue?.isEmpty == true)
        let history = try await server.get("/_hearth/admin/v1/reports?include_resolved=true", facilitator).json["reports"]?.arrayValue ?? []
        #expect(history.first?["resolution"] == "removed" && history.first?["resolved_by"]?.stringValue == facilitator.userID)
        try await server.post("/_hearth/admin/v1/reports/\(id)/resolve", admin, ["resolution": "again"]).expectError(409, "M_UNKNOWN")
        try await server.post("/_hearth/admin/v1/reports/999/resolve", admin, [:]).expectError(404, "M_NOT_FOUND")
    }

    @Test func theTransparencyPageSaysWhatIsKeptAndWhatLeaves() async throws {
        var policy = OrganizationPolicy()
        policy.federation = .allowlist([ServerPattern("partner.example")!])
        policy.rooms.defaultClass = .localOnly
        policy.sharing = .minimal
        policy.auditRetention = 2 * 31_536_000_000
        let server = try await TestServer.start { config in
            config.policy = policy
            config.retention.enabled = true
            config.retention.defaultMaxLifetime = 30 * 86_400_000
            config.enableRegistration = true
            config.registrationRequiresToken = true
        }
        defer { Task { await server.destroy() } }
        let page = try await server.get("/_hearth/transparency")
        #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
        let text = String(decoding: page.bytes, as: UTF8.self)
        for expected in ["deleted 30 days after they were sent", "Only these servers are contacted: partner.example",
                         "local-only", "Presence (online status): not shared", "Profiles are not answered",
                         "kept for 2 years", "invitation token"] {
            #expect(text.contains(expected), "missing: \(expected)")
        }
        // It follows the policy in force.
        server.homeserver.settings.policy.replace(OrganizationPolicy())
        let open = String(decoding: try await server.get("/_hearth/transparency").bytes, as: UTF8.self)
        #expect(open.contains("Any Matrix server taking part in a shared room can be contacted."))
    }
}

/// Invite-only registration managed through Synapse's registration-token admin API.
@Suite(.serialized) struct RegistrationTokenAdminTests {
    static func registerWithToken(_ server: TestServer, _ name: String, _ token: String) async throws -> TestServer.Response {
        let first = try await server.post(TestServer.v3("/register"), nil, ["username": .string(name), "password": "pw"])
        let session = try #require(first.json["session"]?.stringValue)
        return try await server.post(TestServer.v3("/register"), nil, [
            "username": .string(name), "password": "pw",
            "auth": ["type": "m.login.registration_token", "token": .string(token), "session": .string(session)],
        ])
    }

    @Test func adminsIssueTokensWithUsesAndExpiry() async throws {
        let server = try await TestServer.start { $0.registrationRequiresToken = true }
        defer { Task { await server.destroy() } }
        // Registration needs a token, so the first accounts are made as `hearth register-user` does.
        for (name, isAdmin) in [("admin", true), ("member", false)] {
            _ = try await server.homeserver.accounts.createAccount(userID: UserID("@\(name):hearth.test")!, password: "correct horse battery",
                                                                   isAdmin: isAdmin, inhibitLogin: true)
        }
        let admin = try await server.login("admin")
        let base = "/_synapse/admin/v1/registration_tokens"
        let notAdmin = try await server.login("member")
        try await server.get(base, notAdmin).expectError(403, "M_FORBIDDEN")

        let created = try await server.post(base + "/new", admin, ["token": "group-2026", "uses_allowed": 1])
        created.expectOK()
        #expect(created.json["token"] == "group-2026" && created.json["uses_allowed"] == 1 && created.json["completed"] == 0)
        let generated = try await server.post(base + "/new", admin, ["length": 20, "expiry_time": .int(Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000)])
        #expect(generated.json["token"]?.stringValue?.count == 20)
        try await server.post(base + "/new", admin, ["token": "group-2026"]).expectError(400, "M_INVALID_PARAM")
        try await server.post(base + "/new", admin, ["token": "bad token!"]).expectError(400, "M_INVALID_PARAM")

        // One registration, then the token is used up.
        try await Self.registerWithToken(server, "newcomer", "group-2026").expectOK()
        try await Self.registerWithToken(server, "second", "group-2026").expectError(401, "M_FORBIDDEN")
        #expect(try await server.get(base + "/group-2026", admin).json["completed"] == 1)
        #expect(try await server.get(base + "?valid=false", admin).json["registration_tokens"]?.arrayValue?.map { $0["token"] } == ["group-2026"])
        // Raising its uses lets the second person in; deleting it ends it.
        let raised = try await server.put(base + "/group-2026", admin, ["uses_allowed": 2])
        #expect(raised.json["uses_allowed"] == 2)
        try await Self.registerWithToken(server, "second", "group-2026").expectOK()
        try await server.delete(base + "/group-2026", admin).expectOK()
        try await server.get(base + "/group-2026", admin).expectError(404, "M_NOT_FOUND")
        try await Self.registerWithToken(server, "third", "group-2026").expectError(401, "M_FORBIDDEN")
    }
}

/// Verified professionals: shown after their name in every room, set by admins only.
@Suite(.serialized) struct ProfessionalRoleTests {
    @Test func aVerifiedCounsellorIsShownAsSuchInTheirRooms() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let admin = try await server.register("admin")
        try await server.homeserver.storage.accounts.setAdmin(UserID(admin.userID)!, true)
        let dana = try await server.register("dana")
        let member = try await server.register("member")
        try await server.put(TestServer.v3("/profile/\(dana.userID.urlPathEncoded)/displayname"), dana, ["displayname": "Dana"]).expectOK()
        let group = try await server.createRoom(member, ["preset": "public_chat"])
        try await server.join(dana, group)
        func shownName() async throws -> String? {
            try await server.get(TestServer.room(group, "/state/m.room.member/\(dana.userID.urlPathEncoded)"), member).json["displayname"]?.stringValue
        }
        #expect(try await shownName() == "Dana")

        let path = "/_hearth/admin/v1/users/\(dana.userID.urlPathEncoded)/role"
        try await server.put(path, member, ["role": "counsellor"]).expectError(403, "M_FORBIDDEN")
        try await server.put(path, admin, ["role": "counsellor", "label": "Counsellor"]).expectOK()
        #expect(try await shownName() == "Dana (✓ Counsellor)")
        let profile = try await server.get(TestServer.v3("/profile/\(dana.userID.urlPathEncoded)"), member)
        #expect(profile.json["org.hearth.verified_role"]?["role"] == "counsellor")
        #expect(profile.json["org.hearth.verified_role"]?["verified_by"]?.stringValue == admin.userID)
        // Rooms joined later show it too, and a new name keeps it.
        let later = try await server.createRoom(member, ["preset": "public_chat"])
        try await server.join(dana, later)
        let laterName = try await server.get(TestServer.room(later, "/state/m.room.member/\(dana.userID.urlPathEncoded)"), member)
        #expect(laterName.json["displayname"] == "Dana (✓ Counsellor)")
        try await server.put(TestServer.v3("/profile/\(dana.userID.urlPathEncoded)/displayname"), dana, ["displayname": "Dana R."]).expectOK()
        #expect(try await shownName() == "Dana R. (✓ Counsellor)")

        // Nobody can claim the mark or the field themselves.
        try await server.put(TestServer.v3("/profile/\(member.userID.urlPathEncoded)/displayname"), member,
                             ["displayname": "Sam (✓ Counsellor)"]).expectError(400, "M_INVALID_PARAM")
        try await server.put(TestServer.v3("/profile/\(member.userID.urlPathEncoded)/org.hearth.verified_role"), member,
                             ["org.hearth.verified_role": ["role": "counsellor", "label": "Counsellor"]]).expectError(403, "M_FORBIDDEN")
        try await server.put(TestServer.room(group, "/state/m.room.member/\(member.userID.urlPathEncoded)"), member,
                             ["membership": "join", "displayname": "Sam (✓ Counsellor)"]).expectError(400, "M_INVALID_PARAM")
        // Removing the role removes the mark.
        try await server.delete(path, admin).expectOK()
        #expect(try await shownName() == "Dana R.")
    }
}

/// Moderation policy lists (MSC2313) the server subscribes to, applied to joins and invites.
@Suite(.serialized) struct PolicyListTests {
    @Test func aBanRuleInASubscribedListKeepsUsersAndServersOut() async throws {
        // The list room is created first; its ID goes into the configuration.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-lists-\(UUID().uuidString)").path
        var listID = ""
        do {
            let first = try await TestServer.start { $0.dataDirectory = directory; $0.databasePath = directory + "/homeserver.db"
                $0.mediaStorePath = directory + "/media"; $0.signingKeyPath = directory + "/signing.key" }
            let moderator = try await first.register("moderator")
            listID = try await first.createRoom(moderator, ["preset": "private_chat", "name": "Ban list"])
            _ = try await first.setState(moderator, listID, "m.policy.rule.user", "rule-1",
                                         ["entity": "@troll*:hearth.test", "recommendation": "m.ban", "reason": "harassment"])
            _ = try await first.setState(moderator, listID, "m.policy.rule.server", "rule-2",
                                         ["entity": "*.badplace.example", "recommendation": "m.ban"])
            await first.stop()
        }
        let server = try await TestServer.start { config in
            config.dataDirectory = directory
            config.databasePath = directory + "/homeserver.db"
            config.mediaStorePath = directory + "/media"
            config.signingKeyPath = directory + "/signing.key"
            config.policy.policyLists = [RoomID(listID)!]
        }
        defer { Task { await server.destroy() } }
        let moderator = try await server.login("moderator")
        let troll = try await server.register("troll42")
        let member = try await server.register("member")
        let group = try await server.createRoom(member, ["preset": "public_chat"])

        let refused = try await server.post(TestServer.v3("/join/\(group.urlPathEncoded)"), troll)
        refused.expectError(403, "M_FORBIDDEN")
        #expect(refused.json["error"]?.stringValue?.contains("harassment") == true)
        try await server.post(TestServer.room(group, "/invite"), member, ["user_id": .string(troll.userID)]).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.room(group, "/invite"), member, ["user_id": "@x:chat.badplace.example"]).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.v3("/createRoom"), member, ["invite": .array([.string(troll.userID)])]).expectError(403, "M_FORBIDDEN")
        try await server.join(moderator, group)

        // Lifting the rule (emptying its state event) lets them in.
        _ = try await server.setState(moderator, listID, "m.policy.rule.user", "rule-1", [:])
        try await server.join(troll, group)
    }
}

/// Optional approval of new accounts by an administrator (MSC3866's M_USER_AWAITING_APPROVAL).
@Suite(.serialized) struct AccountApprovalTests {
    @Test func aNewAccountWaitsForAnAdministrator() async throws {
        let server = try await TestServer.start { $0.registrationRequiresApproval = true }
        defer { Task { await server.destroy() } }
        _ = try await server.homeserver.accounts.createAccount(userID: UserID("@admin:hearth.test")!, password: "correct horse battery",
                                                               isAdmin: true, inhibitLogin: true)
        let admin = try await server.login("admin")
        let first = try await server.post(TestServer.v3("/register"), nil, ["username": "newcomer", "password": "pw"])
        let session = try #require(first.json["session"]?.stringValue)
        let registered = try await server.post(TestServer.v3("/register"), nil, [
            "username": "newcomer", "password": "pw", "auth": ["type": "m.login.dummy", "session": .string(session)],
        ])
        registered.expectError(403, "M_USER_AWAITING_APPROVAL")
        #expect(registered.json["access_token"] == nil)
        let login: JSONValue = ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": "newcomer"], "password": "pw"]
        try await server.post(TestServer.v3("/login"), nil, login).expectError(403, "M_USER_AWAITING_APPROVAL")
        let pending = try await server.get("/_hearth/admin/v1/users/pending", admin)
        #expect(pending.json["users"]?.arrayValue?.map { $0["user_id"] } == ["@newcomer:hearth.test"])

        try await server.post("/_hearth/admin/v1/users/\("@newcomer:hearth.test".urlPathEncoded)/approve", admin).expectOK()
        try await server.post(TestServer.v3("/login"), nil, login).expectOK()
        #expect(try await server.get("/_hearth/admin/v1/users/pending", admin).json["users"]?.arrayValue?.isEmpty == true)
    }
}
