import Foundation
import HearthCore
import Testing

/// /sync and filters.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#syncing
@Suite(.serialized) struct SyncTests {
    @Test func filtersUploadFetchAndUse() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let path = TestServer.v3("/user/\(alice.userID.urlPathEncoded)/filter")
        let filter: JSONValue = ["room": ["timeline": ["limit": 2, "types": ["m.room.message"]]], "presence": ["not_types": ["*"]]]
        let created = try await server.post(path, alice, filter)
        created.expectOK()
        let id = try #require(created.json["filter_id"]?.stringValue)
        #expect(try await server.get(path + "/\(id)", alice).json == filter)
        try await server.get(path + "/\(id)", bob).expectError(403, "M_FORBIDDEN")
        try await server.get(path + "/nope", alice).expectError(404, "M_NOT_FOUND")
        try await server.post(path, bob, [:]).expectError(403, "M_FORBIDDEN")
        // Invalid filters are refused with M_BAD_JSON.
        for bad: JSONValue in [["room": ["timeline": ["limit": "ten"]]], ["room": "everything"], ["event_format": "xml"],
                                ["presence": ["types": [1]]], ["event_fields": "content"]] {
            try await server.post(path, alice, bad).expectError(400, "M_BAD_JSON")
        }
        // The stored filter shapes the sync.
        let room = try await server.createRoom(alice)
        for i in 0..<4 { _ = try await server.send(alice, room, body: "s\(i)") }
        let sync = try await server.sync(alice, filter: id)
        let timeline = sync.joinedRoom(room)?["timeline"]
        #expect(timeline?.events.compactMap { $0["content"]?["body"]?.stringValue } == ["s2", "s3"])
        #expect(timeline?["limited"] == true)
        // Inline filters too; a broken inline filter or unknown ID is an error.
        let inline = try await server.sync(alice, filter: #"{"room":{"timeline":{"limit":1}}}"#)
        #expect(inline.joinedRoom(room)?["timeline"]?.events.count == 1)
        try await server.get(TestServer.v3("/sync?filter=%7Bbroken"), alice).expectError(400, "M_BAD_JSON")
        try await server.get(TestServer.v3("/sync?filter=999999"), alice).expectError(404, "M_NOT_FOUND")
        try await server.get(TestServer.v3("/sync?since=rubbish"), alice).expectError(400, "M_UNKNOWN_POS")
        try await server.get(TestServer.v3("/sync?timeout=soon"), alice).expectError(400, "M_INVALID_PARAM")
        try await server.get(TestServer.v3("/sync")).expectError(401, "M_MISSING_TOKEN")
    }

