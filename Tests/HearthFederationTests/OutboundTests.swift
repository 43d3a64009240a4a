import Foundation
import HearthCore
import HearthFederation
import HearthHTTP
import HearthStorage
import HearthStorageSQLite
import Synchronization
import Testing

/// Records the transactions a test server receives.
final class TransactionLog: Sendable {
    private let entries = Mutex<[(origin: String, txnID: String, pdus: [JSONObject], edus: [JSONObject])]>([])

    var transactions: [(origin: String, txnID: String, pdus: [JSONObject], edus: [JSONObject])] { entries.withLock { $0 } }
    var pduIDs: [String] { transactions.flatMap { $0.pdus.compactMap { $0["content"]?["n"]?.intValue.map(String.init) } } }

    func routes(_ e: FederationEndpoint) -> [Route] {
        [e.signed(.put, FederationEndpoint.federation("/send/{txnId}")) { request, origin in
            let body = try request.jsonBody()
            let txnID = try request.path("txnId")
            self.entries.withLock { entries in
                // Idempotent by (origin, transaction ID), as the spec asks of receivers.
                if !entries.contains(where: { $0.origin == origin.rawValue && $0.txnID == txnID }) {
                    entries.append((origin.rawValue, txnID, body["pdus"]?.arrayValue?.compactMap(\.objectValue) ?? [],
                                    body["edus"]?.arrayValue?.compactMap(\.objectValue) ?? []))
                }
            }
            return MatrixResponse(json: ["pdus": [:]])
        }]
    }
}

func waitUntil(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

@Suite(.serialized) struct OutboundTests {
    /// A v11 event from A, signed by A, whose content carries a counter.
    static func pdu(_ server: FedTestServer, _ n: Int) throws -> PDU {
        let sender = "@alice:\(server.name.rawValue)"
        let json: JSONObject = [
            "type": "m.room.message", "room_id": .string("!room:\(server.name.rawValue)"), "sender": .string(sender),
            "content": ["n": .int(Int64(n)), "body": "hello"], "depth": .int(Int64(n + 1)), "origin_server_ts": .int(1_700_000_000_000),
            "prev_events": [], "auth_events": [],
        ]
        let signed = try EventHashing.hashAndSign(json, server: server.name, key: server.homeserver.signingKey, version: .v11)
        return try PDU(json: signed, version: .v11)
    }

    @Test func pdusAndEdusAreBatchedIntoTransactions() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let log = TransactionLog()
        let b = try await FedTestServer.start(ca: ca, routes: log.routes)
        let a = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy() } }

        for n in 0..<120 { try await a.federation.sender.send(pdu: try Self.pdu(a, n), to: [b.name, a.name]) }
        try await a.federation.sender.send(edu: EDU(type: "m.typing", content: ["room_id": "!r:x", "user_id": "@alice:x", "typing": true]),
                                           to: [b.name])
        // The EDU may travel in the transaction after the last PDUs: wait for both.
        #expect(try await waitUntil { log.pduIDs.count == 120 && !log.transactions.flatMap(\.edus).isEmpty })
        #expect(log.pduIDs == (0..<120).map(String.init), "in order, each once")
        #expect(log.transactions.allSatisfy { $0.pdus.count <= 50 && $0.edus.count <= 100 })
        #expect(log.transactions.flatMap(\.edus).map { $0["edu_type"]?.stringValue } == ["m.typing"])
        #expect(log.transactions.allSatisfy { $0.origin == a.name.rawValue })
        #expect(try await waitUntil { await a.federation.sender.state(of: b.name) == .idle })
        #expect(try await a.homeserver.storage.federation.destinationsWithPendingItems().isEmpty)
        #expect(a.audit.records.filter { $0.kind == "transaction" }.count == log.transactions.count)
    }

    @Test func aDestinationThatWasDownIsCaughtUpAfterASenderRestart() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let log = TransactionLog()
        let bPort = try freePort()
        let a = try await FedTestServer.start(ca: ca)
        let bName = ServerName("localhost:\(bPort)")!
        // B is down: the transaction fails and A backs off.
        for n in 0..<3 { try await a.federation.sender.send(pdu: try Self.pdu(a, n), to: [bName]) }
        #expect(try await waitUntil {
            if case .backingOff = await a.federation.sender.state(of: bName) { return true }
            return false
        })
        let retry = try await a.homeserver.storage.federation.retryState(for: bName)
        #expect((retry?.failures ?? 0) >= 1)

        // A restarts with the same data directory; more events are queued meanwhile.
        let directory = a.config.dataDirectory
        await a.stop()
        let a2 = try await FedTestServer.start(ca: ca, port: a.port, directory: directory)
        for n in 3..<5 { try await a2.federation.sender.send(pdu: try Self.pdu(a2, n), to: [bName]) }
        // B comes up; A's backoff expires and everything arrives, once, in order.
        let b = try await FedTestServer.start(ca: ca, port: bPort, routes: log.routes)
        defer { Task { await a2.destroy(); await b.destroy() } }
        #expect(try await waitUntil { log.pduIDs.count >= 5 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(log.pduIDs == ["0", "1", "2", "3", "4"])
        #expect(try await a2.homeserver.storage.federation.destinationsWithPendingItems().isEmpty)
        #expect(try await a2.homeserver.storage.federation.retryState(for: bName)?.failures == 0)
    }

    @Test func anUnacknowledgedTransactionIsResentWithTheSameID() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-outbox-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let destination = ServerName("remote.example")!
        let first: OpenTransaction?
        do {
            let storage = try SQLiteStorage(path: directory + "/db.sqlite")
            try await storage.federation.enqueue((0..<60).map { (destination, .pdu, ["n": .int(Int64($0))]) })
            try await storage.federation.enqueue([(destination, .edu, ["edu_type": "m.typing"])])
            first = try await storage.federation.openNextTransaction(for: destination, transactionID: { "t\($0)" }, originServerTS: 5,
                                                                     maxPDUs: 50, maxEDUs: 100)
        }
        #expect(first?.items.filter { $0.kind == .pdu }.count == 50)
        #expect(first?.items.filter { $0.kind == .edu }.count == 1)
        // "Restart": a new connection to the same file finds the same open transaction.
        let storage = try SQLiteStorage(path: directory + "/db.sqlite")
        let again = try await storage.federation.openNextTransaction(for: destination, transactionID: { "other\($0)" },
                                                                     originServerTS: 9, maxPDUs: 50, maxEDUs: 100)
        #expect(again == first)
        try await storage.federation.completeTransaction(again!.transactionID, for: destination)
        let next = try await storage.federation.openNextTransaction(for: destination, transactionID: { "t\($0)" }, originServerTS: 10,
                                                                    maxPDUs: 50, maxEDUs: 100)
        #expect(next?.items.map { $0.json["n"]?.intValue } == (50..<60).map { Int64($0) })
        #expect(next?.transactionID != first?.transactionID)
    }
}
