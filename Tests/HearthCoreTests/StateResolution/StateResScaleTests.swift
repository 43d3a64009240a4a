@testable import HearthCore
import HearthFixtures
import Testing
#if canImport(Glibc)
import Glibc
#endif

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
