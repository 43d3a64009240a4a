@testable import HearthCore
import PropertyBased
import Testing

/// One step of a random room history: `actor` tries `action` on `target` (with a parameter
/// `value`) on fork `branch`. Steps the authorization rules refuse are skipped, so every
/// generated DAG is one real servers could have produced.
struct ForkStep: Sendable, CustomStringConvertible {
    var branch: Int
    var actor: Int
    var action: Int
    var target: Int
    var value: Int

    var description: String { "b\(branch):\(actor)→\(action)(\(target),\(value))" }

    static let actionCount = 11

    static var generator: Generator<ForkStep, some SendableSequenceType> {
        zip(Gen.int(in: 0...2), Gen.int(in: 0...5), Gen.int(in: 0...(actionCount - 1)), Gen.int(in: 0...5),
            Gen.int(in: 0...4))
            .map { ForkStep(branch: $0.0, actor: $0.1, action: $0.2, target: $0.3, value: $0.4) }
    }
}

/// A small room forked into two or three branches by random steps.
struct RandomFork {
    let room: TestRoom
    let tips: [PDU]

    static let people = [Cast.alice, Cast.bob, Cast.carol, Cast.dave, Cast.eve, Cast.mallory]

    init(version: RoomVersion, trunk: [ForkStep], forks: [ForkStep], branchCount: Int) throws {
        let room = try TestRoom(version: version)
        var tip = try room.standardStart(levels: [Cast.bob: 50, Cast.carol: 10], members: [Cast.bob, Cast.carol, Cast.dave])
        var clock: Int64 = 10_000
        for step in trunk {
            clock += 1
            tip = try RandomFork.apply(step, room: room, tip: tip, tips: [tip], ts: clock)
        }
        var tips = Array(repeating: tip, count: branchCount)
        for step in forks {
            let branch = step.branch % branchCount
            // Small timestamps with collisions exercise the tie-breaks.
            clock += Int64(step.value % 2)
            tips[branch] = try RandomFork.apply(step, room: room, tip: tips[branch], tips: tips, ts: clock)
        }
        self.room = room
        self.tips = tips
    }

    /// Applies a step if the authorization rules allow it; returns the new tip.
    static func apply(_ step: ForkStep, room: TestRoom, tip: PDU, tips: [PDU], ts: Int64) throws -> PDU {
        let actor = people[step.actor]
        let target = people[step.target]
        let state = room.state(tip)
        func member(_ membership: String) throws -> PDU? {
            try room.trySend("m.room.member", stateKey: target.rawValue, by: actor,
                             content: ["membership": .string(membership)], after: [tip], ts: ts)
        }
        let sent: PDU?
        switch step.action {
        case 0:
            sent = try room.trySend("m.room.topic", stateKey: "", by: actor, content: ["topic": .string("t\(step.value)")],
                                    after: [tip], ts: ts)
        case 1:
            sent = try room.trySend("m.room.name", stateKey: "", by: actor, content: ["name": .string("n\(step.value)")],
                                    after: [tip], ts: ts)
        case 2, 10:
            var content = room.event(in: state, .powerLevels)?.content ?? [:]
            if step.action == 2 {
                var users = content["users"]?.objectValue ?? [:]
                users[target.rawValue] = .int([0, 10, 25, 50, 75][step.value])
                content["users"] = .object(users)
            } else {
                var events = content["events"]?.objectValue ?? [:]
                events["m.room.topic"] = .int([0, 10, 25, 50, 75][step.value])
                content["events"] = .object(events)
            }
            sent = try room.trySend("m.room.power_levels", stateKey: "", by: actor, content: content, after: [tip], ts: ts)
        case 3:
            sent = try room.trySend("m.room.member", stateKey: actor.rawValue, by: actor, content: ["membership": "join"],
                                    after: [tip], ts: ts)
        case 4:
            sent = try room.trySend("m.room.member", stateKey: actor.rawValue, by: actor, content: ["membership": "leave"],
                                    after: [tip], ts: ts)
        case 5: sent = try member("leave")
        case 6: sent = try member("ban")
        case 7: sent = try member("invite")
        case 8:
            sent = try room.trySend("m.room.join_rules", stateKey: "", by: actor,
                                    content: ["join_rule": .string(step.value % 2 == 0 ? "public" : "invite")],
                                    after: [tip], ts: ts)
        case 9:
            // A merge: a topic whose prev_events are this tip and another branch's.
            let other = tips[step.target % tips.count]
            guard other.eventID != tip.eventID else { return tip }
            sent = try room.trySend("m.room.topic", stateKey: "", by: actor, content: ["topic": "merged"],
                                    after: [tip, other], ts: ts)
        default:
            sent = nil
        }
        return sent ?? tip
    }
}

/// The auth difference computed the slow, obvious way, to cross-check the resolver's.
func naiveAuthDifference(_ stateSets: [[StateKey: EventID]], fetch: (EventID) -> PDU?) -> Set<EventID> {
    var chains: [Set<EventID>] = []
    for set in stateSets {
        var chain = Set<EventID>()
        var stack = set.values.flatMap { fetch($0)!.authEvents }
        while let id = stack.popLast() {
            if chain.insert(id).inserted { stack.append(contentsOf: fetch(id)!.authEvents) }
        }
        chains.append(chain)
    }
    let union = chains.reduce(into: Set<EventID>()) { $0.formUnion($1) }
    let intersection = chains.dropFirst().reduce(chains[0]) { $0.intersection($1) }
    return union.subtracting(intersection)
}

