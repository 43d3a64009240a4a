@testable import HearthCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A large room built directly (no per-event state snapshots, which would be quadratic): many
/// members, then two branches of concurrent state changes.
final class BigRoom {
    let version: RoomVersion
    private(set) var events: [EventID: PDU] = [:]
    private var keys: [ServerName: SigningKey] = [:]
    private var counter = 0
    private(set) var roomID: RoomID?
    private(set) var create: PDU!

    init(version: RoomVersion) { self.version = version }

    func fetch(_ id: EventID) -> PDU? { events[id] }

    /// Builds and records an event after `prev`, selecting its auth events from `state` and
    /// applying it to `state`. No authorization check: callers send only allowed events.
    @discardableResult
    func send(_ type: String, stateKey: String?, by sender: UserID, content: JSONObject, after prev: PDU?,
              state: inout [StateKey: EventID], ts: Int64) throws -> PDU {
        counter += 1
        let server = sender.server
        let key = keys[server] ?? SigningKey.generate(version: "1")
        keys[server] = key
        var auth: [EventID] = []
        if type != "m.room.create" {
            for authKey in EventAuthorization.authEventKeys(type: type, stateKey: stateKey, sender: sender,
                                                            content: content, version: version) {
                if let id = state[authKey] { auth.append(id) }
            }
        }
        let builder = EventBuilder(
            roomVersion: version, roomID: type == "m.room.create" && version.roomIDFormat == .createEventHash ? nil : roomID,
            type: type, stateKey: stateKey, sender: sender, content: content, prevEvents: prev.map { [$0.eventID] } ?? [],
            authEvents: auth, depth: (prev?.depth ?? 0) + 1, originServerTS: ts)
        let legacyID = version.eventIDFormat == .serverScoped ? EventID("$e\(counter):\(server.rawValue)") : nil
        let event = try builder.build(server: server, key: key, legacyEventID: legacyID)
        if type == "m.room.create" {
            create = event
            if version.roomIDFormat == .createEventHash { roomID = RoomID(createEventID: event.eventID) }
        }
        events[event.eventID] = event
        if let stateKey { state[StateKey(type, stateKey)] = event.eventID }
        return event
    }

    struct Fork {
        var common: [StateKey: EventID]
        var a: [StateKey: EventID]
        var b: [StateKey: EventID]
    }

    /// `members` users join; then branch A (Alice) changes the power levels and sets `perBranch`
    /// custom state keys, and branch B (Bob, a moderator) kicks `kicks` members and sets
    /// `perBranch − kicks` of the same custom keys: about 2·perBranch conflicting state events.
    static func forked(version: RoomVersion, members: Int, perBranch: Int, kicks: Int) throws -> (BigRoom, Fork) {
        let room = BigRoom(version: version)
        let alice = Cast.alice
        let bob = Cast.bob
        var state: [StateKey: EventID] = [:]
        var ts: Int64 = 1
        func tick() -> Int64 { ts += 1; return ts }
        if version.roomIDFormat == .serverScoped { room.roomID = RoomID("!big:a.example") }
        var createContent: JSONObject = ["room_version": .string(version.identifier)]
        if version.auth.createEventHasCreator { createContent["creator"] = .string(alice.rawValue) }
        var last = try room.send("m.room.create", stateKey: "", by: alice, content: createContent, after: nil,
                                 state: &state, ts: tick())
        last = try room.send("m.room.member", stateKey: alice.rawValue, by: alice, content: ["membership": "join"],
                             after: last, state: &state, ts: tick())
        func levels(_ users: [UserID: Int64]) -> JSONObject {
            var map = JSONObject()
            for (user, level) in users where !(version.auth.creatorsHaveInfinitePower && user == alice) {
                map[user.rawValue] = .int(level)
            }
            return ["users": .object(map)]
        }
        last = try room.send("m.room.power_levels", stateKey: "", by: alice, content: levels([alice: 100, bob: 50]),
                             after: last, state: &state, ts: tick())
        last = try room.send("m.room.join_rules", stateKey: "", by: alice, content: ["join_rule": "public"],
                             after: last, state: &state, ts: tick())
        last = try room.send("m.room.member", stateKey: bob.rawValue, by: bob, content: ["membership": "join"],
                             after: last, state: &state, ts: tick())
        var users: [UserID] = []
        for index in 0..<members {
            let user = UserID("@u\(index):s\(index % 16).example")!
            users.append(user)
            last = try room.send("m.room.member", stateKey: user.rawValue, by: user, content: ["membership": "join"],
                                 after: last, state: &state, ts: tick())
        }
        let common = state
        let forkPoint = last

        var a = common
        var tipA = try room.send("m.room.power_levels", stateKey: "", by: alice,
                                 content: levels([alice: 100, bob: 50, users[0]: 10]), after: forkPoint, state: &a,
                                 ts: tick())
        for index in 0..<(perBranch - 1) {
            tipA = try room.send("org.example.setting", stateKey: "k\(index)", by: alice,
                                 content: ["value": .string("a\(index)")], after: tipA, state: &a, ts: tick())
        }
        var b = common
        var tipB = forkPoint
        for index in 0..<kicks {
            tipB = try room.send("m.room.member", stateKey: users[members - 1 - index].rawValue, by: bob,
                                 content: ["membership": "leave"], after: tipB, state: &b, ts: tick())
        }
        for index in 0..<(perBranch - kicks) {
            tipB = try room.send("org.example.setting", stateKey: "k\(index)", by: bob,
                                 content: ["value": .string("b\(index)")], after: tipB, state: &b, ts: tick())
        }
        _ = (tipA, tipB)
        return (room, Fork(common: common, a: a, b: b))
    }
}

