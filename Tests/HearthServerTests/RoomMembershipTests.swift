import Foundation
import HearthCore
import Testing

/// Joining, inviting, leaving, forgetting, kicking, banning, knocking.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#room-membership
@Suite(.serialized) struct RoomMembershipTests {
    static func membership(_ server: TestServer, _ viewer: TestServer.User, _ room: String, _ user: TestServer.User) async throws -> String? {
        try await server.get(TestServer.room(room, "/state/m.room.member/\(user.userID.urlPathEncoded)"), viewer).json["membership"]?.stringValue
    }

    @Test func joinByIDAndAlias() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.createRoom(alice, ["preset": "public_chat", "room_alias_name": "lobby"])
        let byAlias = try await server.post(TestServer.v3("/join/%23lobby:hearth.test"), bob, ["reason": "hi"])
        byAlias.expectOK()
        #expect(byAlias.json["room_id"]?.stringValue == room)
        let byID = try await server.post(TestServer.room(room, "/join"), carol)
        #expect(byID.json["room_id"]?.stringValue == room)
        let member = try await server.get(TestServer.room(room, "/state/m.room.member/\(bob.userID.urlPathEncoded)"), alice)
        #expect(member.json["membership"] == "join" && member.json["reason"] == "hi" && member.json["displayname"] == "bob")
        // Joining twice is harmless.
        try await server.post(TestServer.room(room, "/join"), carol).expectOK()
        let joined = try await server.get(TestServer.v3("/joined_rooms"), carol)
        #expect(joined.json["joined_rooms"] == [.string(room)])
        // Errors.
        try await server.post(TestServer.v3("/join/%23nowhere:hearth.test"), bob).expectError(404, "M_NOT_FOUND")
        try await server.post(TestServer.v3("/join/!unknown:hearth.test"), bob).expectError(404, "M_NOT_FOUND")
        try await server.post(TestServer.v3("/join/garbage"), bob).expectError(400, "M_INVALID_PARAM")
        let closed = try await server.createRoom(alice)
        try await server.post(TestServer.room(closed, "/join"), bob).expectError(403, "M_FORBIDDEN")
    }

    @Test func inviteRules() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.createRoom(alice)
        // Carol is not in the room, so she cannot invite.
        try await server.post(TestServer.room(room, "/invite"), carol, ["user_id": .string(bob.userID)]).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.room(room, "/invite"), alice, ["user_id": .string(bob.userID), "reason": "join us"]).expectOK()
        #expect(try await Self.membership(server, alice, room, bob) == "invite")
        try await server.join(bob, room)
        // Inviting a joined member is refused by the auth rules.
        try await server.post(TestServer.room(room, "/invite"), alice, ["user_id": .string(bob.userID)]).expectError(403, "M_FORBIDDEN")
        // Raising the invite level stops Bob inviting Carol.
        try await server.setState(alice, room, "m.room.power_levels", "", [
            "invite": 50, "users": [:], "events": ["m.room.power_levels": 100], "state_default": 50, "events_default": 0,
        ])
        try await server.post(TestServer.room(room, "/invite"), bob, ["user_id": .string(carol.userID)]).expectError(403, "M_FORBIDDEN")
        // Bad input.
        try await server.post(TestServer.room(room, "/invite"), alice, [:]).expectError(400, "M_MISSING_PARAM")
        try await server.post(TestServer.room(room, "/invite"), alice, ["user_id": "carol"]).expectError(400, "M_INVALID_PARAM")
        try await server.post(TestServer.room(room, "/invite"), alice, ["user_id": "@ghost:hearth.test"]).expectError(404, "M_NOT_FOUND")
        // Declining an invite is leaving.
        try await server.invite(alice, room, carol)
        try await server.post(TestServer.room(room, "/leave"), carol).expectOK()
        #expect(try await Self.membership(server, alice, room, carol) == "leave")
    }

    @Test func leaveAndForget() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        try await server.post(TestServer.room(room, "/forget"), bob).expectError(400, "M_UNKNOWN")
        try await server.post(TestServer.room(room, "/leave"), bob).expectOK()
        #expect(try await server.get(TestServer.v3("/joined_rooms"), bob).json["joined_rooms"] == [])
        // A left room appears with include_leave, until forgotten.
        let filter = #"{"room":{"include_leave":true}}"#
        #expect(try await server.sync(bob, filter: filter)["rooms"]?["leave"]?[room] != nil)
        try await server.post(TestServer.room(room, "/forget"), bob).expectOK()
        #expect(try await server.sync(bob, filter: filter)["rooms"]?["leave"]?[room] == nil)
        // Leaving a room one is not in is refused.
        try await server.post(TestServer.room(room, "/leave"), bob).expectError(403, "M_FORBIDDEN")
        // Forgetting an unknown room: 404 or 403 both hide nothing; Hearth says not found.
        try await server.post(TestServer.room("!nope:hearth.test", "/forget"), bob).expectError(404, "M_NOT_FOUND")
    }

    @Test func kickBanUnban() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.publicRoom(alice, with: bob, carol)
        // Bob has no power to kick or ban.
        try await server.post(TestServer.room(room, "/kick"), bob, ["user_id": .string(carol.userID)]).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.room(room, "/ban"), bob, ["user_id": .string(carol.userID)]).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.room(room, "/kick"), alice, ["user_id": .string(carol.userID), "reason": "spam"]).expectOK()
        let kicked = try await server.get(TestServer.room(room, "/state/m.room.member/\(carol.userID.urlPathEncoded)"), alice)
        #expect(kicked.json["membership"] == "leave" && kicked.json["reason"] == "spam")
        // A kicked user may come back to a public room; a banned one may not.
        try await server.join(carol, room)
        try await server.post(TestServer.room(room, "/ban"), alice, ["user_id": .string(carol.userID), "reason": "again"]).expectOK()
        #expect(try await Self.membership(server, alice, room, carol) == "ban")
        try await server.post(TestServer.room(room, "/join"), carol).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.room(room, "/unban"), bob, ["user_id": .string(carol.userID)]).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.room(room, "/unban"), alice, ["user_id": .string(carol.userID)]).expectOK()
        #expect(try await Self.membership(server, alice, room, carol) == "leave")
        try await server.join(carol, room)
        // Kicking someone not in the room is refused.
        let dave = try await server.register("dave")
        try await server.post(TestServer.room(room, "/kick"), alice, ["user_id": .string(dave.userID)]).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.room(room, "/kick"), alice, [:]).expectError(400, "M_MISSING_PARAM")
        // Banning someone who never joined works (pre-emptive ban).
        try await server.post(TestServer.room(room, "/ban"), alice, ["user_id": .string(dave.userID)]).expectOK()
        try await server.post(TestServer.room(room, "/join"), dave).expectError(403, "M_FORBIDDEN")
    }

    @Test func knocking() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, [
            "room_alias_name": "knockme",
            "initial_state": [["type": "m.room.join_rules", "content": ["join_rule": "knock"]]],
        ])
        let knock = try await server.post(TestServer.v3("/knock/%23knockme:hearth.test"), bob, ["reason": "let me in"])
        knock.expectOK()
        #expect(knock.json["room_id"]?.stringValue == room)
        let bobSync = try await server.sync(bob)
        let knockState = bobSync["rooms"]?["knock"]?[room]?["knock_state"]?.events ?? []
        #expect(knockState.contains { $0["type"] == "m.room.join_rules" && $0["content"]?["join_rule"] == "knock" })
        #expect(knockState.contains { $0["type"] == "m.room.member" && $0["content"]?["membership"] == "knock" })
        // Alice sees the knock and lets Bob in with an invite.
        let aliceSync = try await server.sync(alice)
        let timeline = aliceSync.joinedRoom(room)?["timeline"]?.events ?? []
        #expect(timeline.contains { $0["type"] == "m.room.member" && $0["content"]?["membership"] == "knock" && $0["content"]?["reason"] == "let me in" })
        try await server.invite(alice, room, bob)
        try await server.join(bob, room)
        #expect(try await Self.membership(server, alice, room, bob) == "join")
        // Knocking is refused where the join rule is not knock, and in versions before 7.
        let carol = try await server.register("carol")
        let closed = try await server.createRoom(alice)
        try await server.post(TestServer.v3("/knock/\(closed.urlPathEncoded)"), carol).expectError(403, "M_FORBIDDEN")
        let old = try await server.createRoom(alice, [
            "room_version": "6", "initial_state": [["type": "m.room.join_rules", "content": ["join_rule": "knock"]]],
        ])
        try await server.post(TestServer.v3("/knock/\(old.urlPathEncoded)"), carol).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.v3("/knock/%23nowhere:hearth.test"), carol).expectError(404, "M_NOT_FOUND")
        // A member cannot knock.
        try await server.post(TestServer.v3("/knock/\(room.urlPathEncoded)"), bob).expectError(403, "M_FORBIDDEN")
    }

    @Test func mutualRooms() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let shared = try await server.publicRoom(alice, with: bob)
        _ = try await server.createRoom(alice)
        let left = try await server.publicRoom(alice, with: bob)
        try await server.post(TestServer.room(left, "/leave"), bob).expectOK()
        let response = try await server.get("/_matrix/client/v1/mutual_rooms?user_id=\(bob.userID.urlQueryEncoded)", alice)
        #expect(response.json["joined"] == [.string(shared)] && response.json["count"] == 1 && response.json["next_batch"] == nil)
        #expect(try await server.get("/_matrix/client/v1/mutual_rooms?user_id=@nobody:hearth.test", alice).json["joined"] == [])
        try await server.get("/_matrix/client/v1/mutual_rooms", alice).expectError(400, "M_MISSING_PARAM")
        try await server.get("/_matrix/client/v1/mutual_rooms?user_id=\(alice.userID.urlQueryEncoded)", alice).expectError(400, "M_INVALID_PARAM")
        try await server.get("/_matrix/client/v1/mutual_rooms?user_id=\(bob.userID.urlQueryEncoded)&from=x", alice).expectError(400, "M_INVALID_PARAM")
    }

    @Test func membershipEndpointsNeedAuth() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        for path in ["/join/!x:hearth.test", "/rooms/!x:hearth.test/leave", "/rooms/!x:hearth.test/invite", "/knock/!x:hearth.test",
                     "/rooms/!x:hearth.test/kick", "/rooms/!x:hearth.test/ban", "/rooms/!x:hearth.test/unban", "/rooms/!x:hearth.test/forget"] {
            try await server.post(TestServer.v3(path)).expectError(401, "M_MISSING_TOKEN")
        }
        try await server.get(TestServer.v3("/joined_rooms")).expectError(401, "M_MISSING_TOKEN")
    }
}
