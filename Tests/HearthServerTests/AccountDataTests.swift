import Foundation
import HearthCore
import Testing

/// Account data (global and per room) and room tags.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#client-config
@Suite(.serialized) struct AccountDataTests {
    @Test func globalAndRoomAccountData() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice)
        let global = TestServer.v3("/user/\(alice.userID.urlPathEncoded)/account_data/org.example.prefs")
        let perRoom = TestServer.v3("/user/\(alice.userID.urlPathEncoded)/rooms/\(room.urlPathEncoded)/account_data/org.example.prefs")
        try await server.get(global, alice).expectError(404, "M_NOT_FOUND")
        try await server.put(global, alice, ["font": "large"]).expectOK()
        try await server.put(perRoom, alice, ["font": "small"]).expectOK()
        #expect(try await server.get(global, alice).json == ["font": "large"])
        #expect(try await server.get(perRoom, alice).json == ["font": "small"])
        try await server.put(global, alice, ["font": "medium"]).expectOK()
        #expect(try await server.get(global, alice).json == ["font": "medium"])
        // m.direct, a type clients rely on, round-trips.
        let direct = TestServer.v3("/user/\(alice.userID.urlPathEncoded)/account_data/m.direct")
        let directContent: JSONValue = [bob.userID: .array([.string(room)])]
        try await server.put(direct, alice, directContent).expectOK()
        #expect(try await server.get(direct, alice).json[bob.userID] == [.string(room)])
        // Other users' data is off limits; server-managed types cannot be set here.
        try await server.get(global, bob).expectError(403, "M_FORBIDDEN")
        try await server.put(global, bob, [:]).expectError(403, "M_FORBIDDEN")
        try await server.put(TestServer.v3("/user/\(alice.userID.urlPathEncoded)/account_data/m.fully_read"), alice, [:]).expectError(405, "M_BAD_JSON")
        try await server.put(TestServer.v3("/user/\(alice.userID.urlPathEncoded)/account_data/m.push_rules"), alice, [:]).expectError(405, "M_BAD_JSON")
        try await server.put(TestServer.v3("/user/\(alice.userID.urlPathEncoded)/rooms/\(room.urlPathEncoded)/account_data/m.fully_read"), alice, [:])
            .expectError(405, "M_BAD_JSON")
        try await server.put(TestServer.v3("/user/\(alice.userID.urlPathEncoded)/rooms/not-a-room/account_data/x"), alice, [:]).expectError(400, "M_INVALID_PARAM")
        try await server.request("PUT", global, token: alice.token, body: Array("[]".utf8), contentType: "application/json").expectError(400, "M_NOT_JSON")
    }

    @Test func tags() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice)
        let base = TestServer.v3("/user/\(alice.userID.urlPathEncoded)/rooms/\(room.urlPathEncoded)/tags")
        #expect(try await server.get(base, alice).json == ["tags": [:]])
        let since = try #require(try await server.sync(alice)["next_batch"]?.stringValue)
        try await server.put(base + "/m.favourite", alice, ["order": 0.25]).expectOK()
        try await server.put(base + "/u.work", alice, [:]).expectOK()
        let tags = try await server.get(base, alice)
        #expect(tags.json["tags"]?["m.favourite"]?["order"] == 0.25)
        #expect(tags.json["tags"]?["u.work"] == [:])
        let sync = try await server.sync(alice, since: since)
        let tagEvent = sync.joinedRoom(room)?["account_data"]?.events.first { $0["type"] == "m.tag" }
        #expect(tagEvent?["content"]?["tags"]?["u.work"] != nil)
        try await server.delete(base + "/u.work", alice).expectOK()
        #expect(try await server.get(base, alice).json["tags"]?["u.work"] == nil)
        try await server.get(base, bob).expectError(403, "M_FORBIDDEN")
        try await server.put(base + "/x", bob, [:]).expectError(403, "M_FORBIDDEN")
        try await server.put(base + "/m.lowpriority", alice, ["order": "first"]).expectError(400, "M_BAD_JSON")
    }
}
