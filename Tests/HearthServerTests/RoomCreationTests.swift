import Foundation
import HearthCore
import Testing

/// `POST /createRoom`: presets, initial state, invites, overrides, room versions.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#creation
@Suite(.serialized) struct RoomCreationTests {
    static func state(_ server: TestServer, _ user: TestServer.User, _ room: String, _ type: String, _ key: String = "") async throws -> JSONValue? {
        let response = try await server.get(TestServer.room(room, "/state/\(type)/\(key.urlPathEncoded)"), user)
        return response.status == 200 ? response.json : nil
    }

    @Test func presetsSetJoinRulesHistoryAndGuestAccess() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let publicRoom = try await server.createRoom(alice, ["preset": "public_chat"])
        #expect(try await Self.state(server, alice, publicRoom, "m.room.join_rules")?["join_rule"] == "public")
        #expect(try await Self.state(server, alice, publicRoom, "m.room.history_visibility")?["history_visibility"] == "shared")
        let publicGuests = try await Self.state(server, alice, publicRoom, "m.room.guest_access")?["guest_access"]
        #expect(publicGuests == nil || publicGuests == "forbidden")

        let privateRoom = try await server.createRoom(alice, ["preset": "private_chat"])
        #expect(try await Self.state(server, alice, privateRoom, "m.room.join_rules")?["join_rule"] == "invite")
        #expect(try await Self.state(server, alice, privateRoom, "m.room.guest_access")?["guest_access"] == "can_join")

        // visibility public without a preset means public_chat, and lists the room.
        let listed = try await server.createRoom(alice, ["visibility": "public"])
        #expect(try await Self.state(server, alice, listed, "m.room.join_rules")?["join_rule"] == "public")
        #expect(try await server.get(TestServer.v3("/directory/list/room/\(listed.urlPathEncoded)")).json["visibility"] == "public")
        #expect(try await server.get(TestServer.v3("/directory/list/room/\(privateRoom.urlPathEncoded)")).json["visibility"] == "private")

