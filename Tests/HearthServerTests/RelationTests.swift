import Foundation
import HearthCore
import Testing

/// Relations, threads and bundled aggregations.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#relationships
@Suite(.serialized) struct RelationTests {
    static func reply(_ server: TestServer, _ user: TestServer.User, _ room: String, to root: String, _ body: String) async throws -> String {
        try await server.sendEvent(user, room, type: "m.room.message", [
            "msgtype": "m.text", "body": .string(body), "m.relates_to": ["rel_type": "m.thread", "event_id": .string(root)],
        ])
    }

    static func relations(_ server: TestServer, _ user: TestServer.User, _ room: String, _ rest: String) async throws -> TestServer.Response {
        try await server.get("/_matrix/client/v1/rooms/\(room.urlPathEncoded)/relations/\(rest)", user)
    }

    @Test func threadsAndTheirAggregation() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.publicRoom(alice, with: bob, carol)
        let root = try await server.send(alice, room, body: "Shift swap on Friday?")
        let first = try await Self.reply(server, bob, room, to: root, "I can")
        _ = try await Self.reply(server, alice, room, to: root, "Great")
        let last = try await Self.reply(server, bob, room, to: root, "Done")
        let otherRoot = try await server.send(carol, room, body: "Lunch?")
        _ = try await Self.reply(server, carol, room, to: otherRoot, "12:30")
        _ = first

        // The root carries the thread summary wherever it is served.
        let event = try await server.get(TestServer.room(room, "/event/\(root.urlPathEncoded)"), carol)
        let thread = try #require(event.json["unsigned"]?["m.relations"]?["m.thread"])
        #expect(thread["count"] == 3 && thread["latest_event"]?["event_id"]?.stringValue == last)
        #expect(thread["current_user_participated"] == false)
        let forBob = try await server.get(TestServer.room(room, "/event/\(root.urlPathEncoded)"), bob)
        #expect(forBob.json["unsigned"]?["m.relations"]?["m.thread"]?["current_user_participated"] == true)
        let sync = try await server.sync(alice, filter: #"{"room":{"timeline":{"limit":50}}}"#)
        let inSync = sync.joinedRoom(room)?["timeline"]?.events.first { $0["event_id"]?.stringValue == root }
        #expect(inSync?["unsigned"]?["m.relations"]?["m.thread"]?["count"] == 3)

        // /threads: most recently active first, paginated, and per participant.
        let threadsPath = "/_matrix/client/v1/rooms/\(room.urlPathEncoded)/threads"
        let all = try await server.get(threadsPath, alice)
        #expect(all.json["chunk"]?.eventIDs() == [otherRoot, root])
        #expect(all.json["chunk"]?.arrayValue?.last?["unsigned"]?["m.relations"]?["m.thread"]?["count"] == 3)
        let page = try await server.get(threadsPath + "?limit=1", alice)
        #expect(page.json["chunk"]?.eventIDs() == [otherRoot])
        let next = try #require(page.json["next_batch"]?.stringValue)
        let page2 = try await server.get(threadsPath + "?limit=1&from=\(next.urlQueryEncoded)", alice)
        #expect(page2.json["chunk"]?.eventIDs() == [root] && page2.json["next_batch"] == nil)
        let bobs = try await server.get(threadsPath + "?include=participated", bob)
        #expect(bobs.json["chunk"]?.eventIDs() == [root])
        let carols = try await server.get(threadsPath + "?include=participated", carol)
        #expect(carols.json["chunk"]?.eventIDs() == [otherRoot])
        try await server.get(threadsPath + "?include=some", alice).expectError(400, "M_INVALID_PARAM")
        try await server.get(threadsPath + "?from=bogus", alice).expectError(400, "M_INVALID_PARAM")
    }

