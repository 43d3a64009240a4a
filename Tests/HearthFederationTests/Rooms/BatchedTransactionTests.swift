import HearthCore
import HearthHomeserver
import HearthStorage
import Testing

/// The PDUs of an inbound transaction that change no state are written together
/// (`PendingTimeline`): whatever the mix, the outcome is the one writing them one by one gives,
/// and what the database holds agrees with the room's head in memory.
@Suite(.serialized) struct BatchedTransactionTests {
    typealias Peer = HostilePeerTests

    /// Events chained one on another from evil.test, starting at a.test's head.
    struct Chain {
        let s: Peer.Setup
        var prev: [EventID]
        var depth: Int64
        var memberEvent: EventID?

        init(_ s: Peer.Setup) async throws {
            self.s = s
            let record = try #require(try await s.a.storage.rooms.room(s.room))
            prev = record.forwardExtremities
            depth = (try await s.a.storage.rooms.events(prev).values.map(\.pdu.depth).max() ?? 0)
        }

        /// `advance: false` makes a side branch: the next event does not build on this one.
        mutating func next(type: String = "m.room.message", stateKey: String? = nil, content: JSONObject,
                           redacts: EventID? = nil, advance: Bool = true) async throws -> PDU {
            var state = try await s.a.state(s.room)
            if let memberEvent { state[.member(s.mallory)] = memberEvent }
            let record = try #require(try await s.a.storage.rooms.room(s.room))
            let keys = EventAuthorization.authEventKeys(type: type, stateKey: stateKey, sender: s.mallory, content: content,
                                                        version: record.version)
            depth += 1
            let pdu = try EventBuilder(roomVersion: record.version, roomID: s.room, type: type, stateKey: stateKey, sender: s.mallory,
                                       content: content, prevEvents: prev, authEvents: keys.compactMap { state[$0] }, depth: depth,
                                       originServerTS: 1_700_000_000_000 + depth, redacts: redacts)
                .build(server: s.evil.serverName, key: s.evil.signingKey)
            if advance { prev = [pdu.eventID] } else { depth -= 1 }
            if type == "m.room.member" { memberEvent = pdu.eventID }
            return pdu
        }
    }

    /// The room's head as the database has it (what a restart would load) equals the one in memory.
    static func expectDatabaseAgreesWithMemory(_ s: Peer.Setup) async throws {
        let record = try #require(try await s.a.storage.rooms.room(s.room))
        let group = try #require(record.currentStateGroup)
        #expect(try await s.a.storage.rooms.state(group) == (try await s.a.state(s.room)))
        let tips = try await s.a.storage.rooms.events(record.forwardExtremities)
        #expect(tips.count == record.forwardExtremities.count, "every forward extremity is stored")
    }

    @Test func aMixedTransactionEndsAsIfWrittenOneByOne() async throws {
        let s = try await Peer.setUp()
        defer { s.network.destroy() }
        var chain = try await Chain(s)
        let m1 = try await chain.next(content: Peer.message("one"))
        let m2 = try await chain.next(content: Peer.message("two"))
        // A state change in the middle is written at once, after the two pending messages.
        let rename = try await chain.next(type: "m.room.member", stateKey: s.mallory.rawValue,
                                          content: ["membership": "join", "displayname": "Mal"])
        let m3 = try await chain.next(content: Peer.message("three"))
        // Refused by the power levels (state_default 50): rejected, and it changes nothing
        // (a side branch: building on a rejected event would fork the room).
        let topic = try await chain.next(type: "m.room.topic", stateKey: "", content: ["topic": "taken over"], advance: false)
        let m4 = try await chain.next(content: Peer.message("four"))
        // A redaction of a message sent earlier in the same transaction.
        let redaction = try await chain.next(type: "m.room.redaction", content: [:], redacts: m1.eventID)
        let m5 = try await chain.next(content: Peer.message("five"))

        let events = [m1, m2, rename, m3, topic, m4, redaction, m5]
        let results = try await Peer.send(s, events.map { .object($0.json) } + [.object(m2.json)])
        for event in events where event.eventID != topic.eventID {
            #expect(results[event.eventID.rawValue]?["error"] == nil, "\(event.type) \(event.eventID)")
        }
        #expect(results[topic.eventID.rawValue]?["error"]?.stringValue?.hasPrefix("rejected") == true)

        // Everything is readable once the response is there, in the order sent.
        #expect(try await s.a.bodies(in: s.room).suffix(4) == ["two", "three", "four", "five"])
        let first = try #require(try await s.a.storage.rooms.event(m1.eventID))
        #expect(first.redactedBy == redaction.eventID && first.pdu.content["body"] == nil)
        let state = try await s.a.state(s.room)
        #expect(state[.member(s.mallory)] == rename.eventID)
        #expect(state[StateKey("m.room.topic", "")] != topic.eventID)
        let record = try #require(try await s.a.storage.rooms.room(s.room))
        #expect(record.forwardExtremities == [m5.eventID])
        try await Self.expectDatabaseAgreesWithMemory(s)

        // Sent again (the sender retrying): the same answer, nothing stored twice.
        let before = try await s.a.bodies(in: s.room)
        _ = try await Peer.send(s, events.map { .object($0.json) })
        #expect(try await s.a.bodies(in: s.room) == before)
    }

    @Test func localSendsDuringATransactionKeepTheRoomConsistent() async throws {
        let s = try await Peer.setUp()
        defer { s.network.destroy() }
        var chain = try await Chain(s)
        var remote: [PDU] = []
        for n in 0..<40 { remote.append(try await chain.next(content: Peer.message("remote \(n)"))) }
        async let results = Peer.send(s, remote.map { .object($0.json) })
        for n in 0..<10 { try await s.a.say(s.alice, in: s.room, "local \(n)") }
        let answered = try await results
        #expect(remote.allSatisfy { answered[$0.eventID.rawValue]?["error"] == nil })

        let bodies = try await s.a.bodies(in: s.room)
        for n in 0..<40 { #expect(bodies.filter { $0 == "remote \(n)" }.count == 1) }
        for n in 0..<10 { #expect(bodies.filter { $0 == "local \(n)" }.count == 1) }
        try await Self.expectDatabaseAgreesWithMemory(s)
        // The room goes on from what the database holds.
        try await s.a.say(s.alice, in: s.room, "after")
        try await Self.expectDatabaseAgreesWithMemory(s)
    }
}