    @Test func initialAndIncrementalWithStateTimelineSplit() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice, ["name": "Ward 1"])
        for i in 0..<3 { _ = try await server.send(alice, room, body: "i\(i)") }
        let initial = try await server.sync(alice, filter: #"{"room":{"timeline":{"limit":2}}}"#)
        let section = try #require(initial.joinedRoom(room))
        let timelineIDs = Set(section["timeline"]?.events.eventIDs() ?? [])
        let state = section["state"]?.events ?? []
        // State is the state at the start of the timeline, and nothing is in both.
        #expect(state.contains { $0["type"] == "m.room.name" && $0["content"]?["name"] == "Ward 1" })
        #expect(state.contains { $0["type"] == "m.room.create" })
        #expect(Set(state.eventIDs()).isDisjoint(with: timelineIDs))
        #expect(section["summary"]?["m.joined_member_count"] == 1)
        #expect(section["unread_notifications"]?["notification_count"] == 0)
        let since = try #require(initial["next_batch"]?.stringValue)
        // Nothing new: an empty incremental sync.
        let quiet = try await server.sync(alice, since: since)
        #expect(quiet.joinedRoom(room) == nil)
        // A state change inside the timeline appears in the timeline only.
        try await server.setState(alice, room, "m.room.topic", "", ["topic": "Quiet please"])
        _ = try await server.send(alice, room, body: "after")
        let next = try await server.sync(alice, since: since)
        let update = try #require(next.joinedRoom(room))
        #expect(update["timeline"]?.events.map { $0["type"] } == ["m.room.topic", "m.room.message"])
        #expect(update["timeline"]?["limited"] == false)
        #expect(update["state"]?.events == [])
        // A gap bigger than the limit: limited, the changed state in `state`.
        let since2 = try #require(next["next_batch"]?.stringValue)
        try await server.setState(alice, room, "m.room.name", "", ["name": "Ward 2"])
        for i in 0..<5 { _ = try await server.send(alice, room, body: "g\(i)") }
        let gap = try await server.sync(alice, since: since2, filter: #"{"room":{"timeline":{"limit":2}}}"#)
        let gapRoom = try #require(gap.joinedRoom(room))
        #expect(gapRoom["timeline"]?["limited"] == true)
        #expect(gapRoom["state"]?.events.contains { $0["type"] == "m.room.name" && $0["content"]?["name"] == "Ward 2" } == true)
        // The gap can be filled from prev_batch.
        let prev = try #require(gapRoom["timeline"]?["prev_batch"]?.stringValue)
        let fill = try await server.messages(alice, room, query: "dir=b&limit=3&from=\(prev.urlQueryEncoded)")
        #expect(RoomReadTests.bodies(fill) == ["g2", "g1", "g0"])
    }

    @Test func lazyLoadedMembers() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice, ["preset": "public_chat"])
        var users: [TestServer.User] = []
        for name in ["b1", "b2", "b3", "b4"] {
            let user = try await server.register(name)
            try await server.join(user, room)
            users.append(user)
        }
        _ = try await server.send(users[0], room, body: "one")
        _ = try await server.send(users[1], room, body: "two")
        let lazy = #"{"room":{"timeline":{"limit":2},"state":{"lazy_load_members":true}}}"#
        let sync = try await server.sync(alice, filter: lazy)
        let members = Set(sync.joinedRoom(room)?["state"]?.events.filter { $0["type"] == "m.room.member" }
            .compactMap { $0["state_key"]?.stringValue } ?? [])
        #expect(members == [alice.userID, users[0].userID, users[1].userID])
        #expect(sync.joinedRoom(room)?["summary"]?["m.joined_member_count"] == 5)
        // Incrementally, a new sender's member event comes along.
        let since = try #require(sync["next_batch"]?.stringValue)
        _ = try await server.send(users[3], room, body: "four")
        let next = try await server.sync(alice, since: since, filter: lazy)
        let newMembers = next.joinedRoom(room)?["state"]?.events.compactMap { $0["state_key"]?.stringValue } ?? []
        #expect(newMembers == [users[3].userID])
        // Without lazy loading, every member is in the state (or the timeline).
        let full = try await server.sync(alice, filter: #"{"room":{"timeline":{"limit":2}}}"#)
        #expect(full.joinedRoom(room)?["state"]?.events.filter { $0["type"] == "m.room.member" }.count == 5)
    }

    @Test func inviteAndLeaveSections() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, ["name": "Invite only"])
        let since = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
        try await server.invite(alice, room, bob)
        let invited = try await server.sync(bob, since: since)
        let strip = invited["rooms"]?["invite"]?[room]?["invite_state"]?.events ?? []
        #expect(strip.contains { $0["type"] == "m.room.name" && $0["content"]?["name"] == "Invite only" })
        #expect(strip.allSatisfy { $0["event_id"] == nil })
        try await server.join(bob, room)
        let joined = try await server.sync(bob, since: try #require(invited["next_batch"]?.stringValue))
        #expect(joined.joinedRoom(room)?["state"]?.events.contains { $0["type"] == "m.room.name" } == true
                || joined.joinedRoom(room)?["timeline"]?.events.contains { $0["type"] == "m.room.name" } == true)
        #expect(joined["rooms"]?["invite"]?[room] == nil)
        // Kicked: the room moves to `leave` with the kick in its timeline.
        let beforeKick = try #require(joined["next_batch"]?.stringValue)
        _ = try await server.send(alice, room, body: "bye bob")
        try await server.post(TestServer.room(room, "/kick"), alice, ["user_id": .string(bob.userID)]).expectOK()
        _ = try await server.send(alice, room, body: "bob cannot see this")
        let left = try await server.sync(bob, since: beforeKick)
        let leave = try #require(left["rooms"]?["leave"]?[room])
        let bodies = leave["timeline"]?.events.compactMap { $0["content"]?["body"]?.stringValue } ?? []
        #expect(bodies == ["bye bob"])
        #expect(leave["timeline"]?.events.last?["content"]?["membership"] == "leave")
        #expect(left.joinedRoom(room) == nil)
    }

    @Test func accountDataTypingReceiptsAndPrivateReceipts() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        let message = try await server.send(alice, room, body: "read me")
        let aliceSince = try #require(try await server.sync(alice)["next_batch"]?.stringValue)
        let bobSince = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
        try await server.put(TestServer.v3("/user/\(bob.userID.urlPathEncoded)/account_data/org.example.settings"), bob, ["theme": "dark"]).expectOK()
        try await server.put(TestServer.v3("/user/\(bob.userID.urlPathEncoded)/rooms/\(room.urlPathEncoded)/account_data/org.example.pin"), bob, ["pinned": true]).expectOK()
        try await server.post(TestServer.room(room, "/receipt/m.read.private/\(message.urlPathEncoded)"), bob).expectOK()
        try await server.put(TestServer.room(room, "/typing/\(bob.userID.urlPathEncoded)"), bob, ["typing": true, "timeout": 30000]).expectOK()
        let bobSync = try await server.sync(bob, since: bobSince)
        #expect(bobSync["account_data"]?.events.contains { $0["type"] == "org.example.settings" && $0["content"]?["theme"] == "dark" } == true)
        let bobRoom = try #require(bobSync.joinedRoom(room))
        #expect(bobRoom["account_data"]?.events.contains { $0["type"] == "org.example.pin" } == true)
        let bobEphemeral = bobRoom["ephemeral"]?.events ?? []
        #expect(bobEphemeral.contains { $0["type"] == "m.receipt" && $0["content"]?[message]?["m.read.private"]?[bob.userID] != nil })
        #expect(bobEphemeral.contains { $0["type"] == "m.typing" && $0["content"]?["user_ids"] == [.string(bob.userID)] })
        // Alice sees Bob typing but not his private receipt, nor his account data.
        let aliceSync = try await server.sync(alice, since: aliceSince)
        let aliceEphemeral = aliceSync.joinedRoom(room)?["ephemeral"]?.events ?? []
        #expect(aliceEphemeral.contains { $0["type"] == "m.typing" && $0["content"]?["user_ids"] == [.string(bob.userID)] })
        #expect(!aliceEphemeral.contains { $0["type"] == "m.receipt" })
        #expect(aliceSync["account_data"]?.events.contains { $0["type"] == "org.example.settings" } != true)
        // A public receipt is shared.
        let aliceSince2 = try #require(aliceSync["next_batch"]?.stringValue)
        try await server.post(TestServer.room(room, "/receipt/m.read/\(message.urlPathEncoded)"), bob, ["thread_id": "main"]).expectOK()
        let shared = try await server.sync(alice, since: aliceSince2)
        let receipt = shared.joinedRoom(room)?["ephemeral"]?.events.first { $0["type"] == "m.receipt" }
        #expect(receipt?["content"]?[message]?["m.read"]?[bob.userID]?["thread_id"] == "main")
        #expect(receipt?["content"]?[message]?["m.read.private"] == nil)
    }

    @Test func unreadCountsFollowThePushRules() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.publicRoom(alice, with: bob, carol)
        _ = try await server.send(alice, room, body: "good morning")
        _ = try await server.send(alice, room, body: "how are you")
        // An m.mentions mention highlights; since v1.17 a display name in the body does not
        // (the legacy mention rules were removed).
        _ = try await server.send(alice, room, body: "bob, please call")
        let mention = try await server.sendEvent(alice, room, type: "m.room.message",
                                                 ["msgtype": "m.text", "body": "see above", "m.mentions": ["user_ids": [.string(bob.userID)]]])
        let counts = try await server.sync(bob).joinedRoom(room)?["unread_notifications"]
        #expect(counts?["notification_count"] == 4)
        #expect(counts?["highlight_count"] == 1)
        // Carol was not mentioned.
        #expect(try await server.sync(carol).joinedRoom(room)?["unread_notifications"]?["highlight_count"] == 0)
        // Reading up to the mention clears them.
        try await server.post(TestServer.room(room, "/receipt/m.read/\(mention.urlPathEncoded)"), bob).expectOK()
        let cleared = try await server.sync(bob).joinedRoom(room)?["unread_notifications"]
        #expect(cleared?["notification_count"] == 0 && cleared?["highlight_count"] == 0)
        // The sender's own messages never count.
        #expect(try await server.sync(alice).joinedRoom(room)?["unread_notifications"]?["notification_count"] == 0)
        // Turning the message rule off (dont_notify) stops counting plain messages.
        try await server.post(TestServer.room(room, "/receipt/m.read/\(mention.urlPathEncoded)"), carol).expectOK()
        try await server.put(TestServer.v3("/pushrules/global/underride/.m.rule.message/actions"), carol, ["actions": []]).expectOK()
        _ = try await server.send(alice, room, body: "quiet one")
        #expect(try await server.sync(carol).joinedRoom(room)?["unread_notifications"]?["notification_count"] == 0)
        #expect(try await server.sync(bob).joinedRoom(room)?["unread_notifications"]?["notification_count"] == 1)
    }

    @Test func longPollWakesOnNewData() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        let since = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
        // A quiet long poll waits for its timeout.
        let waitStart = ContinuousClock.now
        let quiet = try await server.sync(bob, since: since, timeout: 500)
        #expect(ContinuousClock.now - waitStart >= .milliseconds(450))
        #expect(quiet.joinedRoom(room) == nil)
        for kind in ["message", "typing", "account data"] {
            let token = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
            async let woken = server.sync(bob, since: token, timeout: 30_000)
            try await Task.sleep(for: .milliseconds(200))
            let sent = ContinuousClock.now
            switch kind {
            case "message": _ = try await server.send(alice, room, body: "ping")
            case "typing":
                try await server.put(TestServer.room(room, "/typing/\(alice.userID.urlPathEncoded)"), alice, ["typing": true]).expectOK()
            default:
                try await server.put(TestServer.v3("/user/\(bob.userID.urlPathEncoded)/account_data/org.example.x"), bob, ["a": 1]).expectOK()
            }
            let result = try await woken
            // Woken by the data, not by the 30 s timeout; latency itself is a benchmark
            // (Scripts/compare-synapse.sh), not a timed test.
            #expect(ContinuousClock.now - sent < .seconds(15), "\(kind) did not wake the long poll")
            #expect(result["next_batch"]?.stringValue != token, "\(kind)")
        }
    }
}
