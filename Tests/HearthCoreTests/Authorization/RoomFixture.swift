import HearthCore
import Testing

/// Test users. Alice creates rooms; servers differ so that domain rules can be exercised.
enum Users {
    static let alice = UserID("@alice:a.example")!
    static let dave = UserID("@dave:a.example")!
    static let bob = UserID("@bob:b.example")!
    static let erin = UserID("@erin:b.example")!
    static let carol = UserID("@carol:c.example")!
}

/// One signing key per test server, made once.
enum TestKeys {
    static let servers = ["a.example", "b.example", "c.example", "d.example"]
    static let keys: [String: SigningKey] = Dictionary(
        uniqueKeysWithValues: servers.map { ($0, SigningKey.generate(version: "test")) })
    static func key(for server: ServerName) -> SigningKey { keys[server.rawValue]! }
}

/// A room built event by event in code: real hashed and signed events whose `auth_events` are
/// chosen from the fixture's current state with `EventAuthorization.authEventKeys`, as a
/// homeserver creating events would.
struct RoomFixture {
    let version: RoomVersion
    private(set) var create: PDU
    private(set) var state: [StateKey: PDU] = [:]
    /// Every event built, accepted or not, by ID (to resolve `auth_events`).
    private(set) var events: [EventID: PDU] = [:]
    private(set) var extremities: [EventID] = []
    private var counter = 0
    private var depth: Int64 = 0

    var roomID: RoomID { create.roomID }

    /// The create event content a server would write for `version`.
    static func createContent(version: RoomVersion, creator: UserID) -> JSONObject {
        var content: JSONObject = ["room_version": .string(version.identifier)]
        if version.auth.createEventHasCreator { content["creator"] = .string(creator.rawValue) }
        return content
    }

    /// A room holding only its create event (accepted). `createContent` replaces the default
    /// content; `roomLocalpart` varies the v1–v11 room ID and `createTimestamp` the v12 one.
    init(version: RoomVersion, creator: UserID = Users.alice, createContent: JSONObject? = nil,
         roomLocalpart: String = "room", createTimestamp: Int64 = 1000) throws {
        self.version = version
        let roomID: RoomID? = version.roomIDFormat == .createEventHash
            ? nil : RoomID("!\(roomLocalpart):\(creator.server.rawValue)")
        let content = createContent ?? RoomFixture.createContent(version: version, creator: creator)
        let builder = EventBuilder(roomVersion: version, roomID: roomID, type: "m.room.create", stateKey: "",
                                   sender: creator, content: content, prevEvents: [], authEvents: [],
                                   depth: 1, originServerTS: createTimestamp)
        let legacyID = version.eventIDFormat == .serverScoped ? EventID("$create-\(roomLocalpart):\(creator.server)") : nil
        create = try builder.build(server: creator.server, key: TestKeys.key(for: creator.server), legacyEventID: legacyID)
        depth = 1
        try EventAuthorization.authorize(create, state: [:])
        apply(create)
    }

    /// Builds (does not check or apply) an event on top of the current extremities, with
    /// `auth_events` selected from the current state unless given.
    mutating func event(_ type: String, stateKey: String? = nil, sender: UserID, content: JSONObject,
                        prevEvents: [EventID]? = nil, authEvents: [EventID]? = nil,
                        redacts: EventID? = nil) throws -> PDU {
        counter += 1
        let selected = authEvents ?? EventAuthorization.authEventKeys(
            type: type, stateKey: stateKey, sender: sender, content: content, version: version
        ).compactMap { state[$0]?.eventID }
        let builder = EventBuilder(roomVersion: version, roomID: roomID, type: type, stateKey: stateKey,
                                   sender: sender, content: content, prevEvents: prevEvents ?? extremities,
                                   authEvents: selected, depth: depth + 1,
                                   originServerTS: 1000 + Int64(counter), redacts: redacts)
        let legacyID = version.eventIDFormat == .serverScoped ? EventID("$e\(counter):\(sender.server)") : nil
        let pdu = try builder.build(server: sender.server, key: TestKeys.key(for: sender.server), legacyEventID: legacyID)
        events[pdu.eventID] = pdu
        return pdu
    }

    /// Nil if `event` passes both checks a receiving server makes (against its auth events, then
    /// against the state before it, here the fixture's state), else the first refusal.
    func rejection(_ event: PDU) -> AuthError? {
        let authEvents = event.authEvents.compactMap { events[$0] }
        do {
            try EventAuthorization.authorize(event, authEvents: authEvents, roomCreate: create)
            try EventAuthorization.authorize(event, state: state)
        } catch {
            return error
        }
        return nil
    }

    /// Makes `event` the new extremity and, if it is a state event, current state.
    mutating func apply(_ event: PDU) {
        events[event.eventID] = event
        if let key = event.stateTuple { state[key] = event }
        extremities = [event.eventID]
        depth = max(depth, event.depth)
    }

    /// Builds an event, requires it to be accepted, applies it.
    @discardableResult
    mutating func send(_ type: String, stateKey: String? = nil, sender: UserID, content: JSONObject,
                       redacts: EventID? = nil) throws -> PDU {
        let pdu = try event(type, stateKey: stateKey, sender: sender, content: content, redacts: redacts)
        if let error = rejection(pdu) { throw error }
        apply(pdu)
        return pdu
    }

    /// Builds an event and returns the refusal (nil if it was accepted, which is not applied).
    mutating func attempt(_ type: String, stateKey: String? = nil, sender: UserID, content: JSONObject,
                          redacts: EventID? = nil) throws -> AuthError? {
        rejection(try event(type, stateKey: stateKey, sender: sender, content: content, redacts: redacts))
    }

