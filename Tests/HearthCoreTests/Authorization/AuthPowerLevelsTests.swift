import HearthCore
import Testing

/// `PowerLevels`: defaults, creators, and the legacy string/float encodings (spec vectors).
@Suite struct AuthPowerLevelsTests {
    /// The verified cases of `power-level-legacy-values.json`: strings are levels in v1–v9 and
    /// not from v10; floats are truncated levels in v1–v5 and not from v6.
    @Test func legacyValueVectors() throws {
        let cases = try SpecVectors.verifiedCases("power-level-legacy-values")
        #expect(cases.count == 10)
        for testCase in cases {
            let input = try #require(testCase["input"]?.stringValue)
            let expected = try #require(testCase["expected"]?.intValue)
            let value: JSONValue
            switch testCase["kind"]?.stringValue {
            case "string": value = .string(input)
            case "float": value = try JSONValue.parse(input)
            default: Issue.record("unknown kind"); continue
            }
            for version in RoomVersion.all {
                let accepted: Bool
                if case .string = value { accepted = !version.auth.requiresIntegerPowerLevels } else {
                    accepted = version.auth.acceptsFloatPowerLevels
                }
                #expect(PowerLevels.parseLevel(value, version: version) == (accepted ? expected : nil),
                        "\(input) in v\(version)")
            }
            if case .string = value {
                #expect(version(1...9, accept: value, as: expected))
            } else {
                #expect(version(1...5, accept: value, as: expected))
            }
        }
    }

    /// Whether exactly the versions in `range` read `value` as `expected`.
    func version(_ range: ClosedRange<Int>, accept value: JSONValue, as expected: Int64) -> Bool {
        RoomVersion.all.allSatisfy { v in
            (PowerLevels.parseLevel(value, version: v) == expected) == range.contains(v.number)
        }
    }

    @Test func legacyStringsOutsideTheGrammar() {
        for text in ["", " ", "+", "-", "+-1", "1.5", "1e3", "abc", "1_000", "0x10", "١٢", "10 0", "++1"] {
            #expect(PowerLevels.parseLevel(.string(text), version: .v9) == nil, "\(text)")
        }
        #expect(PowerLevels.parseLevel("\t\n 42\r\n", version: .v1) == 42)
        #expect(PowerLevels.parseLevel("-0", version: .v1) == 0)
        #expect(PowerLevels.parseLevel("99999999999999999999999", version: .v1) == Int64.max)
        #expect(PowerLevels.parseLevel("-99999999999999999999999", version: .v1) == Int64.min)
        #expect(PowerLevels.parseLevel(.float(-50.9), version: .v5) == -50)
        #expect(PowerLevels.parseLevel(.float(1e300), version: .v5) == Int64.max)
        #expect(PowerLevels.parseLevel(.float(50), version: .v6) == nil)
        #expect(PowerLevels.parseLevel(true, version: .v1) == nil)
        #expect(PowerLevels.parseLevel(.int(7), version: .v12) == 7)
    }

    @Test(arguments: Versions.all)
    func defaultsWithoutPowerLevelsEvent(version: RoomVersion) {
        let levels = PowerLevels(content: nil, version: version, creators: [Users.alice])
        #expect(levels.userLevel(Users.alice) == (version.auth.creatorsHaveInfinitePower ? .infinite : .finite(100)))
        #expect(levels.userLevel(Users.bob) == .finite(0))
        #expect(levels.ban == 50 && levels.kick == 50 && levels.redact == 50 && levels.invite == 0)
        #expect(levels.stateDefault == 50 && levels.eventsDefault == 0 && levels.usersDefault == 0)
        #expect(levels.requiredLevel(forEvent: "m.room.topic", isState: true) == .finite(50))
        #expect(levels.requiredLevel(forEvent: "m.room.message", isState: false) == .finite(0))
        #expect(levels.notificationLevel("room") == 50)
        #expect(levels.notificationLevel("other") == nil)
    }

    @Test(arguments: Versions.all)
    func explicitValues(version: RoomVersion) {
        let content: JSONObject = [
            "ban": 1, "kick": 2, "invite": 3, "redact": 4, "state_default": 5, "events_default": 6, "users_default": 7,
            "users": ["@alice:a.example": 10, "@bob:b.example": 20, "not a user": 30],
            "events": ["m.room.topic": 40, "m.room.message": 41], "notifications": ["room": 8],
        ]
        let levels = PowerLevels(content: content, version: version, creators: [Users.alice])
        #expect([levels.ban, levels.kick, levels.invite, levels.redact, levels.stateDefault, levels.eventsDefault,
                 levels.usersDefault] == [1, 2, 3, 4, 5, 6, 7])
        // With a power-levels event, v1–v11 creators have no special level; v12 creators are infinite.
        #expect(levels.userLevel(Users.alice) == (version.auth.creatorsHaveInfinitePower ? .infinite : .finite(10)))
        #expect(levels.userLevel(Users.bob) == .finite(20))
        #expect(levels.userLevel(Users.carol) == .finite(7))
        #expect(levels.users.count == 2)
        #expect(levels.requiredLevel(forEvent: "m.room.topic", isState: true) == .finite(40))
        #expect(levels.requiredLevel(forEvent: "m.room.message", isState: false) == .finite(41))
        #expect(levels.requiredLevel(forEvent: "m.room.name", isState: true) == .finite(5))
        #expect(levels.requiredLevel(forEvent: "m.reaction", isState: false) == .finite(6))
        #expect(levels.notificationLevel("room") == 8)
    }

    @Test func unreadableValuesFallBackToDefaults() {
        let content: JSONObject = ["ban": "lots", "kick": "30", "users": ["@bob:b.example": "x"], "events": ["m.room.name": [1]]]
        let v9 = PowerLevels(content: content, version: .v9, creators: [])
        #expect(v9.ban == 50 && v9.kick == 30)
        #expect(v9.userLevel(Users.bob) == .finite(0))
        #expect(v9.requiredLevel(forEvent: "m.room.name", isState: true) == .finite(50))
        let v10 = PowerLevels(content: content, version: .v10, creators: [])
        #expect(v10.kick == 50)
    }

    @Test func powerLevelOrdering() {
        #expect(PowerLevel.finite(Int64.max) < .infinite)
        #expect(!(PowerLevel.infinite < .infinite))
        #expect(PowerLevel.infinite >= .infinite)
        #expect(PowerLevel.finite(-1) < .finite(0))
        #expect(PowerLevel.infinite > .finite(Int64.min))
        #expect(PowerLevel.infinite.description == "infinite" && PowerLevel.finite(5).finiteValue == 5)
    }

    /// v1–v5 events may carry float levels: a whole-valued float survives hashing in every
    /// format, and is read as a level.
    @Test(arguments: RoomVersion.all.filter(\.auth.acceptsFloatPowerLevels))
    func floatLevelsInEventsUpToV5(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave, Users.bob])
        try room.powerLevels(["users": [Users.alice.rawValue: 100, Users.dave.rawValue: .float(60.0)], "kick": .float(50.0)])
        #expect(try room.attemptMember(Users.bob, "leave", by: Users.dave) == nil)
        #expect(try room.attemptMember(Users.dave, "leave", by: Users.bob)?.rule == MemberRules.rule(version, "leave", "5"))
    }

    /// The spec's own example (v1 float fragment): `@bob:localhost` at 50.57 is at 50, the same
    /// as `@alice:localhost` at 50. Fractional floats have no canonical JSON form, so this event
    /// is built unhashed in a v1 room, whose event IDs do not depend on hashing.
    @Test func fractionalFloatLevelsInV1() throws {
        var room = try RoomFixture.withMembers(.v1, [Users.dave, Users.bob])
        let content: JSONObject = ["users": [Users.alice.rawValue: 100, Users.dave.rawValue: 50, Users.bob.rawValue: .float(50.57)],
                                   "ban": 50]
        let builder = EventBuilder(roomVersion: .v1, roomID: room.roomID, type: "m.room.power_levels", stateKey: "",
                                   sender: Users.alice, content: content, prevEvents: room.extremities,
                                   authEvents: [room.create.eventID, room.state[.powerLevels]!.eventID,
                                                room.state[.member(Users.alice)]!.eventID],
                                   depth: 99, originServerTS: 99)
        var json = builder.unsignedJSON(eventIDForLegacyVersions: EventID("$floaty:a.example"))
        json["hashes"] = ["sha256": "unchecked"]
        json["signatures"] = [:]
        let event = try PDU(json: json, version: .v1)
        #expect(room.rejection(event) == nil)
        room.apply(event)
        let levels = PowerLevels(content: event.content, version: .v1, creators: [Users.alice])
        #expect(levels.userLevel(Users.bob) == levels.userLevel(Users.dave))
        // Equal levels: neither may ban the other.
        #expect(try room.attemptMember(Users.dave, "ban", by: Users.bob)?.rule == "5.5.3")
        #expect(try room.attemptMember(Users.bob, "ban", by: Users.dave)?.rule == "5.5.3")
    }

    /// From v6 events must be canonical JSON, so a float level never reaches the rules.
    @Test func floatLevelsRefusedByTheEventFormatFromV6() throws {
        var room = try RoomFixture.standard(.v6)
        #expect(throws: (any Error).self) {
            _ = try room.event("m.room.power_levels", stateKey: "", sender: Users.alice,
                               content: ["users": [Users.alice.rawValue: .float(100.0)]])
        }
    }

    /// String levels in real events: accepted and read in v1–v9.
    @Test(arguments: RoomVersion.all.filter { !$0.auth.requiresIntegerPowerLevels })
    func stringLevelsInEventsUpToV9(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave, Users.bob])
        try room.powerLevels(["users": [Users.alice.rawValue: "100", Users.dave.rawValue: " +60 "], "kick": "000050"])
        #expect(try room.attemptMember(Users.bob, "leave", by: Users.dave) == nil)
        #expect(try room.attemptMember(Users.dave, "leave", by: Users.bob)?.rule == MemberRules.rule(version, "leave", "5"))
    }
}
