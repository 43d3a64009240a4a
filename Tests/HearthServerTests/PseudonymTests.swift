import Foundation
import GRDB
import HearthCore
import HearthHomeserver
import Testing

/// Pseudonymous and anonymous posting through the relay account, from an ordinary client:
/// the member only sends direct messages.
@Suite(.serialized) struct PseudonymTests {
    static func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting until \(what)")
        throw TestError("timed out: \(what)")
    }

    /// Timeline events of a room, oldest first (as a moderator would page through them).
    static func timeline(_ server: TestServer, _ user: TestServer.User, _ room: String) async throws -> [JSONValue] {
        let page = try await server.get(TestServer.room(room, "/messages?dir=b&limit=100"), user)
        return (page.json["chunk"]?.arrayValue ?? []).reversed()
    }

    /// Opens a direct chat with the relay and waits for it to join.
    static func relayChat(_ server: TestServer, _ member: TestServer.User) async throws -> String {
        let dm = try await server.createRoom(member, ["is_direct": true, "preset": "trusted_private_chat", "invite": ["@anonymous:hearth.test"]])
        try await eventually("the relay joins") {
            try await server.homeserver.rooms.membership(of: UserID("@anonymous:hearth.test")!, in: RoomID(dm)!) == "join"
        }
        return dm
    }

    static func lastReply(_ server: TestServer, _ member: TestServer.User, _ dm: String, after count: Int) async throws -> String {
        var reply = ""
        try await eventually("the relay answers") {
            let notices = try await timeline(server, member, dm).filter { $0["sender"] == "@anonymous:hearth.test" && $0["content"]?["msgtype"] == "m.notice" }
            guard notices.count > count else { return false }
            reply = notices.last?["content"]?["body"]?.stringValue ?? ""
            return true
        }
        return reply
    }

    @Test func aMemberPostsUnderAPseudonymThatOnlyBreakGlassLinksToThem() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let facilitator = try await server.register("facilitator")
        let member = try await server.register("member")
        let admin = try await server.register("admin")
        try await server.homeserver.storage.accounts.setAdmin(UserID(admin.userID)!, true)
        let group = try await server.createRoom(facilitator, [
            "preset": "private_chat",
            "initial_state": [["type": "org.hearth.pseudonyms", "state_key": "", "content": ["enabled": true, "keep_link": true]]],
        ])
        try await server.invite(facilitator, group, member)
        try await server.join(member, group)
        let dm = try await Self.relayChat(server, member)
        let greetings = try await Self.lastReply(server, member, dm, after: 0)
        #expect(greetings.contains("post <room> <text>"))

        _ = try await server.sendEvent(member, dm, type: "m.room.message", ["msgtype": "m.text", "body": .string("post \(group) I have been struggling this week")])
        let reply = try await Self.lastReply(server, member, dm, after: 1)
        #expect(reply.hasPrefix("Posted as "))
        // The reply names the pseudonym, so it does not stay: it self-destructs.
        let replies = try await Self.timeline(server, member, dm).filter { $0["sender"] == "@anonymous:hearth.test" && $0["type"] == "m.room.message" }
        #expect(replies.allSatisfy { $0["content"]?["m.self_destruct_after"]?.intValue != nil })
        var posts = try await Self.timeline(server, facilitator, group).filter { $0["content"]?["body"] == "I have been struggling this week" }
        let mask = try #require(posts.first?["sender"]?.stringValue)
        #expect(mask != member.userID && mask.hasPrefix("@p-"))
        // Nothing in the room ties the pseudonym to the member: no event of the room names both.
        for event in try await Self.timeline(server, facilitator, group) {
            let text = event.encodedString()
            #expect(!(text.contains(mask) && text.contains(member.userID)), "\(text)")
        }
        // The same pseudonym each time, under the same name.
        _ = try await server.sendEvent(member, dm, type: "m.room.message", ["msgtype": "m.text", "body": .string("post \(group) Thank you all")])
        #expect(try await Self.lastReply(server, member, dm, after: 2) == reply)
        posts = try await Self.timeline(server, facilitator, group).filter { $0["content"]?["body"] == "Thank you all" }
        #expect(posts.first?["sender"]?.stringValue == mask)
        // The stored link is sealed: the member's ID is not in it.
        let row = try await DatabaseQueue(path: server.config.databasePath).read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM pseudonym_masks WHERE mask_id = ?", arguments: [mask])
        }
        let sealed = try #require(row?["sealed_member"] as Data?)
        #expect(!Array(sealed).contains(subsequence: Array(member.userID.utf8)))

        // A moderator bans the pseudonym without knowing who it is; the member cannot come back under a new one.
        try await server.post(TestServer.room(group, "/ban"), facilitator, ["user_id": .string(mask), "reason": "rules"]).expectOK()
        _ = try await server.sendEvent(member, dm, type: "m.room.message", ["msgtype": "m.text", "body": .string("post \(group) again")])
        #expect(try await Self.lastReply(server, member, dm, after: 3).contains("banned"))
        _ = try await server.sendEvent(member, dm, type: "m.room.message", ["msgtype": "m.text", "body": .string("anon \(group) again")])
        #expect(try await Self.lastReply(server, member, dm, after: 4).contains("banned"))

        // Break glass: only an admin, only with a reason, and it is audited.
        let reveal = "/_hearth/admin/v1/pseudonyms/\(mask.urlPathEncoded)/reveal"
        try await server.post(reveal, facilitator, ["reason": "safety"]).expectError(403, "M_FORBIDDEN")
        try await server.post(reveal, admin, [:]).expectError(400, "M_MISSING_PARAM")
        let revealed = try await server.post(reveal, admin, ["reason": "risk of harm reported"])
        #expect(revealed.json["user_id"]?.stringValue == member.userID)
        let audit = try await server.get("/_hearth/admin/v1/audit?data_kind=pseudonym", admin)
        let record = try #require(audit.json["records"]?.arrayValue?.first)
        #expect(record["reason"] == "risk of harm reported" && record["user_id"]?.stringValue == admin.userID && record["kind"] == "break_glass")
    }

    @Test func anonymousPostsAndFeedbackKeepNoLink() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let facilitator = try await server.register("facilitator")
        let member = try await server.register("member")
        let admin = try await server.register("admin")
        try await server.homeserver.storage.accounts.setAdmin(UserID(admin.userID)!, true)
        let group = try await server.createRoom(facilitator, [
            "preset": "public_chat",
            "initial_state": [["type": "org.hearth.pseudonyms", "state_key": "", "content": ["enabled": true, "keep_link": false]]],
        ])
        let closed = try await server.createRoom(facilitator, ["preset": "public_chat"])
        try await server.join(member, group)
        try await server.join(member, closed)
        // Nobody can register as the relay or as a pseudonym.
        for reserved in ["anonymous", "p-abcdefghijkl"] {
            try await server.post(TestServer.v3("/register"), nil, ["username": .string(reserved), "password": "pw"]).expectError(400, "M_USER_IN_USE")
        }
        let dm = try await Self.relayChat(server, member)
        _ = try await Self.lastReply(server, member, dm, after: 0)

        _ = try await server.sendEvent(member, dm, type: "m.room.message", ["msgtype": "m.text", "body": .string("anon \(group) Something I can't say with my name")])
        #expect(try await Self.lastReply(server, member, dm, after: 1) == "Posted as Anonymous.")
        let post = try #require(try await Self.timeline(server, facilitator, group).first { $0["content"]?["body"] == "Something I can't say with my name" })
        let anonymous = try #require(post["sender"]?.stringValue)
        try await server.post("/_hearth/admin/v1/pseudonyms/\(anonymous.urlPathEncoded)/reveal", admin, ["reason": "check"])
            .expectError(404, "M_NOT_FOUND")
        _ = try await server.sendEvent(member, dm, type: "m.room.message", ["msgtype": "m.text", "body": .string("post \(group) mine")])
        #expect(try await Self.lastReply(server, member, dm, after: 2).hasPrefix("Posted as "))
        let mine = try #require(try await Self.timeline(server, facilitator, group).first { $0["content"]?["body"] == "mine" })
        try await server.post("/_hearth/admin/v1/pseudonyms/\((mine["sender"]?.stringValue ?? "").urlPathEncoded)/reveal", admin,
                              ["reason": "check"]).expectError(404, "M_NOT_FOUND")

        // A room that does not allow pseudonyms, and a room the member is not in.
        _ = try await server.sendEvent(member, dm, type: "m.room.message", ["msgtype": "m.text", "body": .string("post \(closed) hi")])
        #expect(try await Self.lastReply(server, member, dm, after: 3).contains("does not allow"))
        // Feedback reaches the moderators' queue without the member's name.
        _ = try await server.sendEvent(member, dm, type: "m.room.message", ["msgtype": "m.text", "body": .string("feedback \(closed) The sessions start too late")])
        _ = try await Self.lastReply(server, member, dm, after: 4)
        let queue = try await server.get("/_hearth/admin/v1/reports?room_id=\(closed.urlPathEncoded)", facilitator)
        let feedback = try #require(queue.json["reports"]?.arrayValue?.first)
        #expect(feedback["reason"] == "Anonymous feedback: The sessions start too late" && feedback["reporter"] == "@anonymous:hearth.test")
    }
}
