@testable import HearthCore
import Testing

private let alice = Cast.alice
private let bob = Cast.bob
private let carol = Cast.carol

@Suite struct StateResBasicsTests {
    @Test(arguments: ResVersions.all)
    func trivialInputs(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(members: [bob])
        let state = room.state(base)
        // Nothing fetched for these.
        let none: (EventID) -> PDU? = { _ in nil }
        #expect(try StateResolution.resolve(version: version, stateSets: [], fetch: none) == [:])
        #expect(try StateResolution.resolve(version: version, stateSets: [state], fetch: none) == state)
        #expect(try StateResolution.resolve(version: version, stateSets: [state, state, state], fetch: none) == state)
    }

    /// A descendant's state against its ancestor's: the descendant's changes win.
    @Test(arguments: ResVersions.all)
    func linearHistoryResolvesToLaterState(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob, carol])
        var last = try room.topic("one", by: alice, after: base)
        last = try room.powerLevels([alice: 100, bob: 50, carol: 50], by: alice, after: last)
        last = try room.topic("two", by: carol, after: last)
        last = try room.member(bob, "leave", after: last)
        let resolved = try room.resolve([room.state(base), room.state(last)])
        #expect(resolved == room.state(last))
    }

    @Test(arguments: ResVersions.all)
    func missingEventIsAnError(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob, carol])
        let a = try room.topic("a", by: alice, after: base)
        let b = try room.topic("b", by: bob, after: base)
        let sets = [room.state(a), room.state(b)]

        // A conflicted event missing.
        let withoutB: (EventID) -> PDU? = { $0 == b.eventID ? nil : room.fetch($0) }
        #expect(throws: StateResolutionError.missingEvent(b.eventID)) {
            try StateResolution.resolve(version: version, stateSets: sets, fetch: withoutB)
        }
        // An event deep in the auth chains missing (the create event, which everything cites).
        let withoutCreate: (EventID) -> PDU? = { $0 == room.create.eventID ? nil : room.fetch($0) }
        #expect(throws: StateResolutionError.missingEvent(room.create.eventID)) {
            try StateResolution.resolve(version: version, stateSets: sets, fetch: withoutCreate)
        }
        // fetch answering with the wrong event counts as missing.
        let wrong: (EventID) -> PDU? = { $0 == b.eventID ? a : room.fetch($0) }
        #expect(throws: StateResolutionError.missingEvent(b.eventID)) {
            try StateResolution.resolve(version: version, stateSets: sets, fetch: wrong)
        }
    }

    @Test(arguments: ResVersions.all)
    func eventUnderTheWrongKeyIsAnError(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob])
        let a = try room.topic("a", by: alice, after: base)
        let b = try room.topic("b", by: bob, after: base)
        let name = try room.name("n", by: bob, after: b)
        var bogus = room.state(a)
        bogus[.name] = b.eventID
        #expect(throws: StateResolutionError(.stateKeyMismatch(.name, b.eventID))) {
            try StateResolution.resolve(version: version, stateSets: [bogus, room.state(name)], fetch: room.fetch)
        }
    }

    /// v2: a key present in only one state set is conflicted and re-authorized; v1 keeps it.
    @Test func keyInOneStateSetOnly() throws {
        for version in [RoomVersion.v1, .v2, .v11, .v12] {
            let room = try TestRoom(version: version)
            let base = try room.standardStart(levels: [bob: 50], members: [bob])
            let topic = try room.topic("t", by: bob, after: base)
            let demote = try room.powerLevels([alice: 100], extra: ["events": ["m.room.topic": 100]], by: alice,
                                              after: base)
            let resolved = try room.resolve([room.state(topic), room.state(demote)])
            #expect(resolved[.powerLevels] == demote.eventID)
            // Bob's topic needs level 100 under the resolved power levels.
            #expect(resolved[.topic] == (version.stateResolution == .v1 ? topic.eventID : nil), "\(version)")
        }
    }

    @Test func powerEvents() throws {
        let room = try TestRoom(version: .v11)
        let base = try room.standardStart(levels: [bob: 50], members: [bob, carol, Cast.dave])
        let pl = try #require(room.event(in: room.state(base), .powerLevels))
        let joinRules = try #require(room.event(in: room.state(base), .joinRules))
        #expect(StateResolution.isPowerEvent(pl))
        #expect(StateResolution.isPowerEvent(joinRules))
        #expect(try StateResolution.isPowerEvent(room.member(carol, "ban", by: bob, after: base)))
        #expect(try StateResolution.isPowerEvent(room.member(carol, "leave", by: bob, after: base)))
        #expect(try !StateResolution.isPowerEvent(room.member(carol, "leave", after: base)))
        #expect(try !StateResolution.isPowerEvent(room.member(Cast.eve, "join", after: base)))
        #expect(try !StateResolution.isPowerEvent(room.member(Cast.eve, "invite", by: bob, after: base)))
        #expect(try !StateResolution.isPowerEvent(room.topic("t", by: alice, after: base)))
        #expect(try !StateResolution.isPowerEvent(room.message("m", by: alice, after: base)))
    }

    /// The reverse topological power ordering on a hand-made example: auth events first, then
    /// higher sender power, earlier timestamp, smaller event ID.
    @Test(arguments: [RoomVersion.v11, .v12])
    func reverseTopologicalPowerOrdering(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50, carol: 50], members: [bob, carol, Cast.dave])
        // Concurrent power events from base, by senders of different power, with clashing ts.
        let byAlice = try room.joinRule("invite", by: alice, after: base, ts: 9_000)
        let byBob = try room.member(Cast.dave, "leave", by: bob, after: base, ts: 5_000)
        let byCarolEarly = try room.member(Cast.dave, "ban", by: carol, after: base, ts: 4_000)
        let byCarolSameTS1 = try room.powerLevels([alice: 100, bob: 50, carol: 50, Cast.dave: 1], by: carol, after: base,
                                                  ts: 4_500)
        let byCarolSameTS2 = try room.powerLevels([alice: 100, bob: 50, carol: 50, Cast.dave: 2], by: carol, after: base,
                                                  ts: 4_500)
        // One that depends on another through its auth events (it cites byCarolSameTS1).
        let dependent = try room.powerLevels([alice: 100, bob: 50, carol: 50, Cast.dave: 3], by: alice,
                                             after: byCarolSameTS1, ts: 1)
        let context = ResolutionContext(version: version, rules: .standard(for: version), fetch: room.fetch)
        let set: Set<EventID> = [byAlice, byBob, byCarolEarly, byCarolSameTS1, byCarolSameTS2, dependent].map(\.eventID)
            .reduce(into: []) { $0.insert($1) }
        let ordered = try context.reverseTopologicalPowerOrdering(set).map(\.eventID)
        let (first, second) = byCarolSameTS1.eventID < byCarolSameTS2.eventID
            ? (byCarolSameTS1, byCarolSameTS2) : (byCarolSameTS2, byCarolSameTS1)
        var expected = [byAlice.eventID, byCarolEarly.eventID, first.eventID, second.eventID, byBob.eventID]
        // `dependent` (Alice, the highest power) comes as soon as byCarolSameTS1 is out.
        expected.insert(dependent.eventID, at: expected.firstIndex(of: byCarolSameTS1.eventID)! + 1)
        #expect(ordered == expected)
    }

    /// Mainline positions: events citing later power levels sort later.
    @Test(arguments: [RoomVersion.v2, .v11, .v12])
    func mainlineOrdering(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob])
        let p1 = try room.powerLevels([alice: 100, bob: 50, carol: 1], by: alice, after: base)
        let p2 = try room.powerLevels([alice: 100, bob: 50, carol: 2], by: alice, after: p1)
        let onBase = try room.topic("base", by: bob, after: base, ts: 90_000)
        let onP1 = try room.topic("p1", by: bob, after: p1, ts: 80_000)
        let onP2a = try room.topic("p2a", by: bob, after: p2, ts: 70_000)
        let onP2b = try room.topic("p2b", by: alice, after: p2, ts: 60_000)
        // A power levels fork off the mainline: its events meet the mainline at p1.
        let offMainline = try room.powerLevels([alice: 100, bob: 50, carol: 7], by: alice, after: p1)
        let onOff = try room.topic("off", by: bob, after: offMainline, ts: 1)

        let context = ResolutionContext(version: version, rules: .standard(for: version), fetch: room.fetch)
        let set = Set([onBase, onP1, onP2a, onP2b, onOff].map(\.eventID))
        let ordered = try context.mainlineOrdering(set, powerLevels: p2.eventID).map(\.eventID)
        // onBase (cites the base power levels, deepest) first; onP1 and onOff meet the mainline
        // at p1 (by ts: onOff then onP1); then onP2b, onP2a by timestamp.
        #expect(ordered == [onBase, onOff, onP1, onP2b, onP2a].map(\.eventID))
        // No power levels at all: every position is infinite; by timestamp.
        let flat = try context.mainlineOrdering(set, powerLevels: nil).map(\.eventID)
        #expect(flat == [onOff, onP2b, onP2a, onP1, onBase].map(\.eventID))
    }

    @Test func heapSorts() {
        var heap = Heap<Int>()
        var values = (0..<500).map { ($0 * 7_919) % 1_009 }
        for value in values { heap.push(value) }
        var out: [Int] = []
        while let value = heap.pop() { out.append(value) }
        values.sort()
        #expect(out == values)
        #expect(heap.isEmpty)
    }
}
