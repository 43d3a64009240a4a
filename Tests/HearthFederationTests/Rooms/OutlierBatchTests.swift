import HearthCore
@testable import HearthHomeserver
import HearthStorage
import Synchronization
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
        // Each row holds the event as it came, and its auth edges.
        let sameEvents = events.allSatisfy { stored[$0.eventID]?.pdu == $0 }
        #expect(sameEvents)
        let member = events[10]
        let chain = try await a.storage.rooms.authChain(of: [member.eventID])
        #expect(chain.isSubset(of: Set(events.prefix(4).map(\.eventID))) && chain.isSuperset(of: member.authEvents))

        // The same batch again: everything is known, nothing is written twice.
        let again = try await a.federation.storeFetchedEvents(
            ordered.map(\.json), ensuring: [], room: room, version: .default, from: evil.serverName)
        let storedAgain = try await a.storage.rooms.events(events.map(\.eventID)).count
        #expect(again.accepted.count == events.count - 1 && storedAgain == events.count)
    }

    @Test func aBatchIsCutSmallFirstThenInFullChunks() {
        let size = RoomFederation.outlierChunkSize
        #expect(RoomFederation.outlierChunks(count: 0).isEmpty)
        #expect(RoomFederation.outlierChunks(count: 40) == [0..<40])
        #expect(RoomFederation.outlierChunks(count: 100 + size * 2 + 4) == [0..<100, 100..<(100 + size),
                                                                           (100 + size)..<(100 + size * 2),
                                                                           (100 + size * 2)..<(100 + size * 2 + 4)])
    }

    /// The background writer takes everything queued while a write was running into the next
    /// one, writes each event once, and reports a failed write when it is finished.
    @Test func theOutlierWriterGathersWhatQueuesUpBehindAWrite() async throws {
        let (version, key) = (RoomVersion.v11, try SigningKey(seed: Array(repeating: 3, count: 32), version: "w"))
        let events = try (0..<7).map { index in
            EventToPersist.outlier(try EventBuilder(
                roomVersion: version, roomID: RoomID("!w:writer.test"), type: "m.room.message", sender: UserID("@w:writer.test")!,
                content: ["body": .string("\(index)")], prevEvents: [], authEvents: [], depth: 1, originServerTS: Int64(index)
            ).build(server: ServerName("writer.test")!, key: key))
        }
        let (entered, enteredSignal) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseSignal) = AsyncStream.makeStream(of: Void.self)
        let batches = Batches()
        let writer = RoomFederation.OutlierWriter { batch in
            // Encoded before the writer takes them.
            #expect(batch.allSatisfy { $0.encodedJSON == $0.pdu.json.encodedString() })
            batches.append(batch.map(\.pdu.originServerTS))
            enteredSignal.yield()
            // The first write waits until the rest is queued behind it.
            if batches.count == 1 { for await _ in release { break } }
        }
        writer.enqueue([events[0]])
        for await _ in entered { break }
        writer.enqueue(Array(events[1...3]))
        writer.enqueue(Array(events[4...6]))
        writer.enqueue([])
        releaseSignal.yield()
        try await writer.finish()
        #expect(batches.all == [[0], [1, 2, 3, 4, 5, 6]])

        struct Refused: Error {}
        let failing = RoomFederation.OutlierWriter { _ in throw Refused() }
        failing.enqueue([events[0]])
        await #expect(throws: Refused.self) { try await failing.finish() }
    }
}

/// What a test writer was given, batch by batch.
final class Batches: Sendable {
    private let batches = Mutex<[[Int64]]>([])
    func append(_ batch: [Int64]) { batches.withLock { $0.append(batch) } }
    var count: Int { batches.withLock { $0.count } }
    var all: [[Int64]] { batches.withLock { $0 } }
}