    // MARK: - Conveniences

    @discardableResult
    mutating func member(_ target: UserID, _ membership: String, by sender: UserID? = nil,
                         extra: JSONObject = [:]) throws -> PDU {
        var content = extra
        content["membership"] = .string(membership)
        return try send("m.room.member", stateKey: target.rawValue, sender: sender ?? target, content: content)
    }

    mutating func attemptMember(_ target: UserID, _ membership: String, by sender: UserID? = nil,
                                extra: JSONObject = [:]) throws -> AuthError? {
        var content = extra
        content["membership"] = .string(membership)
        return try attempt("m.room.member", stateKey: target.rawValue, sender: sender ?? target, content: content)
    }

    @discardableResult
    mutating func joinRule(_ rule: String, by sender: UserID = Users.alice) throws -> PDU {
        try send("m.room.join_rules", stateKey: "", sender: sender, content: ["join_rule": .string(rule)])
    }

    @discardableResult
    mutating func powerLevels(_ content: JSONObject, by sender: UserID = Users.alice) throws -> PDU {
        try send("m.room.power_levels", stateKey: "", sender: sender, content: content)
    }

    /// Power-level content giving `users` their levels, plus the creator at 100 in versions
    /// where creators are not infinite (v12 forbids listing them).
    func powerLevelContent(users: [UserID: Int64] = [:], creator: UserID = Users.alice,
                           extra: JSONObject = [:]) -> JSONObject {
        var map = JSONObject()
        if !version.auth.creatorsHaveInfinitePower { map[creator.rawValue] = 100 }
        for (user, level) in users { map[user.rawValue] = .int(level) }
        var content = extra
        content["users"] = .object(map)
        return content
    }

    /// Create, the creator's join, power levels (`users` as given) and a join rule.
    static func standard(_ version: RoomVersion, joinRule: String = "public", users: [UserID: Int64] = [:],
                         extraPowerLevels: JSONObject = [:]) throws -> RoomFixture {
        var room = try RoomFixture(version: version)
        try room.member(Users.alice, "join")
        try room.powerLevels(room.powerLevelContent(users: users, extra: extraPowerLevels))
        try room.joinRule(joinRule)
        return room
    }

    /// Standard room with `users` joined (public join rule while they join, then `joinRule`).
    static func withMembers(_ version: RoomVersion, _ members: [UserID], joinRule: String = "public",
                            users: [UserID: Int64] = [:], extraPowerLevels: JSONObject = [:]) throws -> RoomFixture {
        var room = try standard(version, users: users, extraPowerLevels: extraPowerLevels)
        for user in members { try room.member(user, "join") }
        if joinRule != "public" { try room.joinRule(joinRule) }
        return room
    }
}

/// The rule number for `version` from a table keyed by the first version using that number:
/// `rule(v, [1: "5.2.2", 6: "4.2.2", 8: "4.3.2", 12: "5.3.2"])`.
func rule(_ version: RoomVersion, _ table: [Int: String]) -> String {
    let number = Int(version.identifier)!
    return table.filter { $0.key <= number }.max { $0.key < $1.key }!.value
}

extension RoomVersion {
    var number: Int { Int(identifier)! }
}

/// Versions with a given feature, for parameterized tests.
enum Versions {
    static let all = RoomVersion.all
    static let withKnock = RoomVersion.all.filter(\.auth.allowsKnocking)
    static let withoutKnock = RoomVersion.all.filter { !$0.auth.allowsKnocking }
    static let withRestricted = RoomVersion.all.filter(\.auth.allowsRestrictedJoins)
    static let withoutRestricted = RoomVersion.all.filter { !$0.auth.allowsRestrictedJoins }
    static let legacy1to11 = RoomVersion.all.filter { $0.number <= 11 }
}

/// Membership rule numbers, transcribed from the rule lists: "If type is `m.room.member`" is
/// rule 5 in v1–v5, 4 in v6–v11 and 5 in v12; v7 adds `knock` before the unknown-membership
/// point, v8 inserts `join_authorised_via_users_server` as point 2 and `restricted` as join
/// point 5.
enum MemberRules {
    static func top(_ version: RoomVersion) -> String {
        version.number <= 5 || version.number >= 12 ? "5" : "4"
    }

    static func point(_ version: RoomVersion, _ name: String) -> Int {
        let names: [String]
        switch version.number {
        case 1...6: names = ["shape", "join", "invite", "leave", "ban", "unknown"]
        case 7: names = ["shape", "join", "invite", "leave", "ban", "knock", "unknown"]
        default: names = ["shape", "via", "join", "invite", "leave", "ban", "knock", "unknown"]
        }
        return names.firstIndex(of: name)! + 1
    }

    /// e.g. `rule(v, "leave", "3")` → "5.5.3" in v12, "4.4.3" in v6.
    static func rule(_ version: RoomVersion, _ name: String, _ tail: String? = nil) -> String {
        let head = "\(top(version)).\(point(version, name))"
        return tail.map { "\(head).\($0)" } ?? head
    }

    /// Join points: v1–v7 have no `restricted` point, so public is 5 and "otherwise" 6.
    static func join(_ version: RoomVersion, _ name: String, _ tail: String? = nil) -> String {
        let names = version.number >= 8
            ? ["first", "sender", "banned", "invite", "restricted", "public", "otherwise"]
            : ["first", "sender", "banned", "invite", "public", "otherwise"]
        let head = rule(version, "join", String(names.firstIndex(of: name)! + 1))
        return tail.map { "\(head).\($0)" } ?? head
    }
}
