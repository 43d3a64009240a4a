public import HearthCore

/// A large room built directly (no per-event state snapshots, which would be quadratic): many
/// members, then two branches of concurrent state changes.
public final class BigRoom {
    public let version: RoomVersion
    public private(set) var events: [EventID: PDU] = [:]
    private var keys: [ServerName: SigningKey] = [:]
    private var counter = 0
    public private(set) var roomID: RoomID?
    public private(set) var create: PDU!

    public init(version: RoomVersion) { self.version = version }

    public static let alice = UserID("@alice:a.example")!
    public static let bob = UserID("@bob:b.example")!

    public func fetch(_ id: EventID) -> PDU? { events[id] }

    /// Builds and records an event after `prev`, selecting its auth events from `state` and
    /// applying it to `state`. No authorization check: callers send only allowed events.
    @discardableResult
    public func send(_ type: String, stateKey: String?, by sender: UserID, content: JSONObject, after prev: PDU?,
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

    public struct Fork {
        public var common: [StateKey: EventID]
        public var a: [StateKey: EventID]
        public var b: [StateKey: EventID]
    }

    /// `members` users join; then branch A (Alice) changes the power levels and sets `perBranch`
    /// custom state keys, and branch B (Bob, a moderator) kicks `kicks` members and sets
    /// `perBranch − kicks` of the same custom keys: about 2·perBranch conflicting state events.
    public static func forked(version: RoomVersion, members: Int, perBranch: Int, kicks: Int) throws -> (BigRoom, Fork) {
        let room = BigRoom(version: version)
        let alice = BigRoom.alice
        let bob = BigRoom.bob
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

