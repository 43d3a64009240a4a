@testable import HearthCore

/// The resolution entry point and authorization rules the tests use: the public ones.
enum TestResolution {
    static func resolve(_ version: RoomVersion, _ stateSets: [[StateKey: EventID]],
                        fetch: (EventID) -> PDU?) throws(StateResolutionError) -> [StateKey: EventID] {
        try StateResolution.resolve(version: version, stateSets: stateSets, fetch: fetch)
    }

    static func authEventKeys(_ event: PDU) -> [StateKey] {
        EventAuthorization.authEventKeys(type: event.type, stateKey: event.stateKey, sender: event.sender,
                                         content: event.content, version: event.roomVersion)
    }
}

struct TestRoomError: Error, CustomStringConvertible {
    let description: String
}

/// Users on a few servers.
enum Cast {
    static let alice = UserID("@alice:a.example")!
    static let bob = UserID("@bob:b.example")!
    static let carol = UserID("@carol:c.example")!
    static let dave = UserID("@dave:b.example")!
    static let eve = UserID("@eve:evil.example")!
    static let mallory = UserID("@mallory:evil.example")!
}

/// Builds a room's event DAG with real signed events: explicit prev_events (so forks and
/// merges are where the test puts them), auth events selected from the state before each event
/// (or given explicitly), and the state after every event.
final class TestRoom {
    let version: RoomVersion
    private(set) var roomID: RoomID!
    private(set) var events: [EventID: PDU] = [:]
    private(set) var stateAfter: [EventID: [StateKey: EventID]] = [:]
    private(set) var create: PDU!
    private var keys: [ServerName: SigningKey] = [:]
    private var counter = 0
    private var clock: Int64 = 1_000

    init(version: RoomVersion, creator: UserID = Cast.alice, createContent: JSONObject = [:]) throws {
        self.version = version
        var content = createContent
        content["room_version"] = .string(version.identifier)
        if version.auth.createEventHasCreator { content["creator"] = .string(creator.rawValue) }
        if version.roomIDFormat == .serverScoped { roomID = RoomID("!room:\(creator.server.rawValue)")! }
        let event = try build("m.room.create", stateKey: "", sender: creator, content: content, prev: [], auth: [],
                              ts: nil)
        if version.roomIDFormat == .createEventHash { roomID = RoomID(createEventID: event.eventID) }
        create = event
        record(event, before: [:])
    }

    func fetch(_ id: EventID) -> PDU? { events[id] }

    func state(_ event: PDU) -> [StateKey: EventID] { stateAfter[event.eventID]! }

    func resolve(_ stateSets: [[StateKey: EventID]]) throws -> [StateKey: EventID] {
        try TestResolution.resolve(version, stateSets, fetch: fetch)
    }

    /// The state before an event with these prev_events.
    func stateBefore(_ prev: [PDU]) throws -> [StateKey: EventID] {
        if prev.count == 1 { return stateAfter[prev[0].eventID]! }
        return try resolve(prev.map { stateAfter[$0.eventID]! })
    }

    /// Sends an event after `prev`, which the authorization rules must allow (against its auth
    /// events and the state before it).
    @discardableResult
    func send(_ type: String, stateKey: String? = nil, by sender: UserID, content: JSONObject, after prev: [PDU],
              authEvents: [PDU]? = nil, ts: Int64? = nil) throws -> PDU {
        guard let event = try trySend(type, stateKey: stateKey, by: sender, content: content, after: prev,
                                      authEvents: authEvents, ts: ts) else {
            throw TestRoomError(description: "\(type)/\(stateKey ?? "-") by \(sender) is not authorized")
        }
        return event
    }

    /// Sends an event if the authorization rules allow it; nil (and nothing recorded) if not.
    func trySend(_ type: String, stateKey: String? = nil, by sender: UserID, content: JSONObject, after prev: [PDU],
                 authEvents: [PDU]? = nil, ts: Int64? = nil) throws -> PDU? {
        let before = try stateBefore(prev)
        let auth: [PDU]
        if let authEvents {
            auth = authEvents
        } else {
            // Select auth events as a server would, from the state before the event.
            let probe = try build(type, stateKey: stateKey, sender: sender, content: content, prev: prev, auth: [],
                                  ts: 0, dryRun: true)
            var selected: [PDU] = []
            for key in TestResolution.authEventKeys(probe) {
                if let id = before[key], !selected.contains(where: { $0.eventID == id }) { selected.append(events[id]!) }
            }
            auth = selected
        }
        let event = try build(type, stateKey: stateKey, sender: sender, content: content, prev: prev, auth: auth, ts: ts)
        // The checks on receipt: against the auth events, then against the state before.
        var stateBefore: [StateKey: PDU] = [.create: create]
        for key in TestResolution.authEventKeys(event) { if let id = before[key] { stateBefore[key] = events[id]! } }
        do {
            try EventAuthorization.authorize(event, authEvents: auth, roomCreate: create)
            try EventAuthorization.authorize(event, state: stateBefore)
        } catch {
            return nil
        }
        record(event, before: before)
        return event
    }

