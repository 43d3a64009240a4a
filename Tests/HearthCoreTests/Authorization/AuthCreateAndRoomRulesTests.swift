import HearthCore
import Testing

/// Rules 1 (create), 2 (v12 room ID), 3 (auth events list; rule 2 before v12) and 4
/// (`m.federate`; rule 3 before v12), numbered as in room version 12.
@Suite struct AuthCreateAndRoomRulesTests {
    /// A create event with chosen fields, signed by the sender's server.
    static func createEvent(_ version: RoomVersion, sender: UserID = Users.alice, content: JSONObject? = nil,
                            roomID: RoomID? = nil, prevEvents: [EventID] = []) throws -> PDU {
        let room = version.roomIDFormat == .createEventHash ? roomID : (roomID ?? RoomID("!r:\(sender.server)"))
        let builder = EventBuilder(roomVersion: version, roomID: room, type: "m.room.create", stateKey: "",
                                   sender: sender, content: content ?? RoomFixture.createContent(version: version, creator: sender),
                                   prevEvents: prevEvents, authEvents: [], depth: 1, originServerTS: 1)
        let legacyID = version.eventIDFormat == .serverScoped ? EventID("$c:\(sender.server)") : nil
        return try builder.build(server: sender.server, key: TestKeys.key(for: sender.server), legacyEventID: legacyID)
    }

    static func authorize(_ event: PDU) -> AuthError? {
        do { try EventAuthorization.authorize(event, state: [:]) } catch { return error }
        return nil
    }

    // MARK: Rule 1

    @Test(arguments: Versions.all)
    func rule1_5_createIsAllowed(version: RoomVersion) throws {
        let create = try Self.createEvent(version)
        #expect(Self.authorize(create) == nil)
        // The create event's own auth_events are not considered (rule 1 decides alone).
        #expect(try EventAuthorization.checkAuthEventsList(create, authEvents: []).isEmpty)
    }

    @Test(arguments: Versions.all)
    func rule1_1_createWithPrevEventsIsRejected(version: RoomVersion) throws {
        let earlier = try RoomFixture(version: version)
        let create = try Self.createEvent(version, prevEvents: [earlier.create.eventID])
        #expect(Self.authorize(create)?.rule == "1.1")
    }

    @Test(arguments: Versions.legacy1to11)
    func rule1_2_roomIDDomainMustBeSenderDomain(version: RoomVersion) throws {
        let create = try Self.createEvent(version, roomID: RoomID("!r:b.example"))
        #expect(Self.authorize(create)?.rule == "1.2")
    }

