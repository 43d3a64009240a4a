import Foundation
import HearthCore
import Testing

/// Server-side search.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-side-search
@Suite(.serialized) struct SearchTests {
    static func search(_ server: TestServer, _ user: TestServer.User, _ criteria: JSONObject,
                       next: String? = nil) async throws -> TestServer.Response {
        try await server.post(TestServer.v3("/search" + (next.map { "?next_batch=\($0.urlQueryEncoded)" } ?? "")), user,
                              ["search_categories": ["room_events": .object(criteria)]])
    }

    static func bodies(_ response: TestServer.Response) -> [String] {
        (response.json["search_categories"]?["room_events"]?["results"]?.arrayValue ?? [])
            .compactMap { $0["result"]?["content"]?["body"]?.stringValue }
    }

    @Test func searchRoomEvents() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.publicRoom(alice, with: bob)
        let other = try await server.createRoom(alice, ["name": "Blood results"])
        _ = try await server.send(alice, room, body: "Blood test at nine")
        _ = try await server.send(bob, room, body: "the BLOOD bank is closed")
        _ = try await server.send(alice, room, body: "unrelated")
        let secret = try await server.send(alice, other, body: "blood pressure log")
        let typo = try await server.send(bob, room, body: "blood sugar 100%_ok")

        // Every word must match, case-insensitively; newest first; only rooms the user is in.
        let bobs = try await Self.search(server, bob, ["search_term": "blood"])
        bobs.expectOK()
        #expect(Self.bodies(bobs) == ["blood sugar 100%_ok", "the BLOOD bank is closed", "Blood test at nine"])
        #expect(bobs.json["search_categories"]?["room_events"]?["count"] == 3)
        #expect(bobs.json["search_categories"]?["room_events"]?["highlights"] == ["blood"])
        #expect(Self.bodies(try await Self.search(server, bob, ["search_term": "blood test"])) == ["Blood test at nine"])
        // LIKE's wildcards are matched literally.
        #expect(Self.bodies(try await Self.search(server, bob, ["search_term": "100%_"])) == ["blood sugar 100%_ok"])
        #expect(Self.bodies(try await Self.search(server, bob, ["search_term": "0%o"])) == [])
        let alices = try await Self.search(server, alice, ["search_term": "blood"])
        #expect(Self.bodies(alices).contains("blood pressure log"))
        #expect(Self.bodies(try await Self.search(server, carol, ["search_term": "blood"])) == [])
        // Keys: a room name matches through content.name only.
        let names = try await Self.search(server, alice, ["search_term": "results", "keys": ["content.name"]])
        #expect(names.json["search_categories"]?["room_events"]?["results"]?.arrayValue?.first?["result"]?["type"] == "m.room.name")
        #expect(Self.bodies(try await Self.search(server, alice, ["search_term": "results", "keys": ["content.body"]])) == [])
        // Filters and pagination.
        let filtered = try await Self.search(server, alice, ["search_term": "blood", "filter": ["rooms": [.string(other)]]])
        // (The room's name, "Blood results", matches too.)
        let inOther = filtered.json["search_categories"]?["room_events"]?["results"]?.arrayValue ?? []
        #expect(inOther.compactMap { $0["result"]?["event_id"]?.stringValue }.first == secret)
        #expect(inOther.map { $0["result"]?["type"] } == ["m.room.message", "m.room.name"])
        #expect(inOther.allSatisfy { $0["result"]?["room_id"]?.stringValue == other })
        let senders = try await Self.search(server, alice, ["search_term": "blood", "filter": ["senders": [.string(bob.userID)]]])
        #expect(Self.bodies(senders) == ["blood sugar 100%_ok", "the BLOOD bank is closed"])
        let first = try await Self.search(server, bob, ["search_term": "blood", "filter": ["limit": 2]])
        #expect(Self.bodies(first).count == 2)
        let next = try #require(first.json["search_categories"]?["room_events"]?["next_batch"]?.stringValue)
        let second = try await Self.search(server, bob, ["search_term": "blood", "filter": ["limit": 2]], next: next)
        #expect(Self.bodies(second) == ["Blood test at nine"])
        #expect(second.json["search_categories"]?["room_events"]?["next_batch"] == nil)
        // Context, profiles and state.
        let withContext = try await Self.search(server, bob, [
            "search_term": "sugar", "event_context": ["before_limit": 1, "after_limit": 1, "include_profile": true], "include_state": true,
        ])
        let result = withContext.json["search_categories"]?["room_events"]?["results"]?.arrayValue?.first
        #expect(result?["result"]?["event_id"]?.stringValue == typo)
        #expect(result?["context"]?["events_before"]?.arrayValue?.count == 1)
        #expect(result?["context"]?["profile_info"]?[bob.userID]?["displayname"] == "bob")
        #expect(withContext.json["search_categories"]?["room_events"]?["state"]?[room]?.arrayValue?.isEmpty == false)
        // Redacted events are not found.
        let bank = try #require(bobs.json["search_categories"]?["room_events"]?["results"]?.arrayValue?[1]["result"]?["event_id"]?.stringValue)
        try await server.put(TestServer.room(room, "/redact/\(bank.urlPathEncoded)/r"), bob).expectOK()
        #expect(!Self.bodies(try await Self.search(server, bob, ["search_term": "bank"])).contains("the BLOOD bank is closed"))
        // Errors.
        try await server.post(TestServer.v3("/search"), bob, [:]).expectError(400, "M_MISSING_PARAM")
        try await Self.search(server, bob, [:]).expectError(400, "M_MISSING_PARAM")
        try await Self.search(server, bob, ["search_term": "x", "keys": ["content.secret"]]).expectError(400, "M_BAD_JSON")
        try await Self.search(server, bob, ["search_term": "x"], next: "garbage").expectError(400, "M_INVALID_PARAM")
        try await server.post(TestServer.v3("/search"), nil, [:]).expectError(401, "M_MISSING_TOKEN")
    }
}