func permutations<T>(_ items: [T]) -> [[T]] {
    guard items.count > 1 else { return [items] }
    var result: [[T]] = []
    for index in items.indices {
        var rest = items
        let head = rest.remove(at: index)
        for tail in permutations(rest) { result.append([head] + tail) }
    }
    return result
}

/// A deterministic shuffle (SplitMix64), so the fetch order is part of the generated input.
func shuffled<T>(_ items: [T], seed: Int) -> [T] {
    var state = UInt64(bitPattern: Int64(seed))
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    var result = items
    for i in stride(from: result.count - 1, to: 0, by: -1) {
        result.swapAt(i, Int(next() % UInt64(i + 1)))
    }
    return result
}

@Suite struct StateResPropertyTests {
    /// Resolution is a function of the set of state sets: not of their order, not of duplicates,
    /// not of the order in which events were loaded or `fetch` is consulted, and (v2, v2.1) not
    /// of whether the auth difference is computed by the resolver or supplied by the caller.
    func checkOrderIndependence(_ version: RoomVersion, trunk: [ForkStep], forks: [ForkStep], branchCount: Int,
                                fetchSeed: Int) throws {
        let fork = try RandomFork(version: version, trunk: trunk, forks: forks, branchCount: branchCount)
        let room = fork.room
        let sets = fork.tips.map { room.state($0) }
        let reference = try StateResolution.resolve(version: version, stateSets: sets, fetch: room.fetch)

        // Every value is an event with its key, and the create event survives.
        for (key, id) in reference { #expect(room.events[id]?.stateTuple == key) }
        #expect(reference[.create] == room.create.eventID)

        for permutation in permutations(sets).dropFirst() {
            let resolved = try StateResolution.resolve(version: version, stateSets: permutation, fetch: room.fetch)
            #expect(resolved == reference, "state set order changed the result")
        }

        // Events loaded in another order, freshly decoded, fetched through another closure.
        var reloaded: [EventID: PDU] = [:]
        for event in shuffled(Array(room.events.values), seed: fetchSeed) {
            reloaded[event.eventID] = try PDU(json: event.json, version: version)
        }
        let viaReloaded = try StateResolution.resolve(version: version, stateSets: shuffled(sets, seed: fetchSeed)) {
            reloaded[$0]
        }
        #expect(viaReloaded == reference, "fetch order changed the result")

        #expect(try StateResolution.resolve(version: version, stateSets: sets + [sets[0]], fetch: room.fetch) == reference)
        #expect(try StateResolution.resolve(version: version, stateSets: [sets[0], sets[0]], fetch: room.fetch) == sets[0])

        if version.stateResolution != .v1 {
            let difference = naiveAuthDifference(sets, fetch: room.fetch)
            let context = ResolutionContext(version: version, rules: .standard(for: version), fetch: room.fetch)
            let split = context.split(sets)
            #expect(try context.authDifference(unconflicted: split.unconflicted,
                                               conflictedPerSet: split.conflictedPerSet) == difference)
            let supplied = try StateResolution.resolve(version: version, stateSets: sets, authDifference: difference,
                                                       fetch: room.fetch)
            #expect(supplied == reference, "supplied auth difference changed the result")
            // The unconflicted state map always survives.
            for (key, id) in split.unconflicted { #expect(reference[key] == id) }
        }
    }

    static var trunk: Generator<[ForkStep], some SendableSequenceType> { ForkStep.generator.array(of: 0...6) }
    static var forks: Generator<[ForkStep], some SendableSequenceType> { ForkStep.generator.array(of: 2...22) }

    @Test func orderIndependenceV1() async {
        await propertyCheck(count: 60, input: Self.trunk, Self.forks, Gen.int(in: 2...3), Gen.int(in: 0...1_000_000)) {
            trunk, forks, branches, seed in
            try checkOrderIndependence(.v1, trunk: trunk, forks: forks, branchCount: branches, fetchSeed: seed)
        }
    }

    @Test func orderIndependenceV2() async {
        await propertyCheck(count: 100, input: Self.trunk, Self.forks, Gen.int(in: 2...3), Gen.int(in: 0...1_000_000),
                            Gen.int(in: 0...(ResVersions.v2Family.count - 1))) {
            trunk, forks, branches, seed, versionIndex in
            try checkOrderIndependence(ResVersions.v2Family[versionIndex], trunk: trunk, forks: forks, branchCount: branches, fetchSeed: seed)
        }
    }

    @Test func orderIndependenceV2_1() async {
        await propertyCheck(count: 100, input: Self.trunk, Self.forks, Gen.int(in: 2...3), Gen.int(in: 0...1_000_000)) {
            trunk, forks, branches, seed in
            try checkOrderIndependence(.v12, trunk: trunk, forks: forks, branchCount: branches, fetchSeed: seed)
        }
    }
}
