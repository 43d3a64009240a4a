import HearthCore
import Testing

/// Rule 10 (`m.room.power_levels`, rule 9 in v6–v11), numbered as in room version 12.
@Suite struct AuthPowerLevelRulesTests {
    /// The power-level points, transcribed: v1–v9 start at the `users` check, v10 inserts two
    /// type checks before it, v12 the creators check after it.
    static func rule(_ version: RoomVersion, _ name: String, _ tail: String? = nil) -> String {
        var names = ["users", "noPrevious", "properties", "eventsCurrent", "eventsNew", "usersCurrent", "usersNew"]
        if version.auth.requiresIntegerPowerLevels { names.insert(contentsOf: ["integers", "objects"], at: 0) }
        if version.auth.creatorsHaveInfinitePower { names.insert("creators", at: names.firstIndex(of: "users")! + 1) }
        let top = version.number <= 5 || version.number >= 12 ? "10" : "9"
        let head = "\(top).\(names.firstIndex(of: name)! + 1)"
        return tail.map { "\(head).\($0)" } ?? head
    }

    /// Alice (creator), Dave (moderator at 50), Erin (50) and Bob (10) joined.
    static func room(_ version: RoomVersion, extra: JSONObject = [:]) throws -> RoomFixture {
        try RoomFixture.withMembers(version, [Users.dave, Users.erin, Users.bob],
                                    users: [Users.dave: 50, Users.erin: 50, Users.bob: 10], extraPowerLevels: extra)
    }

    static let staff: [UserID: Int64] = [Users.dave: 50, Users.erin: 50, Users.bob: 10]

    @Test(arguments: Versions.all)
    func rule10_1_levelsMustBeIntegersFromV10(version: RoomVersion) throws {
        var room = try Self.room(version)
        for value: JSONValue in ["50", true, nil, [50]] {
            let result = try room.attempt("m.room.power_levels", stateKey: "", sender: Users.alice,
                                          content: room.powerLevelContent(users: Self.staff, extra: ["ban": value]))
            if version.auth.requiresIntegerPowerLevels {
                #expect(result?.rule == Self.rule(version, "integers"), "\(value)")
            } else {
                #expect(result == nil, "\(value)")
            }
        }
    }

    @Test(arguments: Versions.all)
    func rule10_2_eventsAndNotificationsMustMapToIntegersFromV10(version: RoomVersion) throws {
        var room = try Self.room(version)
        let bad: [JSONObject] = [["events": ["m.room.name": "50"]], ["events": "m.room.name"],
                                 ["notifications": ["room": "50"]], ["notifications": [50]]]
        for extra in bad {
            let result = try room.attempt("m.room.power_levels", stateKey: "", sender: Users.alice,
                                          content: room.powerLevelContent(users: Self.staff, extra: extra))
            if version.auth.requiresIntegerPowerLevels {
                #expect(result?.rule == Self.rule(version, "objects"), "\(extra)")
            } else {
                #expect(result == nil, "\(extra)")
            }
        }
    }

    @Test(arguments: Versions.all)
    func rule10_3_usersMustMapUserIDsToIntegers(version: RoomVersion) throws {
        var room = try Self.room(version)
        let expected = Self.rule(version, "users")
        for users: JSONValue in [["bob": 10], ["@bob:b.example": "ten"], ["@bob:b.example": nil], "@bob:b.example", [1]] {
            var content = room.powerLevelContent(users: Self.staff)
            content["users"] = users
            #expect(try room.attempt("m.room.power_levels", stateKey: "", sender: Users.alice, content: content)?.rule
                    == expected, "\(users)")
        }
        // Integer strings: accepted up to v9, rejected from v10.
        var content = room.powerLevelContent(users: Self.staff)
        content["users"] = .object(try #require(content["users"]?.objectValue).merging(["@bob:b.example": " +10 "]))
        let stringy = try room.attempt("m.room.power_levels", stateKey: "", sender: Users.alice, content: content)
        if version.auth.requiresIntegerPowerLevels {
            #expect(stringy?.rule == expected)
        } else {
            #expect(stringy == nil)
        }
    }