    private func record(_ event: PDU, before: [StateKey: EventID]) {
        events[event.eventID] = event
        var after = before
        if let key = event.stateTuple { after[key] = event.eventID }
        stateAfter[event.eventID] = after
    }

    private func build(_ type: String, stateKey: String?, sender: UserID, content: JSONObject, prev: [PDU],
                       auth: [PDU], ts: Int64?, dryRun: Bool = false) throws -> PDU {
        let server = sender.server
        let key = keys[server] ?? SigningKey.generate(version: "1")
        keys[server] = key
        var timestamp = ts ?? clock + 1
        if dryRun { timestamp = 0 } else { clock = max(clock + 1, timestamp); counter += 1 }
        let builder = EventBuilder(
            roomVersion: version, roomID: type == "m.room.create" && version.roomIDFormat == .createEventHash ? nil : roomID,
            type: type, stateKey: stateKey, sender: sender, content: content, prevEvents: prev.map(\.eventID),
            authEvents: auth.map(\.eventID), depth: (prev.map(\.depth).max() ?? 0) + 1, originServerTS: timestamp)
        let legacyID = version.eventIDFormat == .serverScoped ? EventID("$e\(counter):\(server.rawValue)") : nil
        return try builder.build(server: server, key: key, legacyEventID: legacyID)
    }

    // MARK: - Conveniences

    @discardableResult
    func member(_ user: UserID, _ membership: String, by sender: UserID? = nil, after prev: PDU,
                content extra: JSONObject = [:], ts: Int64? = nil) throws -> PDU {
        var content = extra
        content["membership"] = .string(membership)
        return try send("m.room.member", stateKey: user.rawValue, by: sender ?? user, content: content, after: [prev],
                        ts: ts)
    }

    /// Power levels content; room creators are left out of `users` in versions where they have
    /// infinite power (and may not be listed).
    func powerLevelsContent(_ users: [UserID: Int64], extra: JSONObject = [:]) -> JSONObject {
        var content = extra
        var map = JSONObject()
        let creators = RoomCreators.of(create)
        for (user, level) in users where !(version.auth.creatorsHaveInfinitePower && creators.contains(user)) {
            map[user.rawValue] = .int(level)
        }
        content["users"] = .object(map)
        return content
    }

    @discardableResult
    func powerLevels(_ users: [UserID: Int64], extra: JSONObject = [:], by sender: UserID, after prev: PDU,
                     ts: Int64? = nil) throws -> PDU {
        try send("m.room.power_levels", stateKey: "", by: sender, content: powerLevelsContent(users, extra: extra),
                 after: [prev], ts: ts)
    }

    @discardableResult
    func joinRule(_ rule: String, by sender: UserID, after prev: PDU, ts: Int64? = nil) throws -> PDU {
        try send("m.room.join_rules", stateKey: "", by: sender, content: ["join_rule": .string(rule)], after: [prev],
                 ts: ts)
    }

    @discardableResult
    func topic(_ topic: String, by sender: UserID, after prev: PDU, ts: Int64? = nil) throws -> PDU {
        try send("m.room.topic", stateKey: "", by: sender, content: ["topic": .string(topic)], after: [prev], ts: ts)
    }

    @discardableResult
    func name(_ name: String, by sender: UserID, after prev: PDU, ts: Int64? = nil) throws -> PDU {
        try send("m.room.name", stateKey: "", by: sender, content: ["name": .string(name)], after: [prev], ts: ts)
    }

    @discardableResult
    func message(_ body: String, by sender: UserID, after prev: PDU) throws -> PDU {
        try send("m.room.message", by: sender, content: ["msgtype": "m.text", "body": .string(body)], after: [prev])
    }

    /// The usual start: the creator (Alice) joins, sets power levels (Alice 100, plus `levels`),
    /// makes the room public, and each of `members` joins. Returns the last event.
    func standardStart(levels: [UserID: Int64] = [:], members: [UserID] = []) throws -> PDU {
        var last = try member(Cast.alice, "join", after: create)
        var users = levels
        users[Cast.alice] = 100
        last = try powerLevels(users, by: Cast.alice, after: last)
        last = try joinRule("public", by: Cast.alice, after: last)
        for user in members { last = try member(user, "join", after: last) }
        return last
    }

    /// The event a state map holds for `key`, decoded.
    func event(in state: [StateKey: EventID], _ key: StateKey) -> PDU? { state[key].flatMap { events[$0] } }

    func membership(in state: [StateKey: EventID], _ user: UserID) -> String? {
        event(in: state, .member(user))?.content["membership"]?.stringValue
    }
}

extension StateKey {
    static let topic = StateKey("m.room.topic", "")
    static let name = StateKey("m.room.name", "")
}

/// Room versions per algorithm.
enum ResVersions {
    static let v2Family: [RoomVersion] = [.v2, .v3, .v4, .v5, .v6, .v7, .v8, .v9, .v10, .v11]
    static let v2AndLater: [RoomVersion] = v2Family + [.v12]
    static let all: [RoomVersion] = [.v1] + v2AndLater
}
