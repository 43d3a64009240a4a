import Foundation
import HearthCore
import Testing

/// Reading a room: /messages, /context, /members, /joined_members.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#getting-events-for-a-room
@Suite(.serialized) struct RoomReadTests {
    static func bodies(_ response: TestServer.Response) -> [String] {
        (response.json["chunk"]?.arrayValue ?? []).compactMap { $0["content"]?["body"]?.stringValue }
    }

    @Test func messagesInBothDirections() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        for i in 0..<12 { _ = try await server.send(alice, room, body: "m\(i)") }
        let filter = "&filter=" + #"{"types":["m.room.message"]}"#.urlQueryEncoded
        // Backwards from the end.
        let back = try await server.messages(alice, room, query: "dir=b&limit=5" + filter)
        #expect(Self.bodies(back) == ["m11", "m10", "m9", "m8", "m7"])
        let end = try #require(back.json["end"]?.stringValue)
        let back2 = try await server.messages(alice, room, query: "dir=b&limit=5&from=\(end.urlQueryEncoded)" + filter)
        #expect(Self.bodies(back2) == ["m6", "m5", "m4", "m3", "m2"])
        #expect(back2.json["start"]?.stringValue == end)
        // Forwards from the beginning, then from a token.
        let forward = try await server.messages(alice, room, query: "dir=f&limit=4" + filter)
        #expect(Self.bodies(forward) == ["m0", "m1", "m2", "m3"])
        let next = try #require(forward.json["end"]?.stringValue)
        let forward2 = try await server.messages(alice, room, query: "dir=f&limit=100&from=\(next.urlQueryEncoded)" + filter)
        #expect(Self.bodies(forward2) == (4..<12).map { "m\($0)" })
        // The end of history: no `end`.
        #expect(forward2.json["end"] == nil)
        let all = try await server.messages(alice, room, query: "dir=b&limit=1000")
        #expect(all.json["end"] == nil)
        #expect(all.json["chunk"]?.arrayValue?.last?["type"] == "m.room.create")
        // Forwards from a backwards token returns what comes after it, going the other way.
        let turned = try await server.messages(alice, room, query: "dir=f&limit=3&from=\(end.urlQueryEncoded)" + filter)
        #expect(Self.bodies(turned) == ["m7", "m8", "m9"])
        // `to` stops a page.
        let bounded = try await server.messages(alice, room, query: "dir=b&limit=50&to=\(end.urlQueryEncoded)" + filter)
        #expect(Self.bodies(bounded) == ["m11", "m10", "m9", "m8", "m7"])
    }

    @Test func messagesFromASyncPrevBatchReachTheStart() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        for i in 0..<30 { _ = try await server.send(alice, room, body: "m\(i)") }
        let sync = try await server.sync(alice, filter: #"{"room":{"timeline":{"limit":5}}}"#)
        let timeline = try #require(sync.joinedRoom(room)?["timeline"])
        #expect(timeline["limited"] == true)
        #expect(timeline.events.compactMap { $0["content"]?["body"]?.stringValue } == (25..<30).map { "m\($0)" })
        var from = try #require(timeline["prev_batch"]?.stringValue)
        var older: [String] = []
        for _ in 0..<20 {
            let page = try await server.messages(alice, room, query: "dir=b&limit=7&from=\(from.urlQueryEncoded)")
            older += Self.bodies(page)
            guard let end = page.json["end"]?.stringValue else { break }
            from = end
        }
        #expect(older == (0..<25).reversed().map { "m\($0)" })
        // A next_batch token works as `from` too.
        let nextBatch = try #require(sync["next_batch"]?.stringValue)
        let fromSync = try await server.messages(alice, room, query: "dir=b&limit=2&from=\(nextBatch.urlQueryEncoded)")
        #expect(Self.bodies(fromSync) == ["m29", "m28"])
    }

    @Test func messageFilters() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.publicRoom(alice, with: bob, carol)
        _ = try await server.send(alice, room, body: "from alice")
        _ = try await server.send(bob, room, body: "from bob")
        try await server.sendEvent(bob, room, type: "org.example.ping", ["n": 1])
        _ = try await server.send(alice, room, body: "alice again")
        func page(_ filter: String) async throws -> TestServer.Response {
            try await server.messages(alice, room, query: "dir=b&limit=50&filter=" + filter.urlQueryEncoded)
        }
        let types = try await page(#"{"types":["org.example.*"]}"#)
        #expect(types.json["chunk"]?.arrayValue?.map { $0["type"] } == ["org.example.ping"])
        let notTypes = try await page(#"{"not_types":["m.room.member","m.room.message"]}"#)
        #expect(notTypes.json["chunk"]?.arrayValue?.contains { $0["type"] == "m.room.message" || $0["type"] == "m.room.member" } == false)
        let senders = try await page(#"{"senders":["\#(bob.userID)"],"types":["m.room.message"]}"#)
        #expect(Self.bodies(senders) == ["from bob"])
        let notSenders = try await page(#"{"not_senders":["\#(alice.userID)"],"types":["m.room.message"]}"#)
        #expect(Self.bodies(notSenders) == ["from bob"])
        // lazy_load_members: the state holds the members of this page's senders only.
        let lazy = try await page(#"{"lazy_load_members":true,"types":["m.room.message"],"senders":["\#(bob.userID)"]}"#)
        let members = lazy.json["state"]?.arrayValue?.compactMap { $0["state_key"]?.stringValue } ?? []
        #expect(members == [bob.userID])
        try await server.messages(alice, room, query: "filter=%7Bnot-json").expectError(400, "M_BAD_JSON")
        try await server.messages(alice, room, query: "dir=x").expectError(400, "M_INVALID_PARAM")
        try await server.messages(alice, room, query: "dir=b&from=garbage").expectError(400, "M_INVALID_PARAM")
        try await server.messages(alice, room, query: "dir=b&limit=many").expectError(400, "M_INVALID_PARAM")
    }

    @Test func historyVisibilityLimitsWhatNewMembersSee() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.createRoom(alice, ["preset": "public_chat", "initial_state": [
            ["type": "m.room.history_visibility", "content": ["history_visibility": "joined"]],
        ]])
        _ = try await server.send(alice, room, body: "before bob")
        try await server.join(bob, room)
        _ = try await server.send(alice, room, body: "after bob")
        let page = try await server.messages(bob, room, query: "dir=b&limit=50&filter=" + #"{"types":["m.room.message"]}"#.urlQueryEncoded)
        #expect(Self.bodies(page) == ["after bob"])
        // Someone who never joined a non-world-readable room reads nothing.
        try await server.messages(carol, room, query: "dir=b").expectError(403, "M_FORBIDDEN")
    }

    @Test func context() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice, ["name": "Ctx"])
        var ids: [String] = []
        for i in 0..<9 { ids.append(try await server.send(alice, room, body: "c\(i)")) }
        let response = try await server.get(TestServer.room(room, "/context/\(ids[4].urlPathEncoded)?limit=4"), alice)
        response.expectOK()
        #expect(response.json["event"]?["event_id"]?.stringValue == ids[4])
        #expect(response.json["events_before"]?.eventIDs() == [ids[3], ids[2]])
        #expect(response.json["events_after"]?.eventIDs() == [ids[5], ids[6]])
        #expect(response.json["state"]?.arrayValue?.contains { $0["type"] == "m.room.name" } == true)
        // start and end continue pagination outwards.
        let start = try #require(response.json["start"]?.stringValue)
        let before = try await server.messages(alice, room, query: "dir=b&limit=2&from=\(start.urlQueryEncoded)")
        #expect(before.json["chunk"]?.eventIDs() == [ids[1], ids[0]])
        let end = try #require(response.json["end"]?.stringValue)
        let after = try await server.messages(alice, room, query: "dir=f&limit=5&from=\(end.urlQueryEncoded)")
        #expect(after.json["chunk"]?.eventIDs() == [ids[7], ids[8]])
        // A filter applies to the surrounding events.
        let filtered = try await server.get(TestServer.room(room, "/context/\(ids[0].urlPathEncoded)?limit=10&filter=" +
                                                           #"{"types":["m.room.name"]}"#.urlQueryEncoded), alice)
        #expect(filtered.json["events_before"]?.arrayValue?.map { $0["type"] } == ["m.room.name"])
        #expect(filtered.json["events_after"] == [])
        try await server.get(TestServer.room(room, "/context/%24nope"), alice).expectError(404, "M_NOT_FOUND")
    }

    @Test func roomInitialSync() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice, ["name": "Snapshot"])
        for i in 0..<5 { _ = try await server.send(alice, room, body: "s\(i)") }
        try await server.put(TestServer.v3("/user/\(alice.userID.urlPathEncoded)/rooms/\(room.urlPathEncoded)/account_data/org.example.x"), alice,
                             ["a": 1]).expectOK()
        let snapshot = try await server.get(TestServer.room(room, "/initialSync?limit=3"), alice)
        #expect(snapshot.json["room_id"]?.stringValue == room && snapshot.json["membership"] == "join")
        #expect(RoomReadTests.bodies(TestServer.Response(status: 200, json: snapshot.json["messages"] ?? nil, headers: [:], bytes: []))
                == ["s2", "s3", "s4"])
        #expect(snapshot.json["state"]?.arrayValue?.contains { $0["type"] == "m.room.name" } == true)
        #expect(snapshot.json["account_data"]?.arrayValue?.contains { $0["type"] == "org.example.x" } == true)
        #expect(snapshot.json["visibility"] == "private")
        // Paginating back from `start` continues before the snapshot.
        let start = try #require(snapshot.json["messages"]?["start"]?.stringValue)
        let older = try await server.messages(alice, room, query: "dir=b&limit=2&from=\(start.urlQueryEncoded)")
        #expect(RoomReadTests.bodies(older) == ["s1", "s0"])
        let bob = try await server.register("bob")
        try await server.get(TestServer.room(room, "/initialSync"), bob).expectError(403, "M_FORBIDDEN")
    }

    @Test func timestampToEvent() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        let first = try await server.send(alice, room, body: "first")
        try await Task.sleep(for: .milliseconds(30))
        let middle = Int64(Date().timeIntervalSince1970 * 1000)
        try await Task.sleep(for: .milliseconds(30))
        let second = try await server.send(alice, room, body: "second")
        let path = "/_matrix/client/v1/rooms/\(room.urlPathEncoded)/timestamp_to_event"
        let after = try await server.get(path + "?ts=\(middle)&dir=f", alice)
        #expect(after.json["event_id"]?.stringValue == second && after.json["origin_server_ts"]?.intValue ?? 0 >= middle)
        let before = try await server.get(path + "?ts=\(middle)&dir=b", alice)
        #expect(before.json["event_id"]?.stringValue == first)
        try await server.get(path + "?ts=\(middle + 3_600_000)&dir=f", alice).expectError(404, "M_NOT_FOUND")
        try await server.get(path + "?ts=1&dir=b", alice).expectError(404, "M_NOT_FOUND")
        try await server.get(path + "?dir=f", alice).expectError(400, "M_MISSING_PARAM")
        try await server.get(path + "?ts=1", alice).expectError(400, "M_MISSING_PARAM")
        try await server.get(path + "?ts=1&dir=x", alice).expectError(400, "M_INVALID_PARAM")
        let bob = try await server.register("bob")
        try await server.get(path + "?ts=\(middle)&dir=f", bob).expectError(403, "M_FORBIDDEN")
    }

    @Test func membersAtAPointAndByMembership() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.createRoom(alice, ["preset": "public_chat"])
        _ = try await server.send(alice, room, body: "only alice")
        let early = try await server.sync(alice, filter: #"{"room":{"timeline":{"limit":1}}}"#)
        let prevBatch = try #require(early.joinedRoom(room)?["timeline"]?["prev_batch"]?.stringValue)
        let nextBatch = try #require(early["next_batch"]?.stringValue)
        try await server.join(bob, room)
        try await server.invite(alice, room, carol)
        func members(_ query: String) async throws -> [String: String] {
            let response = try await server.get(TestServer.room(room, "/members" + query), alice)
            var result: [String: String] = [:]
            for event in response.json["chunk"]?.arrayValue ?? [] {
                result[event["state_key"]?.stringValue ?? ""] = event["content"]?["membership"]?.stringValue
            }
            return result
        }
        #expect(try await members("") == [alice.userID: "join", bob.userID: "join", carol.userID: "invite"])
        #expect(try await members("?membership=join") == [alice.userID: "join", bob.userID: "join"])
        #expect(try await members("?not_membership=join") == [carol.userID: "invite"])
        // `at` takes a sync token or a prev_batch, and answers with the members then.
        #expect(try await members("?at=\(nextBatch.urlQueryEncoded)") == [alice.userID: "join"])
        #expect(try await members("?at=\(prevBatch.urlQueryEncoded)") == [alice.userID: "join"])
        try await server.get(TestServer.room(room, "/members?membership=floating"), alice).expectError(400, "M_INVALID_PARAM")
        // joined_members: joined only, with profiles; members only.
        let joined = try await server.get(TestServer.room(room, "/joined_members"), alice)
        #expect(Set(joined.json["joined"]?.objectValue?.keys ?? []) == [alice.userID, bob.userID])
        #expect(joined.json["joined"]?[bob.userID]?["display_name"] == "bob")
        try await server.get(TestServer.room(room, "/joined_members"), carol).expectError(403, "M_FORBIDDEN")
        let dave = try await server.register("dave")
        try await server.get(TestServer.room(room, "/members"), dave).expectError(403, "M_FORBIDDEN")
    }
}
