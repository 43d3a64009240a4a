import HearthCore
import HearthHomeserver
import HearthStorage
import Testing

/// A remote server that sends what it should not: each PDU is refused (dropped, redacted or
/// rejected, as the spec says), the server keeps working, and the room's state does not move.
@Suite(.serialized) struct HostilePeerTests {
    struct Setup {
        let network: LoopbackFederation
        let a: Homeserver
        let evil: Homeserver
        let alice: UserID
        let mallory: UserID
        let room: RoomID
    }

    static func setUp() async throws -> Setup {
        let network = LoopbackFederation()
        let a = try network.start("a.test")
        let evil = try network.start("evil.test")
        let alice = try await a.makeUser("alice")
        let mallory = try await evil.makeUser("mallory")
        let room = try await a.publicRoom(by: alice)
        try await evil.rooms.join(room, user: mallory, via: [a.serverName])
        try await network.flush()
        return Setup(network: network, a: a, evil: evil, alice: alice, mallory: mallory, room: room)
    }

    /// An event on top of a.test's head, signed with `key` as `server`.
    static func craft(_ s: Setup, sender: UserID, type: String, stateKey: String? = nil, content: JSONObject,
                      key: SigningKey? = nil, prevEvents: [EventID]? = nil) async throws -> PDU {
        let record = try #require(try await s.a.storage.rooms.room(s.room))
        let state = try await s.a.state(s.room)
        let keys = EventAuthorization.authEventKeys(type: type, stateKey: stateKey, sender: sender, content: content, version: record.version)
        let tips = try await s.a.storage.rooms.events(record.forwardExtremities)
        let builder = EventBuilder(
            roomVersion: record.version, roomID: s.room, type: type, stateKey: stateKey, sender: sender, content: content,
            prevEvents: prevEvents ?? record.forwardExtremities, authEvents: keys.compactMap { state[$0] },
            depth: (tips.values.map(\.pdu.depth).max() ?? 0) + 1, originServerTS: 1_700_000_000_000)
        return try builder.build(server: s.evil.serverName, key: key ?? s.evil.signingKey)
    }

    /// Sends PDUs as evil.test and returns the per-event errors.
    static func send(_ s: Setup, _ pdus: [JSONValue], txn: String = "t\(Int.random(in: 0..<1_000_000_000))") async throws -> JSONObject {
        let response = try await s.a.federation.receiveTransaction(["origin": "evil.test", "pdus": .array(pdus)],
                                                                   transactionID: txn, origin: s.evil.serverName)
        return response["pdus"]?.objectValue ?? [:]
    }

    static func message(_ text: String) -> JSONObject { ["msgtype": "m.text", "body": .string(text)] }

