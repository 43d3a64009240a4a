import Foundation
import HearthCore
import HearthFederation
import HearthHomeserver
import HearthStorage
import Testing

/// Hearth servers federating for real: each its own server name, a TLS listener with a
/// certificate from a CA the test creates, X-Matrix-signed requests, persistent outbound
/// queues. One uses an IP literal with a port as its name.
@Suite(.serialized) struct TLSRoomTests {
    /// Polls until `condition` holds (events travel through queues with retries).
    static func eventually(_ what: String, timeout: Duration = .seconds(30),
                           _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out waiting until \(what)")
        throw FedTestError("timed out waiting until \(what)")
    }

    static func sameState(_ servers: [FedTestServer], _ room: RoomID) async throws -> Bool {
        let reference = try await servers[0].homeserver.state(room)
        for server in servers.dropFirst() where try await server.homeserver.state(room) != reference { return false }
        return true
    }

    @Test func threeServersShareARoomOverTLS() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        let b = try await FedTestServer.start(host: "127.0.0.1", ca: ca)
        let c = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy(); await c.destroy() } }
        let servers = [a, b, c]
        var users: [UserID] = []
        for server in servers { users.append(try await server.homeserver.makeUser("user")) }
        let room = try await a.homeserver.publicRoom(by: users[0], ["name": "Over TLS"])
        try await b.homeserver.rooms.join(room, user: users[1], via: [a.name])
        try await c.homeserver.rooms.join(room, user: users[2], via: [b.name])
        try await Self.eventually("everyone sees three members") {
            for server in servers where try await server.homeserver.rooms.members(of: room).filter({ $0.membership == "join" }).count != 3 {
                return false
            }
            return true
        }
        for (server, user) in zip(servers, users) { try await server.homeserver.say(user, in: room, "hi from \(server.name)") }
        let expected = Set(servers.map { "hi from \($0.name)" })
        try await Self.eventually("every message reaches every server") {
            for server in servers where !Set(try await server.homeserver.bodies(in: room)).isSuperset(of: expected) { return false }
            return true
        }
        try await Self.eventually("the room state is the same everywhere") { try await Self.sameState(servers, room) }
        // Every request left through the egress gate, and the gate allowed them.
        #expect(a.audit.records.contains { $0.kind == "transaction" })
        #expect(a.audit.records.allSatisfy { $0.decision == "allow" })
    }

    @Test func aStoppedServerCatchesUpAfterRestart() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        let b = try await FedTestServer.start(ca: ca)
        let first = try await FedTestServer.start(ca: ca)
        let alice = try await a.homeserver.makeUser("alice")
        let bob = try await b.homeserver.makeUser("bob")
        let carol = try await first.homeserver.makeUser("carol")
        let room = try await a.homeserver.publicRoom(by: alice)
        try await b.homeserver.rooms.join(room, user: bob, via: [a.name])
        try await first.homeserver.rooms.join(room, user: carol, via: [a.name])
        try await Self.eventually("b sees carol") { try await b.homeserver.membership(carol, room) == "join" }

        await first.stop()
        for n in 1...3 {
            try await a.homeserver.say(alice, in: room, "a \(n)")
            try await b.homeserver.say(bob, in: room, "b \(n)")
        }
        try await Self.eventually("a and b go on without c") {
            let onA = try await a.homeserver.bodies(in: room)
            let onB = try await b.homeserver.bodies(in: room)
            return onA.contains("b 3") && onB.contains("a 3")
        }
        let c = try await FedTestServer.start(ca: ca, port: first.port, directory: first.config.dataDirectory)
        defer { Task { await a.destroy(); await b.destroy(); await c.destroy() } }
        let expected: Set<String> = ["a 1", "a 2", "a 3", "b 1", "b 2", "b 3"]
        try await Self.eventually("c catches up") { Set(try await c.homeserver.bodies(in: room)).isSuperset(of: expected) }
        try await c.homeserver.say(carol, in: room, "c is back")
        try await Self.eventually("c's message reaches a and b") {
            let onA = try await a.homeserver.bodies(in: room)
            let onB = try await b.homeserver.bodies(in: room)
            return onA.contains("c is back") && onB.contains("c is back")
        }
        try await Self.eventually("all three end with identical state") { try await Self.sameState([a, b, c], room) }
    }

    @Test func aBanRacingAPowerLevelChangeResolvesIdentically() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        let b = try await FedTestServer.start(ca: ca)
        let c = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy(); await c.destroy() } }
        let alice = try await a.homeserver.makeUser("alice")
        let bob = try await b.homeserver.makeUser("bob")
        let carol = try await c.homeserver.makeUser("carol")
        let room = try await a.homeserver.publicRoom(by: alice)
        try await b.homeserver.rooms.join(room, user: bob, via: [a.name])
        try await c.homeserver.rooms.join(room, user: carol, via: [a.name])
        var levels = try #require(try await a.homeserver.rooms.currentStateEvent(room, .powerLevels)?.content)
        var users = levels["users"]?.objectValue ?? [:]
        users[bob.rawValue] = 50
        levels["users"] = .object(users)
        try await a.homeserver.rooms.send(room, sender: alice, type: "m.room.power_levels", stateKey: "", content: levels)
        try await Self.eventually("bob is a moderator everywhere") {
            for server in [a, b, c] where try await server.homeserver.rooms.powerLevels(room).userLevel(bob) != .finite(50) { return false }
            return try await c.homeserver.membership(bob, room) == "join"
        }
        // Both at once: alice demotes bob while bob bans carol.
        users[bob.rawValue] = nil
        levels["users"] = .object(users)
        async let demotion = a.homeserver.rooms.send(room, sender: alice, type: "m.room.power_levels", stateKey: "", content: levels)
        async let ban = b.homeserver.rooms.setMembership(room, sender: bob, target: carol, membership: "ban")
        _ = try await (demotion, ban)
        try await Self.eventually("both changes reach every server") {
            for server in [a, b, c] where try await server.homeserver.rooms.powerLevels(room).userLevel(bob) != .finite(0) { return false }
            return true
        }
        try await a.homeserver.say(alice, in: room, "after")
        try await b.homeserver.say(bob, in: room, "after too")
        try await Self.eventually("the same state everywhere") {
            let same = try await Self.sameState([a, b, c], room)
            let onC = try await c.homeserver.bodies(in: room)
            return same && onC.contains("after too")
        }
        for server in [a, b, c] { #expect(try await server.homeserver.membership(carol, room) == "join") }
    }

    @Test func transportRefusesWhatIsNotAValidTransaction() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        let b = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy() } }
        let path = FederationPath.make("v1", "send", "big")
        // Over the transaction body limit: refused before it is read.
        let huge: JSONValue = ["origin": .string(a.name.rawValue), "pdus": [], "padding": .string(String(repeating: "x", count: 9 << 20))]
        await #expect(throws: FederationError.self) { _ = try await a.federation.client.put(path, json: huge, to: b.name) }
        // 51 PDUs: M_TOO_LARGE; a non-array: M_BAD_JSON.
        let many: JSONValue = ["origin": .string(a.name.rawValue), "pdus": .array(Array(repeating: [:], count: 51))]
        do {
            _ = try await a.federation.client.put(FederationPath.make("v1", "send", "many"), json: many, to: b.name)
            Issue.record("51 PDUs were accepted")
        } catch {
            guard case .remote(let status, let matrixError) = error else { throw error }
            #expect(status == 400 && matrixError?.code == .tooLarge)
        }
        let answer = try await a.federation.client.put(FederationPath.make("v1", "send", "ok"),
                                                       json: ["origin": .string(a.name.rawValue), "pdus": [], "edus": []], to: b.name)
        #expect(answer["pdus"]?.objectValue?.isEmpty == true)
    }
}
