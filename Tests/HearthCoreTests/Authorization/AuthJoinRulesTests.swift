import HearthCore
import Testing

/// Membership rules 5.1–5.3 (numbered as in room version 12; 4.x in v6–v11, and without the
/// v8 insertions before v8).
@Suite struct AuthJoinRulesTests {
    @Test(arguments: Versions.all)
    func rule5_1_memberEventNeedsStateKeyAndMembership(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.bob, content: [:])?.rule
                == MemberRules.rule(version, "shape"))
        #expect(try room.attempt("m.room.member", sender: Users.bob, content: ["membership": "join"])?.rule
                == MemberRules.rule(version, "shape"))
    }

    @Test(arguments: Versions.all)
    func rule5_2_1_joinAuthorisedViaMustNameAServer(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        let bogus = try room.event("m.room.member", stateKey: Users.bob.rawValue, sender: Users.bob,
                                   content: ["membership": "join", "join_authorised_via_users_server": "nobody"])
        let valid = try room.event("m.room.member", stateKey: Users.bob.rawValue, sender: Users.bob,
                                   content: ["membership": "join", "join_authorised_via_users_server": "@alice:a.example"])
        if version.auth.allowsRestrictedJoins {
            #expect(room.rejection(bogus)?.rule == MemberRules.rule(version, "via", "1"))
            // The signature by a.example is the caller's check: the helper names the server.
            #expect(EventAuthorization.joinAuthorisingServer(of: valid) == ServerName("a.example"))
            #expect(EventAuthorization.joinAuthorisingServer(of: bogus) == nil)
        } else {
            // Before v8 the key means nothing.
            #expect(room.rejection(bogus) == nil)
            #expect(EventAuthorization.joinAuthorisingServer(of: valid) == nil)
        }
        #expect(room.rejection(valid) == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_3_1_onlyTheCreatorJoinsRightAfterCreate(version: RoomVersion) throws {
        var room = try RoomFixture(version: version)
        #expect(try room.attemptMember(Users.bob, "join")?.rule == MemberRules.join(version, "otherwise"))
        // "the only previous event is an m.room.create": not so without that prev event.
        let detached = try room.event("m.room.member", stateKey: Users.alice.rawValue, sender: Users.alice,
                                      content: ["membership": "join"], prevEvents: [])
        #expect(room.rejection(detached)?.rule == MemberRules.join(version, "otherwise"))
        #expect(try room.attemptMember(Users.alice, "join") == nil)
    }

    /// v1–v10 take the first joiner from `content.creator`; v11+ from the create event's sender.
    @Test(arguments: Versions.all)
    func rule5_3_1_creatorFieldUpToV10SenderFromV11(version: RoomVersion) throws {
        var content = RoomFixture.createContent(version: version, creator: Users.alice)
        content["creator"] = .string(Users.carol.rawValue)
        var room = try RoomFixture(version: version, createContent: content)
        let carolFirst = try room.attemptMember(Users.carol, "join")
        let aliceFirst = try room.attemptMember(Users.alice, "join")
        if version.auth.createEventHasCreator {
            #expect(carolFirst == nil)
            #expect(aliceFirst?.rule == MemberRules.join(version, "otherwise"))
        } else {
            #expect(aliceFirst == nil)
            #expect(carolFirst?.rule == MemberRules.join(version, "otherwise"))
        }
    }

    @Test(arguments: Versions.all)
    func rule5_3_2_cannotJoinOnBehalfOfAnother(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        #expect(try room.attemptMember(Users.bob, "join", by: Users.alice)?.rule == MemberRules.join(version, "sender"))
    }

    @Test(arguments: Versions.all)
    func rule5_3_3_bannedUserCannotJoin(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        try room.member(Users.bob, "ban", by: Users.alice)
        #expect(try room.attemptMember(Users.bob, "join")?.rule == MemberRules.join(version, "banned"))
    }

    @Test(arguments: Versions.all)
    func rule5_3_4_inviteOnlyRoomAdmitsInvitedAndJoined(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "invite")
        #expect(try room.attemptMember(Users.bob, "join")?.rule == MemberRules.join(version, "otherwise"))
        try room.member(Users.bob, "invite", by: Users.alice)
        try room.member(Users.bob, "join")
        // Joined users may send a new join (a profile change).
        #expect(try room.attemptMember(Users.bob, "join", extra: ["displayname": "Bob"]) == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_3_4_knockJoinRuleFromV7(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "knock")
        #expect(try room.attemptMember(Users.bob, "join")?.rule == MemberRules.join(version, "otherwise"))
        try room.member(Users.bob, "invite", by: Users.alice)
        let invitedJoin = try room.attemptMember(Users.bob, "join")
        if version.auth.allowsKnocking {
            #expect(invitedJoin == nil)
        } else {
            // Before v7 `knock` is no join rule the rules know: nobody joins.
            #expect(invitedJoin?.rule == MemberRules.join(version, "otherwise"))
        }
    }

    @Test(arguments: Versions.withRestricted)
    func rule5_3_5_1_restrictedRoomAdmitsInvited(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "restricted")
        try room.member(Users.bob, "invite", by: Users.alice)
        #expect(try room.attemptMember(Users.bob, "join") == nil)
    }

    @Test(arguments: Versions.withRestricted)
    func rule5_3_5_2_restrictedJoinNeedsAuthorisingMember(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave], joinRule: "restricted",
                                               extraPowerLevels: ["invite": 50])
        let expected = MemberRules.join(version, "restricted", "2")
        func via(_ user: UserID) -> JSONObject { ["join_authorised_via_users_server": .string(user.rawValue)] }
        #expect(try room.attemptMember(Users.bob, "join")?.rule == expected)
        // Not joined.
        #expect(try room.attemptMember(Users.bob, "join", extra: via(Users.carol))?.rule == expected)
        // Joined but below the invite level (50).
        #expect(try room.attemptMember(Users.bob, "join", extra: via(Users.dave))?.rule == expected)
        // 5.3.5.3: "Otherwise, allow."
        #expect(try room.attemptMember(Users.bob, "join", extra: via(Users.alice)) == nil)
        // The authorising user's membership is among the auth events.
        let join = try room.event("m.room.member", stateKey: Users.bob.rawValue, sender: Users.bob,
                                  content: ["membership": "join", "join_authorised_via_users_server": "@alice:a.example"])
        #expect(join.authEvents.contains(room.state[.member(Users.alice)]!.eventID))
    }

    @Test(arguments: Versions.withoutRestricted)
    func restrictedJoinRuleUnknownBeforeV8(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "restricted")
        #expect(try room.attemptMember(Users.bob, "join", extra: ["join_authorised_via_users_server": "@alice:a.example"])?.rule
                == MemberRules.join(version, "otherwise"))
    }

    @Test(arguments: Versions.all)
    func rule5_3_5_knockRestrictedFromV10(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "knock_restricted")
        let viaAlice = try room.attemptMember(Users.bob, "join", extra: ["join_authorised_via_users_server": "@alice:a.example"])
        let unauthorised = try room.attemptMember(Users.carol, "join")
        if version.auth.allowsKnockRestrictedJoins {
            #expect(viaAlice == nil)
            #expect(unauthorised?.rule == MemberRules.join(version, "restricted", "2"))
        } else {
            #expect(viaAlice?.rule == MemberRules.join(version, "otherwise"))
            #expect(unauthorised?.rule == MemberRules.join(version, "otherwise"))
        }
    }

    @Test(arguments: Versions.all)
    func rule5_3_6_publicRoomAdmitsAnyone(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "public")
        #expect(try room.attemptMember(Users.bob, "join") == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_3_7_otherJoinRulesAdmitNobody(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version, joinRule: "private")
        try room.member(Users.bob, "invite", by: Users.alice)
        #expect(try room.attemptMember(Users.bob, "join")?.rule == MemberRules.join(version, "otherwise"))
        try room.send("m.room.join_rules", stateKey: "", sender: Users.alice, content: ["join_rule": 1])
        #expect(try room.attemptMember(Users.bob, "join")?.rule == MemberRules.join(version, "otherwise"))
    }

    /// No `m.room.join_rules` event (or no `join_rule` in it) counts as `invite`
    /// (https://github.com/matrix-org/matrix-spec/issues/657).
    @Test(arguments: Versions.all)
    func missingJoinRuleActsAsInvite(version: RoomVersion) throws {
        var room = try RoomFixture(version: version)
        try room.member(Users.alice, "join")
        try room.powerLevels(room.powerLevelContent())
        #expect(try room.attemptMember(Users.bob, "join")?.rule == MemberRules.join(version, "otherwise"))
        try room.member(Users.bob, "invite", by: Users.alice)
        #expect(try room.attemptMember(Users.bob, "join") == nil)
        try room.send("m.room.join_rules", stateKey: "", sender: Users.alice, content: [:])
        #expect(try room.attemptMember(Users.bob, "join") == nil)
        #expect(try room.attemptMember(Users.carol, "join")?.rule == MemberRules.join(version, "otherwise"))
    }
}