        // trusted_private_chat: invitees get the creator's power (in v12, as additional creators).
        let trusted = try await server.createRoom(alice, ["preset": "trusted_private_chat", "invite": [.string(bob.userID)], "room_version": "11"])
        #expect(try await Self.state(server, alice, trusted, "m.room.power_levels")?["users"]?[bob.userID] == 100)
        let trusted12 = try await server.createRoom(alice, ["preset": "trusted_private_chat", "invite": [.string(bob.userID)]])
        let create = try await Self.state(server, alice, trusted12, "m.room.create")
        #expect(create?["additional_creators"] == [.string(bob.userID)])
        try await server.join(bob, trusted12)
        // As a creator Bob may set state that needs power.
        try await server.setState(bob, trusted12, "m.room.topic", "", ["topic": "bob was here"])
    }

    @Test func initialStateNameTopicAndOverrides() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice, [
            "preset": "private_chat",
            "name": "Front desk", "topic": "Appointments",
            "initial_state": [
                ["type": "m.room.history_visibility", "content": ["history_visibility": "joined"]],
                ["type": "org.example.custom", "state_key": "k", "content": ["x": 1]],
                ["type": "m.room.name", "content": ["name": "overwritten by name"]],
            ],
            "power_level_content_override": ["events_default": 10, "users": [alice.userID: 100]],
            "creation_content": ["m.federate": false],
            "room_version": "10",
        ])
        #expect(try await Self.state(server, alice, room, "m.room.name")?["name"] == "Front desk")
        let topic = try await Self.state(server, alice, room, "m.room.topic")
        #expect(topic?["topic"] == "Appointments" && topic?["m.topic"]?["m.text"]?.arrayValue?.first?["mimetype"] == "text/plain")
        #expect(try await Self.state(server, alice, room, "m.room.history_visibility")?["history_visibility"] == "joined")
        #expect(try await Self.state(server, alice, room, "org.example.custom", "k")?["x"] == 1)
        let levels = try await Self.state(server, alice, room, "m.room.power_levels")
        #expect(levels?["events_default"] == 10 && levels?["state_default"] == 50)
        let create = try await Self.state(server, alice, room, "m.room.create")
        #expect(create?["m.federate"] == false && create?["room_version"] == "10" && create?["creator"]?.stringValue == alice.userID)

        // The order of events is the one the spec prescribes.
        let all = try await server.get(TestServer.room(room, "/messages?dir=f&limit=50"), alice)
        let types = all.json["chunk"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
        #expect(Array(types.prefix(3)) == ["m.room.create", "m.room.member", "m.room.power_levels"])
        #expect(types.firstIndex(of: "m.room.join_rules")! < types.firstIndex(of: "org.example.custom")!)
        #expect(types.lastIndex(of: "m.room.name")! > types.firstIndex(of: "org.example.custom")!)
    }

    @Test func invitesAndDirectRooms() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, ["invite": [.string(bob.userID)], "is_direct": true])
        let sync = try await server.sync(bob)
        let inviteState = sync["rooms"]?["invite"]?[room]?["invite_state"]?.events ?? []
        let invite = inviteState.first { $0["type"] == "m.room.member" && $0["state_key"]?.stringValue == bob.userID }
        #expect(invite?["content"]?["membership"] == "invite" && invite?["content"]?["is_direct"] == true)
        #expect(inviteState.contains { $0["type"] == "m.room.create" })
        #expect(invite?["content"]?["displayname"] == "bob")
        // Invalid invite lists are refused before anything is created.
        let before = try await server.homeserver.storage.rooms.currentStreamPosition()
        try await server.post(TestServer.v3("/createRoom"), alice, ["invite": ["not-a-user"]]).expectError(400, "M_BAD_JSON")
        try await server.post(TestServer.v3("/createRoom"), alice, ["invite": ["@nobody:hearth.test"]]).expectError(404, "M_NOT_FOUND")
        #expect(try await server.homeserver.storage.rooms.currentStreamPosition() == before)
    }

    @Test func aliasNameAndErrors() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice, ["room_alias_name": "reception"])
        #expect(try await server.get(TestServer.v3("/directory/room/%23reception:hearth.test")).json["room_id"]?.stringValue == room)
        #expect(try await Self.state(server, alice, room, "m.room.canonical_alias")?["alias"] == "#reception:hearth.test")
        try await server.post(TestServer.v3("/createRoom"), alice, ["room_alias_name": "reception"]).expectError(400, "M_ROOM_IN_USE")
        try await server.post(TestServer.v3("/createRoom"), alice, ["room_alias_name": "a:b"]).expectError(400, "M_INVALID_PARAM")
        try await server.post(TestServer.v3("/createRoom"), alice, ["preset": "everyone"]).expectError(400, "M_BAD_JSON")
        try await server.post(TestServer.v3("/createRoom"), alice, ["visibility": "secret"]).expectError(400, "M_BAD_JSON")
        try await server.post(TestServer.v3("/createRoom"), alice, ["room_version": 12]).expectError(400, "M_BAD_JSON")
        try await server.post(TestServer.v3("/createRoom"), alice, ["creation_content": "x"]).expectError(400, "M_BAD_JSON")
        try await server.post(TestServer.v3("/createRoom"), alice, ["initial_state": [["type": "m.room.topic"]]]).expectError(400, "M_BAD_JSON")
        try await server.post(TestServer.v3("/createRoom"), alice, ["room_version": "13"]).expectError(400, "M_UNSUPPORTED_ROOM_VERSION")
        try await server.post(TestServer.v3("/createRoom"), nil, [:]).expectError(401, "M_MISSING_TOKEN")
    }

    /// Every supported version makes a room that works: messages, state, a second member,
    /// redaction, history.
    @Test(arguments: 1...12) func everyRoomVersionWorks(version: Int) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, ["room_version": .string(String(version)), "preset": "public_chat", "name": .string("v\(version)")])
        #expect(try await Self.state(server, alice, room, "m.room.create")?["room_version"]?.stringValue == String(version))
        if version >= 12 {
            #expect(!room.contains(":"), "v12 room IDs carry no server name: \(room)")
        } else {
            #expect(room.hasSuffix(":hearth.test"))
        }
        try await server.join(bob, room)
        let message = try await server.send(bob, room, body: "hello v\(version)")
        try await server.setState(alice, room, "m.room.topic", "", ["topic": "t"])
        try await server.put(TestServer.room(room, "/redact/\(message.urlPathEncoded)/r1"), alice, ["reason": "test"]).expectOK()
        let event = try await server.get(TestServer.room(room, "/event/\(message.urlPathEncoded)"), bob)
        #expect(event.json["content"] == [:])
        let page = try await server.get(TestServer.room(room, "/messages?dir=b&limit=50"), bob)
        #expect(page.json["chunk"]?.arrayValue?.contains { $0["type"] == "m.room.create" } == true)
        #expect(try await server.sync(bob).joinedRoom(room) != nil)
    }

    @Test func defaultVersionIs12() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        #expect(try await Self.state(server, alice, room, "m.room.create")?["room_version"] == "12")
        #expect(room.hasPrefix("!") && !room.contains(":"))
        // The creator has infinite power and is not listed; tombstones need more than state_default.
        let levels = try await Self.state(server, alice, room, "m.room.power_levels")
        #expect(levels?["users"]?[alice.userID] == nil)
        let tombstone = levels?["events"]?["m.room.tombstone"]?.intValue ?? 0
        #expect(tombstone > (levels?["state_default"]?.intValue ?? 50))
    }
}
