import Foundation
import HearthCore
import Testing

/// Typing, receipts, read markers and presence.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#typing-notifications
@Suite(.serialized) struct EphemeralTests {
    static func typing(_ sync: JSONValue, _ room: String) -> [JSONValue]? {
        sync.joinedRoom(room)?["ephemeral"]?.events.first { $0["type"] == "m.typing" }?["content"]?["user_ids"]?.arrayValue
    }

    @Test func typingStartsStopsAndExpires() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        let path = TestServer.room(room, "/typing/\(alice.userID.urlPathEncoded)")
        try await server.put(path, alice, ["typing": true, "timeout": 20_000]).expectOK()
        #expect(Self.typing(try await server.sync(bob), room) == [.string(alice.userID)])
        try await server.put(path, alice, ["typing": false]).expectOK()
        #expect(Self.typing(try await server.sync(bob), room) == [])
        // A short timeout ends typing by itself, and a waiting sync hears of it.
        try await server.put(path, alice, ["typing": true, "timeout": 300]).expectOK()
        let since = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
        let start = ContinuousClock.now
        let expired = try await server.sync(bob, since: since, timeout: 30_000)
        #expect(ContinuousClock.now - start < .seconds(15), "the expiry did not wake the long poll")
        #expect(Self.typing(expired, room) == [])
        // Errors.
        try await server.put(TestServer.room(room, "/typing/\(bob.userID.urlPathEncoded)"), alice, ["typing": true]).expectError(403, "M_FORBIDDEN")
        try await server.put(path, alice, [:]).expectError(400, "M_MISSING_PARAM")
        let carol = try await server.register("carol")
        try await server.put(TestServer.room(room, "/typing/\(carol.userID.urlPathEncoded)"), carol, ["typing": true]).expectError(403, "M_FORBIDDEN")
    }

    @Test func receiptsIncludingThreaded() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        let root = try await server.send(alice, room, body: "thread root")
        let reply = try await server.sendEvent(alice, room, type: "m.room.message", [
            "msgtype": "m.text", "body": "in thread", "m.relates_to": ["rel_type": "m.thread", "event_id": .string(root)],
        ])
        try await server.post(TestServer.room(room, "/receipt/m.read/\(reply.urlPathEncoded)"), bob, ["thread_id": .string(root)]).expectOK()
        try await server.post(TestServer.room(room, "/receipt/m.read/\(root.urlPathEncoded)"), bob, ["thread_id": "main"]).expectOK()
        let receipts = try await server.sync(alice).joinedRoom(room)?["ephemeral"]?.events.first { $0["type"] == "m.receipt" }
        #expect(receipts?["content"]?[reply]?["m.read"]?[bob.userID]?["thread_id"]?.stringValue == root)
        #expect(receipts?["content"]?[root]?["m.read"]?[bob.userID]?["thread_id"] == "main")
        #expect(receipts?["content"]?[root]?["m.read"]?[bob.userID]?["ts"]?.intValue != nil)
        // Errors.
        try await server.post(TestServer.room(room, "/receipt/m.seen/\(root.urlPathEncoded)"), bob).expectError(400, "M_INVALID_PARAM")
        try await server.post(TestServer.room(room, "/receipt/m.read/\(root.urlPathEncoded)"), bob, ["thread_id": "nonsense"]).expectError(400, "M_INVALID_PARAM")
        try await server.post(TestServer.room(room, "/receipt/m.read/%24missing"), bob).expectError(404, "M_NOT_FOUND")
        let carol = try await server.register("carol")
        try await server.post(TestServer.room(room, "/receipt/m.read/\(root.urlPathEncoded)"), carol).expectError(403, "M_FORBIDDEN")
        // m.fully_read through the receipt endpoint moves the read marker.
        try await server.post(TestServer.room(room, "/receipt/m.fully_read/\(root.urlPathEncoded)"), bob).expectOK()
        let marker = try await server.get(TestServer.v3("/user/\(bob.userID.urlPathEncoded)/rooms/\(room.urlPathEncoded)/account_data/m.fully_read"), bob)
        #expect(marker.json["event_id"]?.stringValue == root)
    }

    @Test func readMarkers() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        let first = try await server.send(alice, room, body: "one")
        let second = try await server.send(alice, room, body: "two")
        try await server.post(TestServer.room(room, "/read_markers"), bob, [
            "m.fully_read": .string(first), "m.read": .string(second), "m.read.private": .string(second),
        ]).expectOK()
        let sync = try await server.sync(bob)
        let section = try #require(sync.joinedRoom(room))
        #expect(section["account_data"]?.events.contains { $0["type"] == "m.fully_read" && $0["content"]?["event_id"]?.stringValue == first } == true)
        let receipt = section["ephemeral"]?.events.first { $0["type"] == "m.receipt" }
        #expect(receipt?["content"]?[second]?["m.read"]?[bob.userID] != nil)
        #expect(receipt?["content"]?[second]?["m.read.private"]?[bob.userID] != nil)
        #expect(section["unread_notifications"]?["notification_count"] == 0)
        try await server.post(TestServer.room(room, "/read_markers"), bob, ["m.fully_read": "not-an-id"]).expectError(400, "M_INVALID_PARAM")
        try await server.post(TestServer.room(room, "/read_markers"), bob, ["m.fully_read": "$missing"]).expectError(404, "M_NOT_FOUND")
    }

    @Test func presence() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        let since = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
        let path = TestServer.v3("/presence/\(alice.userID.urlPathEncoded)/status")
        try await server.put(path, alice, ["presence": "unavailable", "status_msg": "In surgery"]).expectOK()
        let status = try await server.get(path, bob)
        #expect(status.json["presence"] == "unavailable" && status.json["status_msg"] == "In surgery")
        #expect(status.json["last_active_ago"]?.intValue != nil && status.json["currently_active"] == false)
        let sync = try await server.sync(bob, since: since, filter: #"{"room":{"rooms":[]}}"#)
        let event = sync["presence"]?.events.first { $0["sender"]?.stringValue == alice.userID }
        #expect(event?["type"] == "m.presence" && event?["content"]?["presence"] == "unavailable")
        #expect(event?["content"]?["status_msg"] == "In surgery")
        // Errors.
        try await server.put(path, bob, ["presence": "online"]).expectError(403, "M_FORBIDDEN")
        try await server.put(path, alice, ["presence": "asleep"]).expectError(400, "M_INVALID_PARAM")
        try await server.put(path, alice, [:]).expectError(400, "M_MISSING_PARAM")
        try await server.get(TestServer.v3("/presence/@nobody:hearth.test/status"), bob).expectError(404, "M_NOT_FOUND")
        try await server.get(path).expectError(401, "M_MISSING_TOKEN")
    }
}