    @Test func rule10_4_v12CreatorsCannotBeListed() throws {
        var content = RoomFixture.createContent(version: .v12, creator: Users.alice)
        content["additional_creators"] = [.string(Users.carol.rawValue)]
        var room = try RoomFixture(version: .v12, createContent: content)
        try room.member(Users.alice, "join")
        for listed in [Users.alice, Users.carol] {
            let result = try room.attempt("m.room.power_levels", stateKey: "", sender: Users.alice,
                                          content: ["users": [listed.rawValue: 100]])
            #expect(result?.rule == "10.4")
        }
        #expect(try room.attempt("m.room.power_levels", stateKey: "", sender: Users.alice,
                                 content: ["users": ["@bob:b.example": 100]]) == nil)
    }

    @Test(arguments: Versions.all)
    func rule10_5_firstPowerLevelsEventIsAllowed(version: RoomVersion) throws {
        var room = try RoomFixture(version: version)
        try room.member(Users.alice, "join")
        // Anything goes for the first event once rule 8 passes (the creator may send it).
        let content = room.powerLevelContent(users: [Users.bob: 1_000_000], extra: ["ban": 1_000_000])
        #expect(try room.attempt("m.room.power_levels", stateKey: "", sender: Users.alice, content: content) == nil)
    }

    @Test(arguments: Versions.all)
    func rule10_6_changingLevelProperties(version: RoomVersion) throws {
        var room = try Self.room(version, extra: ["kick": 75, "ban": 50])
        func attempt(_ extra: JSONObject) throws -> AuthError? {
            try room.attempt("m.room.power_levels", stateKey: "", sender: Users.dave,
                             content: room.powerLevelContent(users: Self.staff, extra: extra))
        }
        // kick is 75, above Dave's 50: he can neither lower nor remove it.
        #expect(try attempt(["ban": 50, "kick": 40])?.rule == Self.rule(version, "properties", "1"))
        #expect(try attempt(["ban": 50])?.rule == Self.rule(version, "properties", "1"))
        // Raising ban above his level.
        #expect(try attempt(["kick": 75, "ban": 60])?.rule == Self.rule(version, "properties", "2"))
        // Adding a property above his level.
        #expect(try attempt(["kick": 75, "ban": 50, "redact": 51])?.rule == Self.rule(version, "properties", "2"))
        // Within his level.
        #expect(try attempt(["kick": 75, "ban": 40, "invite": 50]) == nil)
    }

    @Test(arguments: Versions.all)
    func rule10_7_eventsEntriesAboveSenderCannotChange(version: RoomVersion) throws {
        var room = try Self.room(version, extra: ["events": ["m.room.name": 75, "m.room.topic": 10]])
        func attempt(_ events: JSONValue) throws -> AuthError? {
            try room.attempt("m.room.power_levels", stateKey: "", sender: Users.dave,
                             content: room.powerLevelContent(users: Self.staff, extra: ["events": events]))
        }
        #expect(try attempt(["m.room.name": 40, "m.room.topic": 10])?.rule == Self.rule(version, "eventsCurrent", "1"))
        #expect(try attempt(["m.room.topic": 10])?.rule == Self.rule(version, "eventsCurrent", "1"))
        #expect(try attempt(["m.room.name": 75, "m.room.topic": 50]) == nil)
    }

    @Test(arguments: Versions.all)
    func rule10_8_eventsEntriesCannotExceedSender(version: RoomVersion) throws {
        var room = try Self.room(version, extra: ["events": ["m.room.topic": 10]])
        func attempt(_ events: JSONValue) throws -> AuthError? {
            try room.attempt("m.room.power_levels", stateKey: "", sender: Users.dave,
                             content: room.powerLevelContent(users: Self.staff, extra: ["events": events]))
        }
        #expect(try attempt(["m.room.topic": 60])?.rule == Self.rule(version, "eventsNew", "1"))
        #expect(try attempt(["m.room.topic": 10, "m.room.avatar": 51])?.rule == Self.rule(version, "eventsNew", "1"))
        #expect(try attempt(["m.room.topic": 50, "m.room.avatar": 50]) == nil)
    }

    /// v6 extended rules 10.7/10.8 (then 9.4/9.5) to `notifications`.
    @Test(arguments: Versions.all)
    func notificationsCheckedFromV6(version: RoomVersion) throws {
        var room = try Self.room(version, extra: ["notifications": ["room": 75]])
        func attempt(_ notifications: JSONValue) throws -> AuthError? {
            try room.attempt("m.room.power_levels", stateKey: "", sender: Users.dave,
                             content: room.powerLevelContent(users: Self.staff, extra: ["notifications": notifications]))
        }
        let lowered = try attempt(["room": 40])
        let raisedNew = try attempt(["room": 75, "x.custom": 60])
        if version.auth.checksNotificationsPowerLevels {
            #expect(lowered?.rule == Self.rule(version, "eventsCurrent", "1"))
            #expect(raisedNew?.rule == Self.rule(version, "eventsNew", "1"))
        } else {
            #expect(lowered == nil)
            #expect(raisedNew == nil)
        }
        #expect(try attempt(["room": 75, "x.custom": 50]) == nil)
    }

    @Test(arguments: Versions.all)
    func rule10_9_usersAtOrAboveSenderCannotChange(version: RoomVersion) throws {
        var room = try Self.room(version)
        func attempt(_ users: [UserID: Int64]) throws -> AuthError? {
            try room.attempt("m.room.power_levels", stateKey: "", sender: Users.dave,
                             content: room.powerLevelContent(users: users))
        }
        let expected = Self.rule(version, "usersCurrent", "1")
        // Erin is at Dave's level: not changeable, not removable.
        #expect(try attempt([Users.dave: 50, Users.erin: 10, Users.bob: 10])?.rule == expected)
        #expect(try attempt([Users.dave: 50, Users.bob: 10])?.rule == expected)
        // Dave's own entry is exempt: he may demote himself.
        #expect(try attempt([Users.dave: 5, Users.erin: 50, Users.bob: 10]) == nil)
        // Below him: fine, including removal.
        #expect(try attempt([Users.dave: 50, Users.erin: 50, Users.bob: 40]) == nil)
        #expect(try attempt([Users.dave: 50, Users.erin: 50]) == nil)
    }

    @Test(arguments: Versions.all)
    func rule10_10_usersCannotBeRaisedAboveSender(version: RoomVersion) throws {
        var room = try Self.room(version)
        func attempt(_ users: [UserID: Int64]) throws -> AuthError? {
            try room.attempt("m.room.power_levels", stateKey: "", sender: Users.dave,
                             content: room.powerLevelContent(users: users))
        }
        let expected = Self.rule(version, "usersNew", "1")
        #expect(try attempt([Users.dave: 50, Users.erin: 50, Users.bob: 51])?.rule == expected)
        #expect(try attempt([Users.dave: 60, Users.erin: 50, Users.bob: 10])?.rule == expected)
        #expect(try attempt([Users.dave: 50, Users.erin: 50, Users.bob: 10, Users.carol: 51])?.rule == expected)
        #expect(try attempt([Users.dave: 50, Users.erin: 50, Users.bob: 50, Users.carol: 50]) == nil)
    }

    @Test func v12CreatorsChangeAnythingAndCannotBeDemoted() throws {
        var content = RoomFixture.createContent(version: .v12, creator: Users.alice)
        content["additional_creators"] = [.string(Users.bob.rawValue)]
        var room = try RoomFixture(version: .v12, createContent: content)
        try room.member(Users.alice, "join")
        try room.joinRule("public")
        try room.member(Users.bob, "join")
        try room.member(Users.dave, "join")
        let max: Int64 = 9_007_199_254_740_991
        try room.powerLevels(["users": [Users.dave.rawValue: .int(max)], "ban": .int(max), "state_default": .int(max)])
        // The additional creator (infinite) may lower anyone, including the highest finite level.
        #expect(try room.attempt("m.room.power_levels", stateKey: "", sender: Users.bob,
                                 content: ["users": [Users.dave.rawValue: 0], "ban": 50]) == nil)
        // Dave, at the highest finite level, cannot list a creator (10.4) nor outrank one.
        #expect(try room.attempt("m.room.power_levels", stateKey: "", sender: Users.dave,
                                 content: ["users": [Users.dave.rawValue: .int(max), Users.bob.rawValue: 0],
                                           "ban": .int(max), "state_default": .int(max)])?.rule == "10.4")
        let levels = PowerLevels(content: room.state[.powerLevels]!.content, version: .v12,
                                 creators: RoomCreators.of(room.create))
        #expect(levels.userLevel(Users.bob) == .infinite)
        #expect(levels.userLevel(Users.alice) == .infinite)
        #expect(levels.userLevel(Users.dave) == .finite(max))
    }

    /// v1–v9 compare levels, not encodings: rewriting `"80"` as `80` is no change.
    @Test(arguments: RoomVersion.all.filter { !$0.auth.requiresIntegerPowerLevels })
    func stringLevelsCompareByValue(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave], users: [Users.dave: 50],
                                               extraPowerLevels: ["ban": " 80 ", "events": ["m.room.name": "+75"]])
        let rewritten = room.powerLevelContent(users: [Users.dave: 50], extra: ["ban": 80, "events": ["m.room.name": 75]])
        #expect(try room.attempt("m.room.power_levels", stateKey: "", sender: Users.dave, content: rewritten) == nil)
        let levels = PowerLevels(content: room.state[.powerLevels]!.content, version: version,
                                 creators: RoomCreators.of(room.create))
        #expect(levels.ban == 80)
        #expect(levels.requiredLevel(forEvent: "m.room.name", isState: true) == .finite(75))
    }
}

extension JSONObject {
    func merging(_ other: JSONObject) -> JSONObject {
        var out = self
        for member in other { out[member.key] = member.value }
        return out
    }
}
