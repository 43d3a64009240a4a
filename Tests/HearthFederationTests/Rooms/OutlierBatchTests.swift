import HearthCore
@testable import HearthHomeserver
import HearthStorage
import Testing

/// A big batch of fetched events (a room's state) is checked, authorized and written in
/// chunks. Whatever order the events come in, each one must get the verdict its auth events
/// give it, and be stored once.
@Suite(.serialized) struct OutlierBatchTests {
    /// A room of `members` joined users built on evil.test, its events in creation order, and
    /// one power-levels change by an unprivileged member (which fails auth).
    static func remoteRoom(_ evil: Homeserver, members: Int) throws -> (events: [PDU], forbidden: PDU) {
        let version = RoomVersion.default
        let boss = try #require(UserID("@boss:evil.test"))
        var state: [StateKey: EventID] = [:]
        var events: [PDU] = []
        var roomID: RoomID? = nil
        func add(_ type: String, _ stateKey: String?, _ sender: UserID, _ content: JSONObject) throws -> PDU {
            let auth = type == "m.room.create" ? [] : EventAuthorization.authEventKeys(
                type: type, stateKey: stateKey, sender: sender, content: content, version: version).compactMap { state[$0] }
            let builder = EventBuilder(
                roomVersion: version, roomID: roomID, type: type, stateKey: stateKey, sender: sender, content: content,
                prevEvents: events.last.map { [$0.eventID] } ?? [], authEvents: auth, depth: Int64(events.count + 1),
                originServerTS: 1_700_000_000_000 + Int64(events.count))
            let event = try builder.build(server: evil.serverName, key: evil.signingKey)
            if type == "m.room.create" { roomID = RoomID(createEventID: event.eventID) }
            if let stateKey { state[StateKey(type, stateKey)] = event.eventID }
            events.append(event)
            return event
        }
        _ = try add("m.room.create", "", boss, ["room_version": .string(version.identifier)])
        _ = try add("m.room.member", boss.rawValue, boss, ["membership": "join"])
        // (In room version 12 the creator has unlimited power without being listed.)
        _ = try add("m.room.power_levels", "", boss, ["state_default": 50])
        _ = try add("m.room.join_rules", "", boss, ["join_rule": "public"])
        for index in 0..<members {
            let user = try #require(UserID("@u\(index):evil.test"))
            _ = try add("m.room.member", user.rawValue, user, ["membership": "join"])
        }
        let forbidden = try add("m.room.power_levels", "", try #require(UserID("@u5:evil.test")), ["users": ["@u5:evil.test": 100]])
        return (events, forbidden)
    }

    @Test func chunksInAnyOrderGiveEachEventItsVerdict() async throws {
        let network = LoopbackFederation()
        defer { network.destroy() }
        let a = try network.start("a.test")
        let evil = try network.start("evil.test")
        let members = RoomFederation.outlierChunkSize * 2 + 100
        let (events, forbidden) = try Self.remoteRoom(evil, members: members)
        let room = events[0].roomID
        // The members first and the auth chain last: nearly every event has to wait for the
        // final chunk before it can be authorized.
        let authChain = Array(events.prefix(4))
        let ordered = Array(events.dropFirst(4)) + authChain.reversed()
        try await a.storage.rooms.createRoom(RoomRecord(roomID: room, version: .default, creator: events[0].sender, createdAt: 0))

        let result = try await a.federation.storeFetchedEvents(
            ordered.map(\.json), ensuring: [], room: room, version: .default, from: evil.serverName)

        let idsInOrder = ordered.indices.allSatisfy { result.idAt[$0] == ordered[$0].eventID }
        #expect(result.idAt.count == ordered.count && idsInOrder)
        let acceptedCount = result.accepted.count, forbiddenAccepted = result.accepted[forbidden.eventID] != nil
        #expect(acceptedCount == events.count - 1 && !forbiddenAccepted)
        let stored = try await a.storage.rooms.events(events.map(\.eventID))
        let allOutliers = stored.values.allSatisfy(\.outlier)
        let rejected = stored.values.filter { $0.rejectionReason != nil }.map(\.pdu.eventID)
        #expect(stored.count == events.count && allOutliers)
        #expect(rejected == [forbidden.eventID])

        // The same batch again: everything is known, nothing is written twice.
        let again = try await a.federation.storeFetchedEvents(
            ordered.map(\.json), ensuring: [], room: room, version: .default, from: evil.serverName)
        let storedAgain = try await a.storage.rooms.events(events.map(\.eventID)).count
        #expect(again.accepted.count == events.count - 1 && storedAgain == events.count)
    }
}
