import HearthCore
import Testing

/// Rules 6 (sender joined), 8 (required level), 9 (`@` state keys) and 11 (allow) of room
/// version 12, plus the v1–v5 `m.room.aliases` rule and the v1–v2 redaction rule.
@Suite struct AuthGeneralRulesTests {
    @Test(arguments: Versions.all)
    func rule6_senderMustBeJoined(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        let expected = rule(version, [1: "6", 6: "5", 12: "6"])
        #expect(try room.attempt("m.room.message", sender: Users.bob, content: ["body": "hi"])?.rule == expected)
        try room.member(Users.bob, "invite", by: Users.alice)
        #expect(try room.attempt("m.room.message", sender: Users.bob, content: ["body": "hi"])?.rule == expected)
        try room.member(Users.bob, "join")
        #expect(try room.attempt("m.room.message", sender: Users.bob, content: ["body": "hi"]) == nil)
        try room.member(Users.bob, "leave")
        #expect(try room.attempt("m.room.topic", stateKey: "", sender: Users.bob, content: ["topic": "x"])?.rule == expected)
    }

    @Test(arguments: Versions.all)
    func rule8_requiredPowerLevel(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave], users: [Users.dave: 20],
                                               extraPowerLevels: ["events_default": 30, "events": ["m.room.topic": 20, "m.room.message": 10]])
        let expected = rule(version, [1: "8", 6: "7", 12: "8"])
        // `events` overrides the defaults, in both directions.
        #expect(try room.attempt("m.room.message", sender: Users.dave, content: ["body": "hi"]) == nil)
        #expect(try room.attempt("m.room.topic", stateKey: "", sender: Users.dave, content: ["topic": "x"]) == nil)
        #expect(try room.attempt("m.reaction", sender: Users.dave, content: [:])?.rule == expected)  // events_default 30
        #expect(try room.attempt("m.room.name", stateKey: "", sender: Users.dave, content: ["name": "x"])?.rule == expected)
        // Redactions need only their own event level in the rules (the redact level is
        // applied when redacting, outside the rules), except v1–v2 where rule 11 applies.
        try room.powerLevels(room.powerLevelContent(users: [Users.dave: 20], extra: ["events": ["m.room.redaction": 25]]))
        #expect(try room.attempt("m.room.redaction", sender: Users.dave, content: [:], redacts: room.create.eventID)?.rule
                == expected)
    }

    @Test(arguments: Versions.all)
    func rule8_defaultsWithoutPowerLevelsEvent(version: RoomVersion) throws {
        var room = try RoomFixture(version: version)
        try room.member(Users.alice, "join")
        try room.joinRule("public")  // creator: 100 (v1–v11) or infinite (v12) ≥ state_default 50
        try room.member(Users.bob, "join")
        let expected = rule(version, [1: "8", 6: "7", 12: "8"])
        #expect(try room.attempt("m.room.message", sender: Users.bob, content: ["body": "hi"]) == nil)
        #expect(try room.attempt("m.room.topic", stateKey: "", sender: Users.bob, content: ["topic": "x"])?.rule == expected)
        #expect(try room.attempt("m.room.topic", stateKey: "", sender: Users.alice, content: ["topic": "x"]) == nil)
    }

    @Test(arguments: Versions.all)
    func rule9_userStateKeysBelongToTheirUser(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave], extraPowerLevels: ["state_default": 0])
        let expected = rule(version, [1: "9", 6: "8", 12: "9"])
        #expect(try room.attempt("m.custom", stateKey: Users.bob.rawValue, sender: Users.dave, content: [:])?.rule == expected)
        #expect(try room.attempt("m.custom", stateKey: "@not a user", sender: Users.dave, content: [:])?.rule == expected)
        #expect(try room.attempt("m.custom", stateKey: Users.dave.rawValue, sender: Users.dave, content: [:]) == nil)
        #expect(try room.attempt("m.custom", stateKey: "dave", sender: Users.dave, content: [:]) == nil)
        // Even the most powerful user cannot write another user's key.
        #expect(try room.attempt("m.custom", stateKey: Users.dave.rawValue, sender: Users.alice, content: [:])?.rule == expected)
    }

    @Test(arguments: Versions.all)
    func rule11_otherwiseAllow(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob])
        #expect(try room.attempt("m.room.message", sender: Users.bob, content: ["body": "hi"]) == nil)
        #expect(try room.attempt("org.example.custom", sender: Users.bob, content: ["x": [1, 2]]) == nil)
    }

    // MARK: v1–v5 aliases

    @Test(arguments: Versions.all)
    func aliasesRuleInV1to5(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        // Bob is not in the room: in v1–v5 servers may still publish their aliases.
        let fromBob = try room.attempt("m.room.aliases", stateKey: "b.example", sender: Users.bob,
                                       content: ["aliases": ["#x:b.example"]])
        // Alice cannot speak for b.example.
        let wrongDomain = try room.attempt("m.room.aliases", stateKey: "b.example", sender: Users.alice,
                                           content: ["aliases": ["#x:b.example"]])
        let noStateKey = try room.attempt("m.room.aliases", sender: Users.alice, content: ["aliases": []])
        if version.auth.specialCaseAliases {
            #expect(fromBob == nil)
            #expect(wrongDomain?.rule == "4.2")
            #expect(noStateKey?.rule == "4.1")
        } else {
            // From v6 it is an ordinary state event.
            #expect(fromBob?.rule == rule(version, [6: "5", 12: "6"]))
            #expect(wrongDomain == nil)
            #expect(noStateKey == nil)
        }
    }

    // MARK: v1–v2 redactions

    @Test(arguments: Versions.all)
    func redactionRule11InV1and2(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.bob, Users.dave])
        let fromAlice = try room.send("m.room.message", sender: Users.alice, content: ["body": "a"])
        let fromBob = try room.send("m.room.message", sender: Users.bob, content: ["body": "b"])
        // Dave (level 0 < redact 50) redacting an event whose ID is from his own server.
        let sameDomain = try room.attempt("m.room.redaction", sender: Users.dave, content: [:], redacts: fromAlice.eventID)
        // Bob redacting an event from another server.
        let otherDomain = try room.attempt("m.room.redaction", sender: Users.bob, content: [:], redacts: fromAlice.eventID)
        // Alice has the redact level.
        let moderator = try room.attempt("m.room.redaction", sender: Users.alice, content: [:], redacts: fromBob.eventID)
        #expect(sameDomain == nil)
        #expect(moderator == nil)
        if version.auth.redactionsInAuthRules {
            #expect(otherDomain?.rule == "11.3")
        } else {
            #expect(otherDomain == nil)
        }
    }
}
