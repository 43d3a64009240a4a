import HearthCore
import Testing

/// Membership rules 5.4 (invite, without third-party invites), 5.5 (leave), 5.6 (ban), 5.7
/// (knock) and 5.8 (unknown), numbered as in room version 12.
@Suite struct AuthMembershipRulesTests {
    // MARK: 5.4 invite

    @Test(arguments: Versions.all)
    func rule5_4_2_inviterMustBeJoined(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        #expect(try room.attemptMember(Users.carol, "invite", by: Users.bob)?.rule == MemberRules.rule(version, "invite", "2"))
    }

    @Test(arguments: Versions.all)
    func rule5_4_3_cannotInviteJoinedOrBanned(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob])
        #expect(try room.attemptMember(Users.bob, "invite", by: Users.alice)?.rule == MemberRules.rule(version, "invite", "3"))
        try room.member(Users.carol, "ban", by: Users.alice)
        #expect(try room.attemptMember(Users.carol, "invite", by: Users.alice)?.rule == MemberRules.rule(version, "invite", "3"))
    }

    @Test(arguments: Versions.all)
    func rule5_4_4_inviteAtInviteLevel(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob])
        // Default invite level is 0: any member may invite; re-inviting an invitee is fine.
        try room.member(Users.carol, "invite", by: Users.bob)
        #expect(try room.attemptMember(Users.carol, "invite", by: Users.alice) == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_4_5_inviteBelowInviteLevelIsRejected(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob], extraPowerLevels: ["invite": 50])
        #expect(try room.attemptMember(Users.carol, "invite", by: Users.bob)?.rule == MemberRules.rule(version, "invite", "5"))
        #expect(try room.attemptMember(Users.carol, "invite", by: Users.alice) == nil)
    }

    // MARK: 5.5 leave

    @Test(arguments: Versions.all)
    func rule5_5_1_leavingYourself(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob])
        let expected = MemberRules.rule(version, "leave", "1")
        #expect(try room.attemptMember(Users.bob, "leave") == nil)
        // Rejecting an invite.
        try room.member(Users.carol, "invite", by: Users.alice)
        #expect(try room.attemptMember(Users.carol, "leave") == nil)
        // Never in the room.
        #expect(try room.attemptMember(Users.erin, "leave")?.rule == expected)
        // Banned users cannot unban themselves by leaving.
        try room.member(Users.bob, "ban", by: Users.alice)
        #expect(try room.attemptMember(Users.bob, "leave")?.rule == expected)
        // Already left.
        try room.member(Users.carol, "leave")
        #expect(try room.attemptMember(Users.carol, "leave")?.rule == expected)
    }

    @Test(arguments: Versions.withKnock)
    func rule5_5_1_knockCanBeRetractedFromV7(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "knock")
        try room.member(Users.bob, "knock")
        #expect(try room.attemptMember(Users.bob, "leave") == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_5_2_kickerMustBeJoined(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob], users: [Users.carol: 100])
        #expect(try room.attemptMember(Users.bob, "leave", by: Users.carol)?.rule == MemberRules.rule(version, "leave", "2"))
    }

    @Test(arguments: Versions.all)
    func rule5_5_3_unbanNeedsBanLevel(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave], users: [Users.dave: 60],
                                               extraPowerLevels: ["ban": 80, "kick": 50])
        try room.member(Users.bob, "ban", by: Users.alice)
        #expect(try room.attemptMember(Users.bob, "leave", by: Users.dave)?.rule == MemberRules.rule(version, "leave", "3"))
        #expect(try room.attemptMember(Users.bob, "leave", by: Users.alice) == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_5_4_kickNeedsKickLevelAndHigherLevel(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave, Users.bob, Users.erin],
                                               users: [Users.dave: 60, Users.erin: 60], extraPowerLevels: ["kick": 50])
        #expect(try room.attemptMember(Users.bob, "leave", by: Users.dave) == nil)
        // Kicking someone who is only invited also works.
        try room.member(Users.carol, "invite", by: Users.alice)
        #expect(try room.attemptMember(Users.carol, "leave", by: Users.dave) == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_5_5_kickOtherwiseRejected(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave, Users.bob, Users.erin],
                                               users: [Users.dave: 60, Users.erin: 60], extraPowerLevels: ["kick": 50])
        let expected = MemberRules.rule(version, "leave", "5")
        #expect(try room.attemptMember(Users.erin, "leave", by: Users.dave)?.rule == expected)  // equal level
        #expect(try room.attemptMember(Users.alice, "leave", by: Users.dave)?.rule == expected)  // higher level
        #expect(try room.attemptMember(Users.dave, "leave", by: Users.bob)?.rule == expected)  // below kick level
    }

    // MARK: 5.6 ban

    @Test(arguments: Versions.all)
    func rule5_6_1_bannerMustBeJoined(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob], users: [Users.carol: 100])
        #expect(try room.attemptMember(Users.bob, "ban", by: Users.carol)?.rule == MemberRules.rule(version, "ban", "1"))
    }

    @Test(arguments: Versions.all)
    func rule5_6_2_banAtBanLevelAboveTarget(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob, Users.dave], users: [Users.dave: 50])
        #expect(try room.attemptMember(Users.bob, "ban", by: Users.dave) == nil)
        // Users need not be in the room to be banned.
        #expect(try room.attemptMember(Users.carol, "ban", by: Users.dave) == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_6_3_banOtherwiseRejected(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob, Users.dave, Users.erin],
                                               users: [Users.dave: 60, Users.erin: 60], extraPowerLevels: ["ban": 80])
        let expected = MemberRules.rule(version, "ban", "3")
        #expect(try room.attemptMember(Users.bob, "ban", by: Users.dave)?.rule == expected)  // below ban level
        try room.powerLevels(room.powerLevelContent(users: [Users.dave: 60, Users.erin: 60], extra: ["ban": 50]))
        #expect(try room.attemptMember(Users.erin, "ban", by: Users.dave)?.rule == expected)  // equal level
        #expect(try room.attemptMember(Users.bob, "ban", by: Users.dave) == nil)
    }

    // MARK: 5.7 knock

    @Test(arguments: Versions.withKnock)
    func rule5_7_1_knockNeedsKnockJoinRule(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "invite")
        #expect(try room.attemptMember(Users.bob, "knock")?.rule == MemberRules.rule(version, "knock", "1"))
        try room.joinRule("public")
        #expect(try room.attemptMember(Users.bob, "knock")?.rule == MemberRules.rule(version, "knock", "1"))
    }

    @Test(arguments: Versions.withKnock)
    func rule5_7_1_knockRestrictedAllowsKnockingFromV10(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "knock_restricted")
        let knock = try room.attemptMember(Users.bob, "knock")
        if version.auth.allowsKnockRestrictedJoins {
            #expect(knock == nil)
        } else {
            #expect(knock?.rule == MemberRules.rule(version, "knock", "1"))
        }
    }

    @Test(arguments: Versions.withKnock)
    func rule5_7_2_knockOnlyForYourself(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "knock")
        #expect(try room.attemptMember(Users.bob, "knock", by: Users.alice)?.rule == MemberRules.rule(version, "knock", "2"))
    }

    @Test(arguments: Versions.withKnock)
    func rule5_7_3_knockAllowed(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "knock")
        try room.member(Users.bob, "knock")
        // Knocking again, and after leaving, is fine.
        #expect(try room.attemptMember(Users.bob, "knock") == nil)
        try room.member(Users.bob, "leave")
        #expect(try room.attemptMember(Users.bob, "knock") == nil)
        // The knock is answered with an invite.
        try room.member(Users.bob, "knock")
        #expect(try room.attemptMember(Users.bob, "invite", by: Users.alice) == nil)
    }

    @Test(arguments: Versions.withKnock)
    func rule5_7_4_joinedInvitedOrBannedCannotKnock(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob], joinRule: "knock")
        let expected = MemberRules.rule(version, "knock", "4")
        #expect(try room.attemptMember(Users.bob, "knock")?.rule == expected)
        try room.member(Users.carol, "invite", by: Users.alice)
        #expect(try room.attemptMember(Users.carol, "knock")?.rule == expected)
        try room.member(Users.erin, "ban", by: Users.alice)
        #expect(try room.attemptMember(Users.erin, "knock")?.rule == expected)
    }

    @Test(arguments: Versions.withoutKnock)
    func knockIsAnUnknownMembershipBeforeV7(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "knock")
        #expect(try room.attemptMember(Users.bob, "knock")?.rule == MemberRules.rule(version, "unknown"))
    }

    // MARK: 5.8 unknown

    @Test(arguments: Versions.all)
    func rule5_8_unknownMembershipIsRejected(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        #expect(try room.attemptMember(Users.bob, "wave")?.rule == MemberRules.rule(version, "unknown"))
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.bob,
                                 content: ["membership": 1])?.rule == MemberRules.rule(version, "unknown"))
    }

    // MARK: v12 creators

    @Test func v12CreatorsOutrankEveryoneAndEachOther() throws {
        var content = RoomFixture.createContent(version: .v12, creator: Users.alice)
        content["additional_creators"] = [.string(Users.bob.rawValue)]
        var room = try RoomFixture(version: .v12, createContent: content)
        try room.member(Users.alice, "join")
        // Without a power-levels event, creators are still infinite and others are at 0.
        try room.joinRule("public")
        try room.member(Users.bob, "join")
        try room.member(Users.dave, "join")
        try room.powerLevels(room.powerLevelContent(users: [Users.dave: 9_007_199_254_740_991]))
        // An additional creator outranks the highest finite level...
        #expect(try room.attemptMember(Users.dave, "ban", by: Users.bob) == nil)
        // ...which cannot touch a creator.
        #expect(try room.attemptMember(Users.bob, "leave", by: Users.dave)?.rule == "5.5.5")
        // Creators are equal: neither can kick or ban the other.
        #expect(try room.attemptMember(Users.alice, "leave", by: Users.bob)?.rule == "5.5.5")
        #expect(try room.attemptMember(Users.bob, "ban", by: Users.alice)?.rule == "5.6.3")
    }
}
