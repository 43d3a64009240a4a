import HearthCore
import HearthHomeserver
import HearthStorage
import Testing

/// Small helpers for federation tests on `LoopbackFederation`.
extension Homeserver {
    /// Creates a local account without a session.
    func makeUser(_ localpart: String) async throws -> UserID {
        let id = UserID(localpart: localpart, server: serverName)!
        _ = try await accounts.createAccount(userID: id, password: nil, inhibitLogin: true)
        return id
    }

    func publicRoom(by creator: UserID, _ extra: JSONObject = [:]) async throws -> RoomID {
        var body: JSONObject = ["preset": "public_chat"]
        for member in extra { body[member.key] = member.value }
        return try await rooms.createRoom(body, by: creator, creatorProfile: (nil, nil))
    }

    @discardableResult
    func say(_ user: UserID, in room: RoomID, _ text: String) async throws -> EventID {
        try await rooms.send(room, sender: user, type: "m.room.message", content: ["msgtype": "m.text", "body": .string(text)])
    }

    /// Message bodies of the room's visible timeline, oldest first.
    func bodies(in room: RoomID) async throws -> [String] {
        let now = try await storage.rooms.currentStreamPosition()
        let events = try await storage.rooms.recentEvents(in: room, after: 0, upTo: now, limit: 1000)
        return events.reversed().filter { $0.pdu.type == "m.room.message" }.compactMap { $0.pdu.content["body"]?.stringValue }
    }

    /// Message bodies in topological order (depth, then arrival), as /messages orders them.
    func bodiesByDepth(in room: RoomID) async throws -> [String] {
        let events = try await storage.rooms.events(in: room, from: TopologicalPosition(depth: 0, stream: 0), backwards: false, limit: 1000)
        return events.filter { $0.pdu.type == "m.room.message" }.compactMap { $0.pdu.content["body"]?.stringValue }
    }

    func state(_ room: RoomID) async throws -> [StateKey: EventID] { try await rooms.currentState(room) }

    func membership(_ user: UserID, _ room: RoomID) async throws -> String? { try await rooms.membership(of: user, in: room) }
}

extension LoopbackFederation {
    /// a.test with @alice and b.test with @bob.
    func twoServers() async throws -> (Homeserver, UserID, Homeserver, UserID) {
        let a = try start("a.test")
        let b = try start("b.test")
        return (a, try await a.makeUser("alice"), b, try await b.makeUser("bob"))
    }

    /// Servers `names`, each with one user named after its first label (a.test → @a:a.test).
    func startMany(_ names: [String], roomVersion: RoomVersion = .default) async throws -> [(Homeserver, UserID)] {
        var result: [(Homeserver, UserID)] = []
        for name in names {
            let homeserver = try start(name, roomVersion: roomVersion)
            result.append((homeserver, try await homeserver.makeUser(String(name.prefix { $0 != "." }))))
        }
        return result
    }
}
