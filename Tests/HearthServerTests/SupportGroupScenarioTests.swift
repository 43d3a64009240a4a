import Foundation
import HearthCore
import HearthHomeserver
import Testing

/// A whole support group, through the client API as members' clients use it: a verified
/// facilitator runs a local-only group with an agreement and a 30-day retention; members join
/// with invitation tokens and accept the agreement; one posts anonymously, one reports a
/// message and the facilitator removes it; a member exports, then erases their data.
@Suite(.serialized) struct SupportGroupScenarioTests {
    @Test func aSupportGroupFromFirstTokenToErasure() async throws {
        var policy = OrganizationPolicy()
        policy.rooms.defaultClass = .localOnly
        let server = try await TestServer.start { config in
            config.policy = policy
            config.registrationRequiresToken = true
            config.retention.enabled = true
            config.retention.allowedLifetimeMin = 86_400_000
        }
        defer { Task { await server.destroy() } }
        _ = try await server.homeserver.accounts.createAccount(userID: UserID("@admin:hearth.test")!, password: "correct horse battery",
                                                               isAdmin: true, inhibitLogin: true)
        let admin = try await server.login("admin")

        // Invitation tokens, then accounts made with them.
        let token = try #require(try await server.post("/_synapse/admin/v1/registration_tokens/new", admin, ["uses_allowed": 3])
            .json["token"]?.stringValue)
        func join(_ name: String) async throws -> TestServer.User {
            let answer = try await RegistrationTokenAdminTests.registerWithToken(server, name, token)
            answer.expectOK()
            return TestServer.User(userID: answer.json["user_id"]?.stringValue ?? "", token: answer.json["access_token"]?.stringValue ?? "",
                                   deviceID: answer.json["device_id"]?.stringValue ?? "")
        }
        let facilitator = try await join("facilitator")
        let ana = try await join("ana")
        let ben = try await join("ben")
        try await RegistrationTokenAdminTests.registerWithToken(server, "dave", token).expectError(401, "M_FORBIDDEN")
        try await server.put("/_hearth/admin/v1/users/\(facilitator.userID.urlPathEncoded)/role", admin,
                             ["role": "facilitator", "label": "Facilitator"]).expectOK()

        // The group: local-only by the server's policy, with an agreement, a lifetime and pseudonyms allowed.
        let group = try await server.createRoom(facilitator, [
            "preset": "public_chat", "name": "Thursday group",
            "initial_state": [
                ["type": "org.hearth.agreement", "state_key": "", "content": ["version": "1", "text": "What is shared here stays here."]],
                ["type": "m.room.retention", "state_key": "", "content": ["max_lifetime": 2_592_000_000]],
                ["type": "org.hearth.pseudonyms", "state_key": "", "content": ["enabled": true]],
            ],
        ])
        #expect(try await server.get("/_hearth/admin/v1/rooms/\(group.urlPathEncoded)/class", facilitator).json["class"] == "local_only")
        let facilitatorMember = try await server.get(TestServer.room(group, "/state/m.room.member/\(facilitator.userID.urlPathEncoded)"), facilitator)
        #expect(facilitatorMember.json["displayname"]?.stringValue?.hasSuffix("(✓ Facilitator)") == true)

        // Members accept the agreement on the page their client links to, then join.
        for member in [ana, ben] {
            let refused = try await server.post(TestServer.v3("/join/\(group.urlPathEncoded)"), member)
            refused.expectError(403, "M_CONSENT_NOT_GIVEN")
            try await AgreementTests.accept(server, try #require(refused.json["consent_uri"]?.stringValue))
            try await server.join(member, group)
        }
        let acceptances = try await server.get("/_hearth/admin/v1/rooms/\(group.urlPathEncoded)/agreement/acceptances", facilitator)
        #expect(acceptances.json["acceptances"]?.arrayValue?.count == 3)

        // Ben posts anonymously through the relay; Ana says something hurtful, Ben reports it.
        let dm = try await PseudonymTests.relayChat(server, ben)
        _ = try await PseudonymTests.lastReply(server, ben, dm, after: 0)
        _ = try await server.sendEvent(ben, dm, type: "m.room.message", ["msgtype": "m.text", "body": .string("anon \(group) I relapsed this week")])
        #expect(try await PseudonymTests.lastReply(server, ben, dm, after: 1) == "Posted as Anonymous.")
        let anonymousPost = try #require(try await PseudonymTests.timeline(server, facilitator, group)
            .first { $0["content"]?["body"] == "I relapsed this week" })
        #expect(anonymousPost["sender"]?.stringValue != ben.userID)
        let hurtful = try await server.sendEvent(ana, group, type: "m.room.message", ["msgtype": "m.text", "body": "ana-hurtful-1212"])
        _ = try await server.sendEvent(ana, group, type: "m.room.message", ["msgtype": "m.text", "body": "ana-kind-1313"])
        try await server.post(TestServer.room(group, "/report/\(hurtful.urlPathEncoded)"), ben, ["reason": "hurtful"]).expectOK()
        let reports = try await server.get("/_hearth/admin/v1/reports", facilitator).json["reports"]?.arrayValue ?? []
        let report = try #require(reports.first { $0["event_id"]?.stringValue == hurtful })
        try await server.post("/_hearth/admin/v1/reports/\(report["id"]?.intValue ?? 0)/resolve", facilitator,
                              ["resolution": "removed", "remove_event": true]).expectOK()
        #expect(try await server.get(TestServer.room(group, "/event/\(hurtful.urlPathEncoded)"), ben).json["content"] == [:])

        // Ana takes her data and leaves for good.
        let archive = try await server.get("/_hearth/client/v1/export", ana).json
        let bodies = (archive["events"]?.arrayValue ?? []).compactMap { $0["content"]?["body"]?.stringValue }
        #expect(bodies.contains("ana-kind-1313") && !bodies.contains("ana-hurtful-1212"))
        #expect(RetentionTests.onDisk(server, "ana-kind-1313"))
        try await AccountTests.withPassword(server, "POST", TestServer.v3("/account/deactivate"), ana, password: "pw",
                                            body: ["erase": true]).expectOK()
        #expect(!RetentionTests.onDisk(server, "ana-kind-1313"))
        #expect(!RetentionTests.onDisk(server, "ana-hurtful-1212"))

        // Thirty days on, the rest of the conversation is gone too.
        #expect(RetentionTests.onDisk(server, "I relapsed this week"))
        let later = Int64(Date().timeIntervalSince1970 * 1000) + 2_592_000_000 + 60_000
        _ = try await server.homeserver.expireMessages(now: later)
        #expect(!RetentionTests.onDisk(server, "I relapsed this week"))
    }
}
