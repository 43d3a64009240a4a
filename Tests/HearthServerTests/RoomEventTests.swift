import Foundation
import HearthCore
import Testing

/// Sending events, setting state, redacting.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#sending-events-to-a-room
@Suite(.serialized) struct RoomEventTests {
    @Test func transactionIDsMakeSendsIdempotentPerDevice() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let laptop = try await server.login("alice", password: "pw")
        let room = try await server.createRoom(alice)
        let first = try await server.sendEvent(alice, room, type: "m.room.message", ["msgtype": "m.text", "body": "a"], txn: "t1")
        let retry = try await server.sendEvent(alice, room, type: "m.room.message", ["msgtype": "m.text", "body": "a"], txn: "t1")
        #expect(first == retry)
        // The same transaction ID from another device is another event.
        let other = try await server.sendEvent(laptop, room, type: "m.room.message", ["msgtype": "m.text", "body": "a"], txn: "t1")
        #expect(other != first)
        // transaction_id is echoed only to the device that sent it.
        let own = try await server.get(TestServer.room(room, "/event/\(first.urlPathEncoded)"), alice)
        #expect(own.json["unsigned"]?["transaction_id"] == "t1")
        let elsewhere = try await server.get(TestServer.room(room, "/event/\(first.urlPathEncoded)"), laptop)
        #expect(elsewhere.json["unsigned"]?["transaction_id"] == nil)
        let sync = try await server.sync(alice)
        let echoed = sync.joinedRoom(room)?["timeline"]?.events.first { $0["event_id"]?.stringValue == first }
        #expect(echoed?["unsigned"]?["transaction_id"] == "t1")
    }

    @Test func sendingNeedsMembershipAndPower() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, ["preset": "public_chat", "power_level_content_override": ["events": ["m.reaction": 20]]])
        let path = TestServer.room(room, "/send/m.room.message/x1")
        try await server.put(path, bob, ["body": "hi"]).expectError(403, "M_FORBIDDEN")
        try await server.join(bob, room)
        try await server.put(path, bob, ["body": "hi"]).expectOK()
        try await server.put(TestServer.room(room, "/send/m.reaction/x2"), bob, [:]).expectError(403, "M_FORBIDDEN")
        try await server.put(TestServer.room("!nope:hearth.test", "/send/m.room.message/x3"), bob, [:]).expectError(403, "M_FORBIDDEN")
        try await server.put(path, nil, [:]).expectError(401, "M_MISSING_TOKEN")
        let array = try await server.request("PUT", TestServer.room(room, "/send/m.room.message/x4"), token: bob.token, json: [1, 2])
        array.expectError(400, "M_NOT_JSON")
    }

    @Test func stateWithAndWithoutStateKey() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, ["preset": "public_chat"])
        let nameID = try await server.setState(alice, room, "m.room.name", "", ["name": "Kitchen"])
        let customID = try await server.setState(alice, room, "org.example.thing", "slot/1", ["n": 1])
        // The path without a state key is the same as an empty state key.
        let noKey = try await server.put(TestServer.room(room, "/state/m.room.topic"), alice, ["topic": "Cooking"])
        noKey.expectOK()
        #expect(try await server.get(TestServer.room(room, "/state/m.room.topic/"), alice).json["topic"] == "Cooking")
        #expect(try await server.get(TestServer.room(room, "/state/m.room.name"), alice).json == ["name": "Kitchen"])
        #expect(try await server.get(TestServer.room(room, "/state/org.example.thing/slot%2F1"), alice).json == ["n": 1])
        // format=event returns the whole event.
        let full = try await server.get(TestServer.room(room, "/state/m.room.name/?format=event"), alice)
        #expect(full.json["event_id"]?.stringValue == nameID && full.json["type"] == "m.room.name" && full.json["state_key"] == "")
        #expect(full.json["content"]?["name"] == "Kitchen" && full.json["sender"]?.stringValue == alice.userID)
        let custom = try await server.get(TestServer.room(room, "/state/org.example.thing/slot%2F1?format=event"), alice)
        #expect(custom.json["event_id"]?.stringValue == customID)
        // The whole state.
        let all = try await server.get(TestServer.room(room, "/state"), alice)
        let types = Set(all.json.arrayValue?.compactMap { $0["type"]?.stringValue } ?? [])
        #expect(types.isSuperset(of: ["m.room.create", "m.room.member", "m.room.power_levels", "m.room.name", "m.room.topic", "org.example.thing"]))
        // Missing state is 404; people outside a private room see nothing.
        try await server.get(TestServer.room(room, "/state/m.room.avatar"), alice).expectError(404, "M_NOT_FOUND")
        let secret = try await server.createRoom(alice)
        try await server.get(TestServer.room(secret, "/state"), bob).expectError(403, "M_FORBIDDEN")
        try await server.get(TestServer.room(secret, "/state/m.room.create"), bob).expectError(403, "M_FORBIDDEN")
        // State needs power: Bob has level 0, state_default is 50.
        try await server.join(bob, room)
        try await server.put(TestServer.room(room, "/state/m.room.name"), bob, ["name": "Mine"]).expectError(403, "M_FORBIDDEN")
        try await server.put(TestServer.room(room, "/state/org.example.thing/x"), bob, [:]).expectError(403, "M_FORBIDDEN")
        // Setting the same content again is allowed.
        try await server.put(TestServer.room(room, "/state/m.room.name"), alice, ["name": "Kitchen"]).expectOK()
    }

    @Test func memberStateGoesThroughMembershipRules() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice)
        let path = TestServer.room(room, "/state/m.room.member/\(bob.userID.urlPathEncoded)")
        try await server.put(path, alice, ["membership": "invite"]).expectOK()
        try await server.put(path, bob, ["membership": "join", "displayname": "Bobby"]).expectOK()
        #expect(try await server.get(path, alice).json["displayname"] == "Bobby")
        try await server.put(TestServer.room(room, "/state/m.room.member/not-a-user"), alice, ["membership": "join"]).expectError(400, "M_BAD_JSON")
        try await server.put(path, alice, [:]).expectError(400, "M_MISSING_PARAM")
    }

    @Test func redaction() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        let bobsSecret = try await server.send(bob, room, body: "my phone number is 555-0199-secret")
        let alicesNote = try await server.send(alice, room, body: "alice's note")
        // Bob may redact his own event.
        let own = try await server.put(TestServer.room(room, "/redact/\(bobsSecret.urlPathEncoded)/r1"), bob, ["reason": "oops"])
        own.expectOK()
        let redactionID = try #require(own.json["event_id"]?.stringValue)
        // Retried with the same transaction: same redaction.
        let retry = try await server.put(TestServer.room(room, "/redact/\(bobsSecret.urlPathEncoded)/r1"), bob, ["reason": "oops"])
        #expect(retry.json["event_id"]?.stringValue == redactionID)
        // ...but not Alice's, without power; Alice (creator) may redact anyone's.
        try await server.put(TestServer.room(room, "/redact/\(alicesNote.urlPathEncoded)/r2"), bob, [:]).expectError(403, "M_FORBIDDEN")
        let bobsOther = try await server.send(bob, room, body: "another")
        try await server.put(TestServer.room(room, "/redact/\(bobsOther.urlPathEncoded)/r3"), alice, [:]).expectOK()

        // The content is gone from what clients see and from the database.
        let seen = try await server.get(TestServer.room(room, "/event/\(bobsSecret.urlPathEncoded)"), alice)
        #expect(seen.json["content"] == [:])
        #expect(seen.json["unsigned"]?["redacted_because"]?["event_id"]?.stringValue == redactionID)
        #expect(seen.json["unsigned"]?["redacted_because"]?["redacts"]?.stringValue == bobsSecret)
        let stored = try #require(try await server.homeserver.storage.rooms.event(EventID(bobsSecret)!))
        #expect(stored.pdu.content.isEmpty)
        #expect(!stored.pdu.json.encodedString().contains("555-0199-secret"))
        // The redaction event itself carries `redacts` where clients look for it.
        let redaction = try await server.get(TestServer.room(room, "/event/\(redactionID.urlPathEncoded)"), alice)
        #expect(redaction.json["redacts"]?.stringValue == bobsSecret && redaction.json["content"]?["redacts"]?.stringValue == bobsSecret)
        // Redacting from outside the room is refused.
        let carol = try await server.register("carol")
        try await server.put(TestServer.room(room, "/redact/\(alicesNote.urlPathEncoded)/r4"), carol, [:]).expectError(403, "M_FORBIDDEN")
        try await server.put(TestServer.room(room, "/redact/not-an-event/r5"), alice, [:]).expectError(400, "M_INVALID_PARAM")
    }

    @Test func gettingEvents() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice)
        let other = try await server.createRoom(alice)
        let id = try await server.send(alice, room, body: "hello")
        let event = try await server.get(TestServer.room(room, "/event/\(id.urlPathEncoded)"), alice)
        event.expectOK()
        #expect(event.json["event_id"]?.stringValue == id && event.json["room_id"]?.stringValue == room)
        #expect(event.json["content"]?["body"] == "hello" && event.json["origin_server_ts"]?.intValue != nil)
        #expect(event.json["unsigned"]?["age"]?.intValue != nil)
        // Federation fields stay inside the server.
        #expect(event.json["hashes"] == nil && event.json["signatures"] == nil && event.json["auth_events"] == nil)
        try await server.get(TestServer.room(other, "/event/\(id.urlPathEncoded)"), alice).expectError(404, "M_NOT_FOUND")
        try await server.get(TestServer.room(room, "/event/%24missing"), alice).expectError(404, "M_NOT_FOUND")
        try await server.get(TestServer.room(room, "/event/\(id.urlPathEncoded)"), bob).expectError(403, "M_FORBIDDEN")
    }
}