@Suite struct StateResScaleTests {
    /// Counts what the resolver asks for, as a machine-independent measure of its work.
    final class CountingFetch: @unchecked Sendable {
        let events: [EventID: PDU]
        var calls = 0
        init(_ events: [EventID: PDU]) { self.events = events }
        func fetch(_ id: EventID) -> PDU? {
            calls += 1
            return events[id]
        }
    }

    /// Two forks of a large room with about 200 conflicting state events. Checks the outcome,
    /// that each event is fetched once per call (memoized), and that with a supplied auth
    /// difference the work does not depend on the room's size.
    /// Members in the large room: 2,000 by default, `HEARTH_STATERES_MEMBERS` to change (the
    /// benchmark size is 10,000).
    static var members: Int {
        getenv("HEARTH_STATERES_MEMBERS").flatMap { Int(String(cString: $0)) } ?? 2_000
    }

    @Test(arguments: [RoomVersion.v11, .v12])
    func largeRoomFork(version: RoomVersion) throws {
        let members = Self.members
        let (room, fork) = try BigRoom.forked(version: version, members: members, perBranch: 100, kicks: 20)
        let counting = CountingFetch(room.events)
        let clock = ContinuousClock()

        var resolved: [StateKey: EventID] = [:]
        let computed = try clock.measure {
            resolved = try StateResolution.resolve(version: version, stateSets: [fork.a, fork.b], fetch: counting.fetch)
        }
        // Memoized: no event fetched twice; the walk covers the room's auth graph once.
        #expect(counting.calls <= room.events.count)

        // The outcome: Alice's power levels; the kicks (Bob's level is unchanged); on the custom
        // keys, Alice's events cite the newer power levels (mainline position 0) and are applied
        // after Bob's (position 1), so they win although Bob's are later.
        let powerLevels = try #require(resolved[.powerLevels])
        #expect(room.events[powerLevels]?.content["users"]?["@u0:s0.example"] == .int(10))
        for index in 0..<20 {
            let user = "@u\(members - 1 - index):s\((members - 1 - index) % 16).example"
            #expect(room.events[resolved[StateKey("m.room.member", user)]!]?.content["membership"] == "leave")
        }
        for index in 0..<99 {
            let expected = "a\(index)"
            #expect(room.events[resolved[StateKey("org.example.setting", "k\(index)")]!]?.content["value"]
                == .string(expected))
        }
        #expect(resolved.count == fork.common.count + 99)

        // With the auth difference supplied, only the conflicted events' neighbourhood is read.
        let difference = naiveAuthDifference([fork.a, fork.b], fetch: room.fetch)
        let sparse = CountingFetch(room.events)
        var fast: [StateKey: EventID] = [:]
        let supplied = try clock.measure {
            fast = try StateResolution.resolve(version: version, stateSets: [fork.a, fork.b],
                                               authDifference: difference, fetch: sparse.fetch)
        }
        #expect(fast == resolved)
        // ~220 conflicted events, each fetched once with a few shared auth events: the count is
        // independent of the number of members (compare the small room below).
        #expect(sparse.calls < 600, "fetched \(sparse.calls) events for ~220 conflicts in a \(members)-member room")
        let (smallRoom, smallFork) = try BigRoom.forked(version: version, members: 100, perBranch: 100, kicks: 20)
        let smallCounting = CountingFetch(smallRoom.events)
        _ = try StateResolution.resolve(version: version, stateSets: [smallFork.a, smallFork.b],
                                        authDifference: naiveAuthDifference([smallFork.a, smallFork.b],
                                                                            fetch: smallRoom.fetch),
                                        fetch: smallCounting.fetch)
        #expect(sparse.calls == smallCounting.calls)
        print("state res \(version): \(room.events.count) events, computed auth difference \(computed) "
              + "(\(counting.calls) fetches), supplied \(supplied) (\(sparse.calls) fetches)")
    }
}