    @Test func relationsEndpointFiltersAndPaginates() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        let root = try await server.send(alice, room, body: "root")
        var replies: [String] = []
        for i in 0..<5 { replies.append(try await Self.reply(server, alice, room, to: root, "r\(i)")) }
        let reaction = try await server.sendEvent(alice, room, type: "m.reaction", [
            "m.relates_to": ["rel_type": "m.annotation", "event_id": .string(root), "key": "👍"],
        ])
        let all = try await Self.relations(server, alice, room, root.urlPathEncoded)
        #expect(all.json["chunk"]?.eventIDs() == [reaction] + replies.reversed())
        #expect(all.json["recursion_depth"] == nil)
        let threadOnly = try await Self.relations(server, alice, room, "\(root.urlPathEncoded)/m.thread?limit=2")
        #expect(threadOnly.json["chunk"]?.eventIDs() == [replies[4], replies[3]])
        let next = try #require(threadOnly.json["next_batch"]?.stringValue)
        let more = try await Self.relations(server, alice, room, "\(root.urlPathEncoded)/m.thread?limit=10&from=\(next.urlQueryEncoded)")
        #expect(more.json["chunk"]?.eventIDs() == [replies[2], replies[1], replies[0]])
        #expect(more.json["next_batch"] == nil && more.json["prev_batch"]?.stringValue == next)
        let forwards = try await Self.relations(server, alice, room, "\(root.urlPathEncoded)/m.thread?dir=f&limit=3")
        #expect(forwards.json["chunk"]?.eventIDs() == Array(replies.prefix(3)))
        let byType = try await Self.relations(server, alice, room, "\(root.urlPathEncoded)/m.annotation/m.reaction")
        #expect(byType.json["chunk"]?.eventIDs() == [reaction])
        let wrongType = try await Self.relations(server, alice, room, "\(root.urlPathEncoded)/m.annotation/m.room.message")
        #expect(wrongType.json["chunk"] == [])
        // A redacted child no longer relates.
        try await server.put(TestServer.room(room, "/redact/\(reaction.urlPathEncoded)/x"), alice).expectOK()
        let afterRedaction = try await Self.relations(server, alice, room, "\(root.urlPathEncoded)/m.annotation")
        #expect(afterRedaction.json["chunk"] == [])
        // The parent must be visible.
        let bob = try await server.register("bob")
        try await Self.relations(server, bob, room, root.urlPathEncoded).expectError(404, "M_NOT_FOUND")
        try await Self.relations(server, alice, room, "%24nothing").expectError(404, "M_NOT_FOUND")
        try await Self.relations(server, alice, room, "\(root.urlPathEncoded)?dir=up").expectError(400, "M_INVALID_PARAM")
    }

    @Test func editsReferencesAndRecursion() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        let original = try await server.send(alice, room, body: "I like cake")
        func edit(_ user: TestServer.User, _ body: String) async throws -> String {
            try await server.sendEvent(user, room, type: "m.room.message", [
                "msgtype": "m.text", "body": .string("* " + body), "m.new_content": ["msgtype": "m.text", "body": .string(body)],
                "m.relates_to": ["rel_type": "m.replace", "event_id": .string(original)],
            ])
        }
        _ = try await edit(alice, "I like chocolate cake")
        let latest = try await edit(alice, "I like lemon cake")
        _ = try await edit(bob, "Bob cannot edit Alice's message")
        let reference = try await server.sendEvent(bob, room, type: "m.room.message", [
            "msgtype": "m.text", "body": "see this", "m.relates_to": ["rel_type": "m.reference", "event_id": .string(original)],
        ])
        let event = try await server.get(TestServer.room(room, "/event/\(original.urlPathEncoded)"), bob)
        let relations = try #require(event.json["unsigned"]?["m.relations"])
        #expect(relations["m.replace"]?["event_id"]?.stringValue == latest)
        #expect(relations["m.replace"]?["content"]?["m.new_content"]?["body"] == "I like lemon cake")
        // The original's content is left as it was.
        #expect(event.json["content"]?["body"] == "I like cake")
        #expect(relations["m.reference"]?["chunk"] == [["event_id": .string(reference)]])
        // /messages bundles too.
        let page = try await server.messages(bob, room, query: "dir=b&limit=20")
        let inPage = page.json["chunk"]?.arrayValue?.first { $0["event_id"]?.stringValue == original }
        #expect(inPage?["unsigned"]?["m.relations"]?["m.replace"]?["event_id"]?.stringValue == latest)

        // recurse: a thread reply's edit relates to the root through the reply.
        let root = try await server.send(alice, room, body: "root")
        let reply = try await Self.reply(server, alice, room, to: root, "typo")
        let replyEdit = try await server.sendEvent(alice, room, type: "m.room.message", [
            "msgtype": "m.text", "body": "* typo fixed", "m.new_content": ["msgtype": "m.text", "body": "typo fixed"],
            "m.relates_to": ["rel_type": "m.replace", "event_id": .string(reply)],
        ])
        let direct = try await Self.relations(server, alice, room, "\(root.urlPathEncoded)?recurse=false")
        #expect(direct.json["chunk"]?.eventIDs() == [reply] && direct.json["recursion_depth"] == 1)
        let deep = try await Self.relations(server, alice, room, "\(root.urlPathEncoded)?recurse=true")
        #expect(deep.json["chunk"]?.eventIDs() == [replyEdit, reply] && deep.json["recursion_depth"] == 2)

        // A redacted original has no m.replace bundled.
        try await server.put(TestServer.room(room, "/redact/\(original.urlPathEncoded)/r"), alice).expectOK()
        let redacted = try await server.get(TestServer.room(room, "/event/\(original.urlPathEncoded)"), bob)
        #expect(redacted.json["unsigned"]?["m.relations"]?["m.replace"] == nil)
    }
}
