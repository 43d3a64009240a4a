import HearthCore
import HearthHomeserver
import HearthStorage
import Testing

/// Room semantics across servers, in process: remote joins, message flow, invites, leaves,
/// knocks, catching up after downtime, and forks resolved identically.
@Suite(.serialized) struct FederationRoomTests {
    @Test func remoteJoinAndMessagesFlowBothWays() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let a = try network.start("a.test")
        let b = try network.start("b.test")
        let alice = try await a.makeUser("alice")
        let bob = try await b.makeUser("bob")
        let room = try await a.publicRoom(by: alice, ["name": "Federated"])
        try await a.say(alice, in: room, "before bob")

        try await b.rooms.join(room, user: bob, via: [a.serverName])
        #expect(try await b.membership(bob, room) == "join")
        #expect(try await a.membership(bob, room) == "join")
        #expect(try await b.state(room) == a.state(room))

        try await a.say(alice, in: room, "hello bob")
        try await network.flush()
        try await b.say(bob, in: room, "hello alice")
        try await network.flush()
        #expect(try await a.bodies(in: room) == ["before bob", "hello bob", "hello alice"])
        #expect(try await b.bodies(in: room) == ["hello bob", "hello alice"])
        #expect(try await b.state(room) == a.state(room))
    }
}
