import Foundation
import HearthCore
import Testing

/// Profiles and their propagation into rooms.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#profiles
@Suite(.serialized) struct ProfileTests {
    @Test func getAndSetFields() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let path = TestServer.v3("/profile/\(alice.userID)")
        try await server.put(path + "/displayname", alice, ["displayname": "Alice A."]).expectOK()
        try await server.put(path + "/avatar_url", alice, ["avatar_url": "mxc://hearth.test/avatar"]).expectOK()
        let profile = try await server.get(path)
        #expect(profile.json == ["displayname": "Alice A.", "avatar_url": "mxc://hearth.test/avatar"])
        #expect(try await server.get(path + "/displayname").json == ["displayname": "Alice A."])
        #expect(try await server.get(path + "/avatar_url").json == ["avatar_url": "mxc://hearth.test/avatar"])
        // Clearing a field: null removes it.
        try await server.put(path + "/avatar_url", alice, ["avatar_url": nil]).expectOK()
        try await server.get(path + "/avatar_url").expectError(404, "M_NOT_FOUND")
        // Errors.
        let bob = try await server.register("bob")
        try await server.put(path + "/displayname", bob, ["displayname": "Mallory"]).expectError(403, "M_FORBIDDEN")
        try await server.put(path + "/displayname", nil, ["displayname": "x"]).expectError(401, "M_MISSING_TOKEN")
        try await server.put(path + "/displayname", alice, ["displayname": .string(String(repeating: "x", count: 300))])
            .expectError(400, "M_BAD_JSON")
        try await server.put(path + "/displayname", alice, ["displayname": 7]).expectError(400, "M_BAD_JSON")
        try await server.get(TestServer.v3("/profile/@nobody:hearth.test")).expectError(404, "M_NOT_FOUND")
        try await server.get(TestServer.v3("/profile/not-a-user")).expectError(400, "M_INVALID_PARAM")
    }

    @Test func extendedProfileFields() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let base = TestServer.v3("/profile/\(alice.userID)")
        #expect(try await server.get(TestServer.v3("/capabilities"), alice).json["capabilities"]?["m.profile_fields"]?["enabled"] == true)
        try await server.put(base + "/m.tz", alice, ["m.tz": "Europe/Berlin"]).expectOK()
        try await server.put(base + "/org.example.role", alice, ["org.example.role": ["title": "Nurse", "ward": 3]]).expectOK()
        try await server.put(base + "/org.example.pager", alice, ["org.example.pager": nil]).expectOK()
        let profile = try await server.get(base)
        #expect(profile.json["m.tz"] == "Europe/Berlin" && profile.json["org.example.role"]?["ward"] == 3)
        #expect(profile.json["org.example.pager"] == .null && profile.json["displayname"] == "alice")
        #expect(try await server.get(base + "/org.example.role").json == ["org.example.role": ["title": "Nurse", "ward": 3]])
        try await server.delete(base + "/org.example.role", alice).expectOK()
        try await server.get(base + "/org.example.role").expectError(404, "M_NOT_FOUND")
        try await server.delete(base + "/displayname", alice).expectOK()
        try await server.get(base + "/displayname").expectError(404, "M_NOT_FOUND")
        // Errors.
        try await server.put(base + "/m.tz", alice, ["other": "x"]).expectError(400, "M_MISSING_PARAM")
        try await server.put(base + "/m.tz", alice, ["m.tz": 5]).expectError(400, "M_BAD_JSON")
        try await server.put(base + "/NotNamespaced", alice, ["NotNamespaced": 1]).expectError(400, "M_INVALID_PARAM")
        let longKey = "org.example." + String(repeating: "k", count: 250)
        try await server.put(base + "/\(longKey)", alice, [longKey: 1]).expectError(400, "M_KEY_TOO_LARGE")
        try await server.put(base + "/org.example.big", alice, ["org.example.big": .string(String(repeating: "x", count: 70_000))])
            .expectError(400, "M_PROFILE_TOO_LARGE")
        try await server.put(base + "/m.tz", bob, ["m.tz": "UTC"]).expectError(403, "M_FORBIDDEN")
        try await server.delete(base + "/m.tz", bob).expectError(403, "M_FORBIDDEN")
        try await server.put(base + "/avatar_url", alice, ["avatar_url": "https://example.com/a.png"]).expectError(400, "M_BAD_JSON")
    }

    @Test func changesReachTheMemberEventsOfJoinedRooms() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let first = try await server.createRoom(alice)
        let second = try await server.createRoom(alice, ["preset": "public_chat"])
        let left = try await server.createRoom(alice, ["preset": "public_chat"])
        try await server.join(bob, second)
        try await server.post(TestServer.room(left, "/leave"), alice).expectOK()
        let since = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
        try await server.put(TestServer.v3("/profile/\(alice.userID)/displayname"), alice, ["displayname": "Dr. Alice"]).expectOK()
        for room in [first, second] {
            let member = try await server.get(TestServer.room(room, "/state/m.room.member/\(alice.userID.urlPathEncoded)"), alice)
            #expect(member.json["displayname"] == "Dr. Alice" && member.json["membership"] == "join")
        }
        // A room Alice left keeps her old member event.
        let old = try await server.get(TestServer.room(left, "/state/m.room.member/\(alice.userID.urlPathEncoded)"), alice)
        #expect(old.json["membership"] == "leave" && old.json["displayname"] == nil)
        // Bob sees the change in sync, with prev_content.
        let sync = try await server.sync(bob, since: since)
        let change = sync.joinedRoom(second)?["timeline"]?.events.first { $0["type"] == "m.room.member" }
        #expect(change?["content"]?["displayname"] == "Dr. Alice")
        #expect(change?["unsigned"]?["prev_content"]?["displayname"] == "alice")
        // joined_members shows the new name.
        let joined = try await server.get(TestServer.room(second, "/joined_members"), bob)
        #expect(joined.json["joined"]?[alice.userID]?["display_name"] == "Dr. Alice")
    }
}
