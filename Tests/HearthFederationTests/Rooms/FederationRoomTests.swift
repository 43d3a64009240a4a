import HearthCore
import HearthHomeserver
import HearthStorage
import Testing

/// Room semantics across servers, in process (`LoopbackFederation`): remote joins, message
/// flow, invites, leaves, knocks, restricted joins, catching up, backfill, forks.
@Suite(.serialized) struct FederationRoomTests {
    @Test func remoteJoinAndMessagesFlowBothWays() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let (a, alice, b, bob) = try await network.twoServers()
        let room = try await a.publicRoom(by: alice, ["name": "Federated"])
        try await a.say(alice, in: room, "before bob")

        try await b.rooms.join(room, user: bob, via: [a.serverName])
        #expect(try await b.membership(bob, room) == "join")
        #expect(try await a.membership(bob, room) == "join")
        #expect(try await b.state(room) == a.state(room))

        try await a.say(alice, in: room, "hello bob")
        try await network.flush()
        try await b.say(bob, in: room, "hello alice")
        try await network.flush()
        #expect(try await a.bodies(in: room) == ["before bob", "hello bob", "hello alice"])
        #expect(try await b.bodies(in: room) == ["hello bob", "hello alice"])
        #expect(try await b.state(room) == a.state(room))
    }

    @Test func threeServersShareARoomAndConverge() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let servers = try await network.startMany(["a.test", "b.test", "c.test"])
        let (a, alice) = servers[0]
        let room = try await a.publicRoom(by: alice)
        for (server, user) in servers.dropFirst() {
            try await server.rooms.join(room, user: user, via: [a.serverName])
            try await network.flush()
        }
        // Everyone talks at once: three forks, merged by the next events.
        for (server, user) in servers { try await server.say(user, in: room, "from \(user.localpart)") }
        try await network.flush()
        for (server, user) in servers { try await server.say(user, in: room, "again \(user.localpart)") }
        try await network.flush()
        let expected = Set(["from a", "from b", "from c", "again a", "again b", "again c"])
        for (server, _) in servers {
            #expect(Set(try await server.bodies(in: room)).isSuperset(of: expected))
            #expect(try await server.state(room) == a.state(room))
        }
    }

    @Test func remoteInviteIsCountersignedAndAccepted() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let (a, alice, b, bob) = try await network.twoServers()
        let room = try await a.rooms.createRoom(["preset": "private_chat", "name": "Secret"], by: alice, creatorProfile: (nil, nil))

        try await a.rooms.setMembership(room, sender: alice, target: bob, membership: "invite")
        #expect(try await a.membership(bob, room) == "invite")
        let invite = try #require(try await b.rooms.memberships(of: bob).first { $0.roomID == room })
        #expect(invite.membership == "invite")
        let stored = try #require(try await b.storage.rooms.event(invite.eventID))
        #expect(JSONSigning.ed25519KeyIDs(in: stored.pdu.json, by: "b.test").count == 1)
        #expect(JSONSigning.ed25519KeyIDs(in: stored.pdu.json, by: "a.test").count == 1)
        // The invitee's /sync shows the room's name from the invite's room state.
        let names = try await b.sync.strippedState(room, membershipEvent: invite.eventID)
        #expect(names.contains { $0["type"]?.stringValue == "m.room.name" && $0["content"]?["name"]?.stringValue == "Secret" })

        try await b.rooms.join(room, user: bob)
        #expect(try await a.membership(bob, room) == "join")
        #expect(try await b.state(room) == a.state(room))
    }

    @Test func remoteInviteCanBeRejected() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let (a, alice, b, bob) = try await network.twoServers()
        let room = try await a.rooms.createRoom(["preset": "private_chat"], by: alice, creatorProfile: (nil, nil))
        try await a.rooms.setMembership(room, sender: alice, target: bob, membership: "invite")
        try await b.rooms.setMembership(room, sender: bob, target: bob, membership: "leave")
        #expect(try await a.membership(bob, room) == "leave")
        #expect(try await b.rooms.memberships(of: bob).first { $0.roomID == room }?.membership == "leave")
    }

    @Test func knockThenInviteThenJoin() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let (a, alice, b, bob) = try await network.twoServers()
        let room = try await a.rooms.createRoom(["preset": "private_chat", "initial_state": [
            ["type": "m.room.join_rules", "state_key": "", "content": ["join_rule": "knock"]],
        ]], by: alice, creatorProfile: (nil, nil))

        try await b.rooms.setMembership(room, sender: bob, target: bob, membership: "knock", via: [a.serverName])
        #expect(try await a.membership(bob, room) == "knock")
        #expect(try await b.rooms.memberships(of: bob).first { $0.roomID == room }?.membership == "knock")
        // A plain join is refused by the join rule; the knock is answered with an invite.
        await #expect(throws: (any Error).self) { try await b.rooms.join(room, user: bob, via: [a.serverName]) }
        try await a.rooms.setMembership(room, sender: alice, target: bob, membership: "invite")
        try await b.rooms.join(room, user: bob, via: [a.serverName])
        #expect(try await a.membership(bob, room) == "join")
    }

    @Test func restrictedJoinIsAuthorisedByAResidentMember() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let (a, alice, b, bob) = try await network.twoServers()
        let dave = try await b.makeUser("dave")
        let space = try await a.publicRoom(by: alice)
        let restricted = try await a.rooms.createRoom(["preset": "private_chat", "initial_state": [
            ["type": "m.room.join_rules", "state_key": "",
             "content": ["join_rule": "restricted", "allow": [["type": "m.room_membership", "room_id": .string(space.rawValue)]]]],
        ]], by: alice, creatorProfile: (nil, nil))
        try await b.rooms.join(space, user: bob, via: [a.serverName])

        try await b.rooms.join(restricted, user: bob, via: [a.serverName])
        #expect(try await a.membership(bob, restricted) == "join")
        let joinID = try #require(try await a.state(restricted)[.member(bob)])
        let join = try #require(try await a.storage.rooms.event(joinID))
        #expect(join.pdu.content["join_authorised_via_users_server"]?.stringValue == alice.rawValue)
        #expect(JSONSigning.ed25519KeyIDs(in: join.pdu.json, by: "a.test").count == 1)

        // Dave is in no allowed room.
        await #expect(throws: (any Error).self) { try await b.rooms.join(restricted, user: dave, via: [a.serverName]) }
        #expect(try await a.membership(dave, restricted) == nil)
    }

    @Test func lostTransactionsAreRecoveredWithGetMissingEvents() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let (a, alice, b, bob) = try await network.twoServers()
        let room = try await a.publicRoom(by: alice)
        try await b.rooms.join(room, user: bob, via: [a.serverName])
        try await network.flush()
        for n in 1...3 { try await b.say(bob, in: room, "lost \(n)") }
        network.discardQueue(for: "a.test")
        try await b.say(bob, in: room, "delivered")
        try await network.flush()
        #expect(try await a.bodies(in: room) == ["lost 1", "lost 2", "lost 3", "delivered"])
        #expect(network.requestLog.withLock { $0 }.contains { $0.hasPrefix("a.test→b.test POST") && $0.contains("get_missing_events") })
        #expect(try await a.state(room) == b.state(room))
    }

    @Test func aLongGapIsBridgedWithStateAndFilledByBackfill() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let (a, alice, b, bob) = try await network.twoServers()
        let room = try await a.publicRoom(by: alice)
        try await b.rooms.join(room, user: bob, via: [a.serverName])
        try await network.flush()
        for n in 1...15 { try await b.say(bob, in: room, "m\(n)") }
        try await b.rooms.send(room, sender: bob, type: "m.room.member", stateKey: bob.rawValue,
                               content: ["membership": "join", "displayname": "Bob in the gap"])
        network.discardQueue(for: "a.test")
        try await b.say(bob, in: room, "after the gap")
        try await network.flush()
        // get_missing_events brought the last 10; the state before them came from /state_ids.
        #expect(network.requestLog.withLock { $0 }.contains { $0.contains("state_ids") })
        #expect(try await a.state(room) == b.state(room))
        #expect(try await a.bodies(in: room).last == "after the gap")
        #expect(!(try await a.bodies(in: room)).contains("m1"))

        // Paginating back from the end fills the gap with /backfill.
        let page = try await a.rooms.messages(room, for: alice, from: nil, to: nil, backwards: true, limit: 40, filter: EventFilter(nil))
        let bodies = page.chunk.reversed().filter { $0.pdu.type == "m.room.message" }.compactMap { $0.pdu.content["body"]?.stringValue }
        #expect(bodies == (1...15).map { "m\($0)" } + ["after the gap"])
        #expect(network.requestLog.withLock { $0 }.contains { $0.contains("backfill") })
        // Backfilled history is not news for /sync.
        #expect(try await a.bodies(in: room) == Array((7...15).map { "m\($0)" }) + ["after the gap"])
    }

    @Test func historyBeforeAJoinIsBackfilled() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let (a, alice, b, bob) = try await network.twoServers()
        let room = try await a.publicRoom(by: alice, ["preset": "public_chat", "initial_state": [
            ["type": "m.room.history_visibility", "state_key": "", "content": ["history_visibility": "shared"]],
        ]])
        for n in 1...5 { try await a.say(alice, in: room, "old \(n)") }
        try await b.rooms.join(room, user: bob, via: [a.serverName])
        let page = try await b.rooms.messages(room, for: bob, from: nil, to: nil, backwards: true, limit: 50, filter: EventFilter(nil))
        let bodies = page.chunk.reversed().filter { $0.pdu.type == "m.room.message" }.compactMap { $0.pdu.content["body"]?.stringValue }
        #expect(bodies == (1...5).map { "old \($0)" })
        let types = page.chunk.map(\.pdu.type)
        #expect(types.contains("m.room.create"), "\(types)")
    }

    @Test func historyHiddenByVisibilityReachesOtherServersRedacted() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let (a, alice, b, bob) = try await network.twoServers()
        let room = try await a.publicRoom(by: alice, ["initial_state": [
            ["type": "m.room.history_visibility", "state_key": "", "content": ["history_visibility": "joined"]],
        ]])
        let secret = try await a.say(alice, in: room, "before anyone from b joined")
        try await b.rooms.join(room, user: bob, via: [a.serverName])
        let page = try await b.rooms.messages(room, for: bob, from: nil, to: nil, backwards: true, limit: 50, filter: EventFilter(nil))
        #expect(!page.chunk.contains { $0.pdu.content["body"]?.stringValue == "before anyone from b joined" })
        // b holds the event (the room's graph stays whole) but only in its redacted form.
        let held = try #require(try await b.storage.rooms.event(secret))
        #expect(held.pdu.content.isEmpty)
        let answer = try await a.federation.event(secret, origin: b.serverName)
        #expect(answer["pdus"]?.arrayValue?.first?["content"]?.objectValue?.isEmpty == true)
    }

    @Test func aServerThatWasDownCatchesUp() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let servers = try await network.startMany(["a.test", "b.test", "c.test"])
        let (a, alice) = servers[0], (b, bob) = servers[1], (c, carol) = servers[2]
        let room = try await a.publicRoom(by: alice)
        try await b.rooms.join(room, user: bob, via: [a.serverName])
        try await c.rooms.join(room, user: carol, via: [a.serverName])
        try await network.flush()

        network.stop("c.test")
        try await a.say(alice, in: room, "while c was away")
        try await b.say(bob, in: room, "b too")
        try await network.flush()
        #expect(try await a.bodies(in: room).suffix(2) == ["while c was away", "b too"])
        #expect(!(try await c.bodies(in: room)).contains("b too"))

        network.setDown("c.test", false)
        try await network.flush()
        try await c.say(carol, in: room, "back")
        try await network.flush()
        for server in [a, b, c] {
            #expect(Set(try await server.bodies(in: room)).isSuperset(of: ["while c was away", "b too", "back"]))
            #expect(try await server.state(room) == a.state(room))
        }
    }

    @Test func banRacingAPowerLevelChangeResolvesTheSameEverywhere() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let servers = try await network.startMany(["a.test", "b.test", "c.test"])
        let (a, alice) = servers[0], (b, bob) = servers[1], (c, carol) = servers[2]
        let room = try await a.publicRoom(by: alice)
        try await b.rooms.join(room, user: bob, via: [a.serverName])
        try await c.rooms.join(room, user: carol, via: [a.serverName])
        try await network.flush()
        var levels = try #require(try await a.rooms.currentStateEvent(room, .powerLevels)?.content)
        var users = levels["users"]?.objectValue ?? [:]
        users[bob.rawValue] = 50
        levels["users"] = .object(users)
        try await a.rooms.send(room, sender: alice, type: "m.room.power_levels", stateKey: "", content: levels)
        try await network.flush()
        #expect(try await b.rooms.powerLevels(room).userLevel(bob) == .finite(50))

        // At the same time: alice demotes bob, bob bans carol.
        users[bob.rawValue] = nil
        levels["users"] = .object(users)
        try await a.rooms.send(room, sender: alice, type: "m.room.power_levels", stateKey: "", content: levels)
        try await b.rooms.setMembership(room, sender: bob, target: carol, membership: "ban")
        try await network.flush()
        // Everyone talks, which merges the forks.
        for (server, user) in [(a, alice), (b, bob)] { try await server.say(user, in: room, "after the race \(user.localpart)") }
        try await network.flush()

        let reference = try await a.state(room)
        for server in [b, c] { #expect(try await server.state(room) == reference) }
        // The demotion sorts first (the creator's power), so the ban fails in resolution.
        for server in [a, b, c] {
            #expect(try await server.membership(carol, room) == "join")
            #expect(try await server.rooms.powerLevels(room).userLevel(bob) == .finite(0))
        }
    }

    @Test func edusReachTheOtherServer() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let a = try network.start("a.test")
        let b = try network.start("b.test")
        let alice = UserID("@alice:a.test")!
        _ = try await a.accounts.createAccount(userID: alice, password: nil, deviceID: "ALICEDEV")
        let bob = try await b.makeUser("bob")
        let room = try await a.publicRoom(by: alice)
        try await b.rooms.join(room, user: bob, via: [a.serverName])
        try await network.flush()
        let message = try await a.say(alice, in: room, "read me")
        try await network.flush()

        await b.setTyping(bob, in: room, typing: true, timeout: 30_000)
        try await b.setReceipt(bob, roomID: room, eventID: message, type: "m.read", threadID: nil)
        await b.setPresence(bob, state: "online", statusMessage: "here")
        try await network.flush()
        #expect(a.ephemeral.typing(in: room, changedAfter: 0).users == [bob])
        #expect(try await a.storage.userData.receipt(of: bob, in: room, type: "m.read")?.eventID == message)
        #expect(a.ephemeral.presence(of: bob)?.state == "online")

        // To-device messages are queued for the device; a device list update makes local clients re-query.
        var messages = JSONObject()
        messages[alice.rawValue] = ["*": ["action": "request"]]
        let edus: [JSONValue] = [
            ["edu_type": "m.direct_to_device", "content": [
                "sender": .string(bob.rawValue), "type": "m.room_key_request", "message_id": "m1",
                "messages": .object(messages)]],
            ["edu_type": "m.device_list_update", "content": [
                "user_id": .string(bob.rawValue), "device_id": "BOBDEV", "stream_id": 1, "deleted": false]],
            // Claims about another server's users are ignored.
            ["edu_type": "m.typing", "content": ["room_id": .string(room.rawValue), "user_id": .string(alice.rawValue), "typing": true]],
            ["edu_type": "m.presence", "content": ["push": [["user_id": .string(alice.rawValue), "presence": "offline"]]]],
        ]
        _ = try await a.federation.receiveTransaction(["edus": .array(edus)], transactionID: "edus", origin: b.serverName)
        let inbox = try await a.storage.keys.toDeviceMessages(alice, "ALICEDEV", after: 0, limit: 10)
        #expect(inbox.map(\.type) == ["m.room_key_request"])
        #expect(try await a.storage.keys.deviceListChanges(after: 0, upTo: .max).contains(bob))
        // A retried EDU (same message ID) is not delivered twice.
        _ = try await a.federation.receiveTransaction(["edus": .array(Array(edus.prefix(1)))], transactionID: "edus again",
                                                      origin: b.serverName)
        #expect(try await a.storage.keys.toDeviceMessages(alice, "ALICEDEV", after: 0, limit: 10).count == 1)
        #expect(a.ephemeral.typing(in: room, changedAfter: 0).users == [bob])
        #expect(a.ephemeral.presence(of: alice) == nil)
    }
}