    @Test func badSignaturesAreDropped() async throws {
        let s = try await Self.setUp()
        defer { s.network.destroy() }
        let before = try await s.a.state(s.room)

        var forged = try await Self.craft(s, sender: s.mallory, type: "m.room.message", content: Self.message("forged")).json
        let other = try JSONSigning.sign(["something": "else"], as: "evil.test", with: s.evil.signingKey)
        forged["signatures"] = other["signatures"]
        let rogue = try await Self.craft(s, sender: s.mallory, type: "m.room.message", content: Self.message("rogue key"),
                                         key: SigningKey.generate(version: "rogue"))
        let spoofed = try await Self.craft(s, sender: s.alice, type: "m.room.message", content: Self.message("as alice"))
        let results = try await Self.send(s, [.object(forged), .object(rogue.federationJSON), .object(spoofed.federationJSON)])

        #expect(results.count == 3)
        for member in results { #expect(member.value["error"]?.stringValue?.contains("signature") == true, "\(member.value)") }
        #expect(try await s.a.storage.rooms.event(rogue.eventID) == nil)
        #expect(try await s.a.storage.rooms.event(spoofed.eventID) == nil)
        #expect(!(try await s.a.bodies(in: s.room)).contains { ["forged", "rogue key", "as alice"].contains($0) })
        #expect(try await s.a.state(s.room) == before)
    }

    @Test func aWrongContentHashGetsTheEventRedacted() async throws {
        let s = try await Self.setUp()
        defer { s.network.destroy() }
        let pdu = try await Self.craft(s, sender: s.mallory, type: "m.room.message", content: Self.message("original"))
        var tampered = pdu.federationJSON
        tampered["content"] = .object(Self.message("tampered"))
        // The signature covers the redacted event, so it still verifies; the hash does not.
        let results = try await Self.send(s, [.object(tampered)])
        #expect(results[pdu.eventID.rawValue]?["error"] == nil)
        let stored = try #require(try await s.a.storage.rooms.event(pdu.eventID))
        #expect(stored.pdu.content.isEmpty)
        #expect(!(try await s.a.bodies(in: s.room)).contains("tampered"))
    }

    @Test func eventsFailingAuthAreRejectedAndLeaveStateAlone() async throws {
        let s = try await Self.setUp()
        defer { s.network.destroy() }
        let before = try await s.a.state(s.room)
        var levels = try #require(try await s.a.rooms.currentStateEvent(s.room, .powerLevels)?.content)
        var users = JSONObject()
        users[s.mallory.rawValue] = 100
        levels["users"] = .object(users)
        let grab = try await Self.craft(s, sender: s.mallory, type: "m.room.power_levels", stateKey: "", content: levels)
        let eve = UserID("@eve:evil.test")!
        let outsider = try await Self.craft(s, sender: eve, type: "m.room.message", content: Self.message("not a member"))
        let kick = try await Self.craft(s, sender: s.mallory, type: "m.room.member", stateKey: s.alice.rawValue,
                                        content: ["membership": "leave"])
        let results = try await Self.send(s, [.object(grab.federationJSON), .object(outsider.federationJSON), .object(kick.federationJSON)])

        for pdu in [grab, outsider, kick] {
            #expect(results[pdu.eventID.rawValue]?["error"]?.stringValue?.hasPrefix("rejected") == true)
            #expect(try await s.a.storage.rooms.event(pdu.eventID)?.rejectionReason != nil)
        }
        #expect(try await s.a.state(s.room) == before)
        #expect(try await s.a.membership(s.alice, s.room) == "join")
        #expect(try await s.a.rooms.powerLevels(s.room).userLevel(s.mallory) == .finite(0))
    }

    @Test func oversizedAndMalformedTransactionsAreRefusedWithoutHarm() async throws {
        let s = try await Self.setUp()
        defer { s.network.destroy() }
        let before = try await s.a.state(s.room)
        let one = try await Self.craft(s, sender: s.mallory, type: "m.room.message", content: Self.message("one"))
        await #expect(throws: MatrixError.self) {
            _ = try await Self.send(s, Array(repeating: .object(one.federationJSON), count: 51))
        }
        await #expect(throws: MatrixError.self) {
            _ = try await s.a.federation.receiveTransaction(["pdus": "not a list"], transactionID: "bad", origin: s.evil.serverName)
        }
        await #expect(throws: MatrixError.self) {
            _ = try await s.a.federation.receiveTransaction(["origin": "a.test", "pdus": []], transactionID: "spoof", origin: s.evil.serverName)
        }
        var huge = Self.message(String(repeating: "x", count: 70_000))
        huge["msgtype"] = "m.text"
        let malformed: [JSONValue] = [
            1, "text", [], [:],
            ["room_id": .string(s.room.rawValue), "type": 5],
            ["room_id": "!unknown:nowhere.test", "type": "m.room.message"],
            ["room_id": .string(s.room.rawValue), "type": "m.room.message", "sender": "not a user", "content": [:]],
            ["room_id": .string(s.room.rawValue), "type": "m.room.message", "sender": .string(s.mallory.rawValue),
             "content": .object(huge), "depth": 1, "origin_server_ts": 1, "prev_events": [], "auth_events": [],
             "hashes": ["sha256": "x"], "signatures": [:]],
            ["room_id": .string(s.room.rawValue), "type": "m.room.message", "depth": 1.5],
        ]
        _ = try await Self.send(s, malformed)
        let edus: [JSONValue] = [1, ["edu_type": "m.typing"], ["edu_type": "m.receipt", "content": ["x": 1]],
                                 ["edu_type": "m.presence", "content": ["push": "no"]]]
        _ = try await s.a.federation.receiveTransaction(["edus": .array(edus)], transactionID: "edus", origin: s.evil.serverName)
        #expect(try await s.a.state(s.room) == before)
        // Still serving: a local message and a valid remote one go through.
        try await s.a.say(s.alice, in: s.room, "still here")
        let fine = try await Self.craft(s, sender: s.mallory, type: "m.room.message", content: Self.message("fine"))
        #expect(try await Self.send(s, [.object(fine.federationJSON)])[fine.eventID.rawValue]?["error"] == nil)
        #expect(try await s.a.bodies(in: s.room).suffix(2) == ["still here", "fine"])
    }

    @Test func aRetriedTransactionIsAnsweredOnceAndNotReprocessed() async throws {
        let s = try await Self.setUp()
        defer { s.network.destroy() }
        let pdu = try await Self.craft(s, sender: s.mallory, type: "m.room.message", content: Self.message("once"))
        let first = try await Self.send(s, [.object(pdu.federationJSON)], txn: "same")
        let second = try await Self.send(s, [], txn: "same")
        #expect(first == second)
        #expect(try await s.a.bodies(in: s.room).filter { $0 == "once" }.count == 1)
    }

    @Test func unknownPrevEventsFromAnUnreachableOriginAreDropped() async throws {
        let s = try await Self.setUp()
        defer { s.network.destroy() }
        let before = try await s.a.state(s.room)
        let orphan = try await Self.craft(s, sender: s.mallory, type: "m.room.message", content: Self.message("orphan"),
                                          prevEvents: [EventID("$doesnotexistdoesnotexistdoesnotexist0000000")!])
        s.network.stop("evil.test")
        let results = try await Self.send(s, [.object(orphan.federationJSON)])
        #expect(results[orphan.eventID.rawValue]?["error"] != nil)
        #expect(try await s.a.storage.rooms.event(orphan.eventID) == nil)
        #expect(try await s.a.state(s.room) == before)
    }

    @Test func aServerTheACLDeniesIsIgnored() async throws {
        let s = try await Self.setUp()
        defer { s.network.destroy() }
        try await s.a.rooms.send(s.room, sender: s.alice, type: "m.room.server_acl", stateKey: "",
                                 content: ["allow": ["*"], "deny": ["evil.test"], "allow_ip_literals": false])
        let pdu = try await Self.craft(s, sender: s.mallory, type: "m.room.message", content: Self.message("denied"))
        let results = try await Self.send(s, [.object(pdu.federationJSON)])
        #expect(results[pdu.eventID.rawValue]?["error"]?.stringValue?.contains("ACL") == true)
        await #expect(throws: MatrixError.self) {
            _ = try await s.a.federation.makeMembership("join", roomID: s.room, user: UserID("@x:evil.test")!, versions: ["12"],
                                                        origin: s.evil.serverName)
        }
        await #expect(throws: MatrixError.self) {
            _ = try await s.a.federation.backfill(s.room, from: [pdu.eventID], limit: 10, origin: s.evil.serverName)
        }
    }
}
