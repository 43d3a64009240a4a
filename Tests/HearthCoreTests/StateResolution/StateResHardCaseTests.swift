@testable import HearthCore
import Testing

private let alice = Cast.alice
private let bob = Cast.bob
private let carol = Cast.carol
private let dave = Cast.dave
private let eve = Cast.eve
private let mallory = Cast.mallory

/// Resolves in both orders and checks that both give the same answer.
private func resolveBothWays(_ room: TestRoom, _ a: [StateKey: EventID], _ b: [StateKey: EventID]) throws
    -> [StateKey: EventID]
{
    let forward = try room.resolve([a, b])
    let backward = try room.resolve([b, a])
    #expect(forward == backward, "resolution depends on the order of the state sets")
    return forward
}

@Suite struct StateResHardCaseTests {
    // MARK: 1. A ban racing a power level change

    /// The admin demotes a moderator while the moderator concurrently bans someone: the
    /// demotion is ordered first (higher sender power) and the ban then fails.
    @Test(arguments: ResVersions.all)
    func banRacingDemotionLoses(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob, carol])
        let carolJoin = try #require(room.state(base)[.member(carol)])
        // The ban even carries the earlier timestamp.
        let ban = try room.member(carol, "ban", by: bob, after: base, ts: 5_000)
        let demotion = try room.powerLevels([alice: 100], by: alice, after: base, ts: 5_001)

        let resolved = try resolveBothWays(room, room.state(demotion), room.state(ban))
        #expect(resolved[.powerLevels] == demotion.eventID)
        #expect(resolved[.member(carol)] == carolJoin)
        #expect(room.membership(in: resolved, carol) == "join")
    }

    /// Without the demotion the same ban stands (the test above is not passing by accident).
    @Test(arguments: ResVersions.all)
    func banWithoutDemotionStands(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob, carol])
        let ban = try room.member(carol, "ban", by: bob, after: base)
        let topic = try room.topic("unrelated", by: alice, after: base)

        let resolved = try resolveBothWays(room, room.state(topic), room.state(ban))
        #expect(resolved[.member(carol)] == ban.eventID)
        #expect(resolved[.topic] == topic.eventID)
    }

    // MARK: 2. Join rules flipped concurrently

    /// The room goes invite-only while someone joins under the old public rule: the join rule
    /// change is a power event, applied first, and the join then fails.
    @Test(arguments: ResVersions.v2AndLater)
    func joinRacingInviteOnlyLoses(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(members: [bob])
        let inviteOnly = try room.joinRule("invite", by: alice, after: base, ts: 9_000)
        let join = try room.member(dave, "join", after: base, ts: 8_000)

        let resolved = try resolveBothWays(room, room.state(inviteOnly), room.state(join))
        #expect(resolved[.joinRules] == inviteOnly.eventID)
        #expect(resolved[.member(dave)] == nil)
    }

    /// A join that was invited survives the same race.
    @Test(arguments: ResVersions.v2AndLater)
    func invitedJoinSurvivesInviteOnly(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(members: [bob])
        let invite = try room.member(dave, "invite", by: alice, after: base)
        let inviteOnly = try room.joinRule("invite", by: alice, after: invite)
        let join = try room.member(dave, "join", after: invite)

        let resolved = try resolveBothWays(room, room.state(inviteOnly), room.state(join))
        #expect(resolved[.joinRules] == inviteOnly.eventID)
        #expect(resolved[.member(dave)] == join.eventID)
    }

    /// Room version 1 only resolves keys the states disagree on; Dave's membership exists in one
    /// state only, so the v1 algorithm keeps the join (one of v1's known weaknesses).
    @Test func joinRacingInviteOnlyV1() throws {
        let room = try TestRoom(version: .v1)
        let base = try room.standardStart(members: [bob])
        let inviteOnly = try room.joinRule("invite", by: alice, after: base)
        let join = try room.member(dave, "join", after: base)

        let resolved = try resolveBothWays(room, room.state(inviteOnly), room.state(join))
        #expect(resolved[.joinRules] == inviteOnly.eventID)
        #expect(resolved[.member(dave)] == join.eventID)
    }

    // MARK: 3. Competing topics

    /// Same mainline position: the later origin_server_ts wins.
    @Test(arguments: ResVersions.v2AndLater)
    func competingTopicsByTimestamp(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob])
        let late = try room.topic("alice's", by: alice, after: base, ts: 7_000)
        let early = try room.topic("bob's", by: bob, after: base, ts: 6_000)

        let resolved = try resolveBothWays(room, room.state(late), room.state(early))
        #expect(resolved[.topic] == late.eventID)
    }

    /// Same mainline position and timestamp: the greater event ID wins (it sorts last).
    @Test(arguments: ResVersions.v2AndLater)
    func competingTopicsByEventID(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob])
        let one = try room.topic("one", by: alice, after: base, ts: 7_000)
        let two = try room.topic("two", by: bob, after: base, ts: 7_000)

        let resolved = try resolveBothWays(room, room.state(one), room.state(two))
        #expect(resolved[.topic] == max(one.eventID, two.eventID))
    }

    /// A topic authorized by a later power levels event in the mainline wins over a topic with
    /// a later timestamp authorized by an earlier one.
    @Test(arguments: ResVersions.v2AndLater)
    func competingTopicsByMainline(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob, carol])
        let newLevels = try room.powerLevels([alice: 100, bob: 50, carol: 10], by: alice, after: base)
        let mainlineTopic = try room.topic("after the new levels", by: alice, after: newLevels, ts: 1)
        let lateTopic = try room.topic("much later", by: bob, after: base, ts: 1_000_000)

        let resolved = try resolveBothWays(room, room.state(mainlineTopic), room.state(lateTopic))
        #expect(resolved[.powerLevels] == newLevels.eventID)
        #expect(resolved[.topic] == mainlineTopic.eventID)
    }

    /// Room version 1: the highest depth wins, then the lowest sha1(event_id).
    @Test func competingTopicsV1() throws {
        let room = try TestRoom(version: .v1)
        let base = try room.standardStart(levels: [bob: 50], members: [bob])
        let one = try room.topic("one", by: alice, after: base)
        let two = try room.topic("two", by: bob, after: base)
        let deeper = try room.topic("three", by: bob, after: two)
        #expect(try resolveBothWays(room, room.state(one), room.state(deeper))[.topic] == deeper.eventID)

        let resolved = try resolveBothWays(room, room.state(one), room.state(two))
        let sha1 = ResolutionContext.sha1(of:)
        let expected = sha1(one.eventID).lexicographicallyPrecedes(sha1(two.eventID)) ? one : two
        #expect(resolved[.topic] == expected.eventID)
    }

    // MARK: 4. An unprivileged server trying to reset state

    /// A server whose only user has no power forks from an old point of the DAG and presents
    /// the old state plus its user's (legitimate) events. The room's name, power levels and
    /// memberships changed since must survive; only the new user's own membership is added.
    @Test(arguments: ResVersions.all)
    func unprivilegedForkDoesNotResetState(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        var last = try room.standardStart(levels: [bob: 50], members: [bob, carol, mallory])
        last = try room.name("old name", by: alice, after: last)
        let forkPoint = last

        // The room moves on.
        last = try room.name("new name", by: alice, after: last)
        let newLevels = try room.powerLevels([alice: 100, bob: 50, carol: 50], by: alice, after: last)
        last = try room.member(mallory, "ban", by: bob, after: newLevels)
        last = try room.member(dave, "join", after: last)
        last = try room.topic("current topic", by: carol, after: last)
        let main = room.state(last)

        // Eve's server forks from the old point.
        var evil = try room.member(eve, "join", after: forkPoint)
        evil = try room.member(eve, "join", after: evil, content: ["displayname": "Eve"])
        evil = try room.message("hello", by: eve, after: evil)
        #expect(try room.trySend("m.room.name", stateKey: "", by: eve, content: ["name": "pwned"], after: [evil]) == nil)
        let forked = room.state(evil)

        let resolved = try resolveBothWays(room, main, forked)
        for key in [StateKey.name, .powerLevels, .topic, .member(alice), .member(bob), .member(carol),
                    .member(mallory), .member(dave), .joinRules, .create] {
            #expect(resolved[key] == main[key], "\(key) was reset")
        }
        #expect(room.membership(in: resolved, mallory) == "ban")
        #expect(resolved[.member(eve)] == forked[.member(eve)])
    }

    /// The same attack with the old state claimed wholesale: the forked state set holds the
    /// old power levels and memberships although Eve's own join was authorized later.
    @Test(arguments: ResVersions.v2AndLater)
    func unprivilegedServerClaimingOldStateDoesNotWin(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        var last = try room.standardStart(levels: [bob: 50], members: [bob, carol, mallory])
        let old = room.state(last)
        last = try room.powerLevels([alice: 100, bob: 50, carol: 50], by: alice, after: last)
        last = try room.member(mallory, "ban", by: bob, after: last)
        last = try room.member(eve, "join", after: last)
        let main = room.state(last)

        var claimed = old
        claimed[.member(eve)] = main[.member(eve)]
        let resolved = try resolveBothWays(room, main, claimed)
        #expect(resolved == main)
    }

    // MARK: 5. Room version 12 (v2.1)

    /// Bob bans Carol on one branch and leaves on another. Merged, the state holds both; resolved
    /// against the leave-only branch, Bob's leave is unconflicted. v2 authorizes the ban against
    /// that unconflicted leave and drops it; v2.1 starts the iterative auth checks from an empty
    /// map, authorizes the ban against the state it was sent in, and keeps it.
    @Test(arguments: ResVersions.v2AndLater)
    func emptyStartingStateKeepsBanBySenderWhoLaterLeft(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob, carol])
        let ban = try room.member(carol, "ban", by: bob, after: base)
        let leave = try room.member(bob, "leave", after: base)
        let merged = try room.resolve([room.state(ban), room.state(leave)])
        #expect(merged[.member(carol)] == ban.eventID)
        #expect(merged[.member(bob)] == leave.eventID)

        let resolved = try resolveBothWays(room, merged, room.state(leave))
        #expect(resolved[.member(bob)] == leave.eventID)
        if version.stateResolution == .v2_1 {
            #expect(resolved[.member(carol)] == ban.eventID)
        } else {
            #expect(room.membership(in: resolved, carol) == "join")
        }
    }

    /// Power levels PL0 → PL1 (Bob) → PL2 (Alice, promotes Carol) → PL3 (Alice). One state set
    /// has PL3; the other claims PL1 although its (unconflicted) member events cite PL2, so PL2
    /// is in every auth chain and not in the auth difference. v2 sees PL3 and PL1 unrelated,
    /// orders PL3 first (Alice outranks Bob) and lets PL1 overwrite it: Carol's promotion is
    /// reset. v2.1's conflicted state subgraph includes PL2 (on the auth path PL3 → PL2 → PL1),
    /// which orders PL1 before PL3.
    @Test(arguments: ResVersions.v2AndLater)
    func conflictedStateSubgraphOrdersPowerLevels(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [bob, carol])
        let topicAt50: JSONObject = ["events": ["m.room.topic": 50]]
        let pl1 = try room.powerLevels([alice: 100, bob: 50], extra: topicAt50, by: bob, after: base)
        let pl2 = try room.powerLevels([alice: 100, bob: 50, carol: 20], extra: topicAt50, by: alice, after: pl1)
        let daveJoin = try room.member(dave, "join", after: pl2)
        let pl3 = try room.powerLevels([alice: 100, bob: 50, carol: 20],
                                       extra: ["events": ["m.room.topic": 50, "m.room.name": 50]],
                                       by: alice, after: daveJoin)
        var claimed = room.state(daveJoin)
        claimed[.powerLevels] = pl1.eventID

        let resolved = try resolveBothWays(room, room.state(pl3), claimed)
        #expect(resolved[.member(dave)] == daveJoin.eventID)
        if version.stateResolution == .v2_1 {
            #expect(resolved[.powerLevels] == pl3.eventID)
        } else {
            #expect(resolved[.powerLevels] == pl1.eventID)
        }
    }

    /// Mainline ordering is based on the power levels of the *partially resolved* state. In v2
    /// that includes the unconflicted power levels; in v2.1 the partial state starts empty, so
    /// with the power levels unconflicted (and no power event replayed) it has none, every
    /// mainline position is infinite, and the timestamp decides.
    @Test(arguments: ResVersions.v2AndLater)
    func mainlineBaseIsThePartiallyResolvedState(version: RoomVersion) throws {
        let room = try TestRoom(version: version)
        let base = try room.standardStart(levels: [bob: 50], members: [carol])
        let oldTopic = try room.topic("cites the old levels", by: alice, after: base, ts: 50_000)
        let newLevels = try room.powerLevels([alice: 100, bob: 50, carol: 5], by: alice, after: base)
        let bobJoin = try room.member(bob, "join", after: newLevels)
        let newTopic = try room.topic("cites the new levels", by: bob, after: bobJoin, ts: 40_000)
        let merged = try room.resolve([room.state(oldTopic), room.state(bobJoin)])
        #expect(merged[.powerLevels] == newLevels.eventID)
        #expect(merged[.topic] == oldTopic.eventID)

        let resolved = try resolveBothWays(room, merged, room.state(newTopic))
        #expect(resolved[.powerLevels] == newLevels.eventID)
        #expect(resolved[.topic] == (version.stateResolution == .v2_1 ? oldTopic : newTopic).eventID)
    }

    /// The conflicted state subgraph itself: events on auth paths between conflicted events,
    /// and nothing else.
    @Test func conflictedStateSubgraphContents() throws {
        let room = try TestRoom(version: .v12)
        let base = try room.standardStart(levels: [bob: 50], members: [bob, carol])
        let pl1 = try room.powerLevels([bob: 50, carol: 10], by: alice, after: base)
        let pl2 = try room.powerLevels([bob: 50, carol: 20], by: alice, after: pl1)
        let pl3 = try room.powerLevels([bob: 50, carol: 30], by: alice, after: pl2)
        let unrelated = try room.topic("t", by: alice, after: pl3)

        let context = ResolutionContext(version: .v12, rules: .standard(for: .v12), fetch: room.fetch)
        let subgraph = try context.conflictedSubgraph([pl3.eventID, pl1.eventID])
        #expect(subgraph == [pl1.eventID, pl2.eventID, pl3.eventID])
        let withTopic = try context.conflictedSubgraph([unrelated.eventID, pl1.eventID])
        // The topic cites pl3 → pl2 → pl1.
        #expect(withTopic == [unrelated.eventID, pl3.eventID, pl2.eventID, pl1.eventID])
        #expect(try context.conflictedSubgraph([unrelated.eventID]) == [unrelated.eventID])
    }
}
