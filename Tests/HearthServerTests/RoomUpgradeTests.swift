import Foundation
import HearthCore
import Testing

/// Room upgrades.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#room-upgrades
@Suite(.serialized) struct RoomUpgradeTests {
    @Test(arguments: [("10", "12"), ("12", "12"), ("6", "11")]) func upgrade(from: String, to: String) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let old = try await server.createRoom(alice, [
            "room_version": .string(from), "preset": "public_chat", "name": "Ward", "topic": "Night shift",
            "room_alias_name": "ward", "visibility": "public",
            "creation_content": ["type": "org.example.ward"],
            "power_level_content_override": ["events": ["org.example.chart": 75], "users_default": 0],
        ])
        try await server.join(bob, old)
        try await server.put(TestServer.v3("/user/\(bob.userID.urlPathEncoded)/rooms/\(old.urlPathEncoded)/tags/u.work"), bob, ["order": 0.5])
            .expectOK()
        // Bob lacks the power to send a tombstone.
        try await server.post(TestServer.room(old, "/upgrade"), bob, ["new_version": .string(to)]).expectError(403, "M_FORBIDDEN")
        try await server.post(TestServer.room(old, "/upgrade"), alice, ["new_version": "99"]).expectError(400, "M_UNSUPPORTED_ROOM_VERSION")
        try await server.post(TestServer.room(old, "/upgrade"), alice, [:]).expectError(400, "M_MISSING_PARAM")

        let response = try await server.post(TestServer.room(old, "/upgrade"), alice, ["new_version": .string(to)])
        response.expectOK()
        let new = try #require(response.json["replacement_room"]?.stringValue)
        #expect(new != old)
        // The new room: its version, its predecessor, the old room's type and state.
        let create = try await server.get(TestServer.room(new, "/state/m.room.create"), alice)
        #expect(create.json["room_version"]?.stringValue == to)
        #expect(create.json["predecessor"]?["room_id"]?.stringValue == old)
        #expect(create.json["type"] == "org.example.ward")
        #expect(try await server.get(TestServer.room(new, "/state/m.room.name"), alice).json["name"] == "Ward")
        #expect(try await server.get(TestServer.room(new, "/state/m.room.topic"), alice).json["topic"] == "Night shift")
        #expect(try await server.get(TestServer.room(new, "/state/m.room.join_rules"), alice).json["join_rule"] == "public")
        let levels = try await server.get(TestServer.room(new, "/state/m.room.power_levels"), alice)
        #expect(levels.json["events"]?["org.example.chart"] == 75)
        if to == "12" { #expect(levels.json["users"]?[alice.userID] == nil) }
        // The alias and the directory listing moved.
        #expect(try await server.get(TestServer.v3("/directory/room/%23ward:hearth.test")).json["room_id"]?.stringValue == new)
        #expect(try await server.get(TestServer.v3("/directory/list/room/\(new.urlPathEncoded)")).json["visibility"] == "public")
        #expect(try await server.get(TestServer.v3("/directory/list/room/\(old.urlPathEncoded)")).json["visibility"] == "private")
        #expect(try await server.get(TestServer.room(new, "/state/m.room.canonical_alias"), alice).json["alias"] == "#ward:hearth.test")
        // The old room: a tombstone, and ordinary members can no longer talk or invite.
        let tombstone = try await server.get(TestServer.room(old, "/state/m.room.tombstone"), bob)
        #expect(tombstone.json["replacement_room"]?.stringValue == new)
        let oldLevels = try await server.get(TestServer.room(old, "/state/m.room.power_levels"), alice)
        #expect(oldLevels.json["events_default"] == 50 && oldLevels.json["invite"] == 50)
        try await server.put(TestServer.room(old, "/send/m.room.message/late"), bob, ["body": "hello?"]).expectError(403, "M_FORBIDDEN")
        // Bob follows; his tags come along.
        try await server.join(bob, new)
        let tags = try await server.get(TestServer.v3("/user/\(bob.userID.urlPathEncoded)/rooms/\(new.urlPathEncoded)/tags"), bob)
        #expect(tags.json["tags"]?["u.work"]?["order"] == 0.5)
        _ = try await server.send(bob, new, body: "here now")
    }

    @Test func upgradeWithAdditionalCreators() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let old = try await server.createRoom(alice)
        let response = try await server.post(TestServer.room(old, "/upgrade"), alice, ["new_version": "12", "additional_creators": [.string(bob.userID)]])
        let new = try #require(response.json["replacement_room"]?.stringValue)
        let create = try await server.get(TestServer.room(new, "/state/m.room.create"), alice)
        #expect(create.json["additional_creators"] == [.string(bob.userID)])
        try await server.post(TestServer.room(old, "/upgrade"), alice, ["new_version": "11", "additional_creators": [.string(bob.userID)]])
            .expectError(400, "M_BAD_JSON")
        try await server.post(TestServer.room(old, "/upgrade"), alice, ["new_version": "12", "additional_creators": ["bob"]])
            .expectError(400, "M_BAD_JSON")
        // A room one is not in cannot be upgraded.
        let carol = try await server.register("carol")
        try await server.post(TestServer.room(old, "/upgrade"), carol, ["new_version": "12"]).expectError(403, "M_FORBIDDEN")
    }
}