    @Test func rule1_2_v12CreateWithRoomIDIsRefused() throws {
        // A v12 create event with a room_id is already refused by the event format check, so
        // it never reaches the auth rules; the rule is enforced again there all the same.
        let other = try RoomFixture(version: .v12)
        #expect(throws: EventFormatError.self) {
            _ = try Self.createEvent(.v12, roomID: other.roomID)
        }
    }

    @Test(arguments: Versions.all)
    func rule1_3_unknownRoomVersionIsRejected(version: RoomVersion) throws {
        var content = RoomFixture.createContent(version: version, creator: Users.alice)
        content["room_version"] = "999"
        #expect(Self.authorize(try Self.createEvent(version, content: content))?.rule == "1.3")
        content["room_version"] = 12
        #expect(Self.authorize(try Self.createEvent(version, content: content))?.rule == "1.3")
        content["room_version"] = nil
        #expect(Self.authorize(try Self.createEvent(version, content: content)) == nil)
    }

    @Test(arguments: Versions.all)
    func rule1_4_creatorRequiredUpToV10(version: RoomVersion) throws {
        let create = try Self.createEvent(version, content: ["room_version": .string(version.identifier)])
        if version.number <= 10 {
            #expect(Self.authorize(create)?.rule == "1.4")
        } else {
            #expect(Self.authorize(create) == nil)
        }
    }

    @Test func rule1_4_additionalCreatorsMustBeUserIDs() throws {
        for bad: JSONValue in ["@bob:b.example", [1], ["bob"], ["@bob:b.example", "not a user"], [nil]] {
            let create = try Self.createEvent(.v12, content: ["room_version": "12", "additional_creators": bad])
            #expect(Self.authorize(create)?.rule == "1.4", "\(bad)")
        }
        for good: JSONValue in [[], ["@bob:b.example", "@carol:c.example"]] {
            let create = try Self.createEvent(.v12, content: ["room_version": "12", "additional_creators": good])
            #expect(Self.authorize(create) == nil)
        }
        // Before v12 the field means nothing and is not validated.
        let v11 = try Self.createEvent(.v11, content: ["room_version": "11", "additional_creators": [1]])
        #expect(Self.authorize(v11) == nil)
    }

    @Test func roomCreatorsPerVersion() throws {
        let v10 = try Self.createEvent(.v10, content: ["creator": "@carol:c.example", "room_version": "10"])
        #expect(RoomCreators.of(v10) == [Users.carol])
        let v11 = try Self.createEvent(.v11, content: ["creator": "@carol:c.example", "additional_creators": ["@bob:b.example"]])
        #expect(RoomCreators.of(v11) == [Users.alice])
        let v12 = try Self.createEvent(.v12, content: ["additional_creators": ["@bob:b.example", "@carol:c.example"]])
        #expect(RoomCreators.of(v12) == [Users.alice, Users.bob, Users.carol])
    }

    // MARK: Rule 2 (v12)

    @Test func rule2_roomIDMustNameTheCreateEvent() throws {
        var room = try RoomFixture.standard(.v12)
        var elsewhere = try RoomFixture(version: .v12, createTimestamp: 2000)
        try elsewhere.member(Users.alice, "join")
        let foreign = try elsewhere.event("m.room.message", sender: Users.alice, content: ["body": "hi"])
        // Checked against this room's state, whose create event is not the one the ID names.
        let error = #expect(throws: AuthError.self) { try EventAuthorization.authorize(foreign, state: room.state) }
        #expect(error?.rule == "2")
        let local = try room.event("m.room.message", sender: Users.alice, content: ["body": "hi"])
        #expect(room.rejection(local) == nil)
    }

    @Test(arguments: Versions.all)
    func missingCreateEventInStateIsRejected(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        let message = try room.event("m.room.message", sender: Users.alice, content: ["body": "hi"])
        var state = room.state
        state[.create] = nil
        let error = #expect(throws: AuthError.self) { try EventAuthorization.authorize(message, state: state) }
        #expect(error?.rule == rule(version, [1: "2.4", 12: "2"]))
    }

    // MARK: Rule 3 (rule 2 before v12)

    @Test(arguments: Versions.all)
    func rule3_1_duplicateAuthEventKeysAreRejected(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        let firstPowerLevels = try #require(room.state[.powerLevels])
        try room.powerLevels(room.powerLevelContent(users: [Users.bob: 10]))
        let current = try #require(room.state[.powerLevels])
        let ids = [firstPowerLevels.eventID, current.eventID, room.state[.member(Users.alice)]!.eventID]
            + (version.auth.createEventIsAuthEvent ? [room.create.eventID] : [])
        let message = try room.event("m.room.message", sender: Users.alice, content: [:], authEvents: ids)
        #expect(room.rejection(message)?.rule == rule(version, [1: "2.1", 12: "3.1"]))
    }

    @Test(arguments: Versions.all)
    func rule3_2_unexpectedAuthEventsAreRejected(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        let base = EventAuthorization.authEventKeys(type: "m.room.message", stateKey: nil, sender: Users.alice,
                                                    content: [:], version: version).compactMap { room.state[$0]?.eventID }
        let expected = rule(version, [1: "2.2", 12: "3.2"])
        // Join rules are not selected for a message.
        let extra = try room.event("m.room.message", sender: Users.alice, content: [:],
                                   authEvents: base + [room.state[.joinRules]!.eventID])
        #expect(room.rejection(extra)?.rule == expected)
        // Auth events must be state events.
        let said = try room.send("m.room.message", sender: Users.alice, content: ["body": "x"])
        let nonState = try room.event("m.room.message", sender: Users.alice, content: [:], authEvents: base + [said.eventID])
        #expect(room.rejection(nonState)?.rule == expected)
    }

    @Test func rule3_2_v12CreateEventMustNotBeAnAuthEvent() throws {
        var room = try RoomFixture.standard(.v12)
        let keys = EventAuthorization.authEventKeys(type: "m.room.message", stateKey: nil, sender: Users.alice,
                                                    content: [:], version: .v12)
        #expect(!keys.contains(.create))
        let ids = keys.compactMap { room.state[$0]?.eventID } + [room.create.eventID]
        let message = try room.event("m.room.message", sender: Users.alice, content: [:], authEvents: ids)
        let error = room.rejection(message)
        #expect(error?.rule == "3.2")
        #expect(error?.reason.contains("m.room.create") == true)
    }

    @Test(arguments: Versions.all)
    func rule3_3_rejectedOrUnknownAuthEventsAreRejected(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        let message = try room.event("m.room.message", sender: Users.alice, content: [:])
        // The caller leaves out a rejected auth event (here: the power levels).
        let accepted = message.authEvents.compactMap { room.events[$0] }.filter { $0.type != "m.room.power_levels" }
        let error = #expect(throws: AuthError.self) {
            try EventAuthorization.authorize(message, authEvents: accepted, roomCreate: room.create)
        }
        #expect(error?.rule == rule(version, [1: "2.3", 12: "3.3"]))
    }

    @Test(arguments: Versions.legacy1to11)
    func rule3_4_v1to11RequireTheCreateEventAmongAuthEvents(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        let ids = [room.state[.powerLevels]!.eventID, room.state[.member(Users.alice)]!.eventID]
        let message = try room.event("m.room.message", sender: Users.alice, content: [:], authEvents: ids)
        #expect(room.rejection(message)?.rule == "2.4")
    }

    @Test(arguments: Versions.all)
    func rule3_5_authEventsMustBeFromTheSameRoom(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        var other = try RoomFixture(version: version, roomLocalpart: "other", createTimestamp: 2000)
        try other.member(Users.alice, "join")
        let foreignPowerLevels = try other.powerLevels(other.powerLevelContent())
        var ids = [foreignPowerLevels.eventID, room.state[.member(Users.alice)]!.eventID]
        if version.auth.createEventIsAuthEvent { ids.append(room.create.eventID) }
        let message = try room.event("m.room.message", sender: Users.alice, content: [:], authEvents: ids)
        let error = #expect(throws: AuthError.self) {
            _ = try EventAuthorization.checkAuthEventsList(message, authEvents: [foreignPowerLevels, room.create,
                                                                                 room.state[.member(Users.alice)]!])
        }
        #expect(error?.rule == rule(version, [1: "2.5", 12: "3.5"]))
    }

    @Test(arguments: Versions.all)
    func checkAuthEventsListReturnsTheirState(version: RoomVersion) throws {
        var room = try RoomFixture.standard(version)
        try room.member(Users.bob, "join")
        let join = try room.event("m.room.member", stateKey: Users.carol.rawValue, sender: Users.carol,
                                  content: ["membership": "join"])
        let state = try EventAuthorization.checkAuthEventsList(join, authEvents: Array(room.events.values))
        var keys: Set<StateKey> = [.powerLevels, .joinRules]
        if version.auth.createEventIsAuthEvent { keys.insert(.create) }
        #expect(Set(state.keys) == keys)
    }

    // MARK: Rule 4 (rule 3 before v12)

    @Test(arguments: Versions.all)
    func rule4_nonFederatingRoomRefusesOtherServers(version: RoomVersion) throws {
        var content = RoomFixture.createContent(version: version, creator: Users.alice)
        content["m.federate"] = false
        var room = try RoomFixture(version: version, createContent: content)
        try room.member(Users.alice, "join")
        try room.powerLevels(room.powerLevelContent())
        try room.joinRule("public")
        #expect(try room.attemptMember(Users.bob, "join")?.rule == rule(version, [1: "3", 12: "4"]))
        #expect(try room.attemptMember(Users.dave, "join") == nil)

        content["m.federate"] = true
        var federating = try RoomFixture(version: version, createContent: content)
        try federating.member(Users.alice, "join")
        try federating.joinRule("public")
        #expect(try federating.attemptMember(Users.bob, "join") == nil)
    }
}
