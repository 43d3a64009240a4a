import Foundation
import GRDB
import HearthCore
import HearthFederation
import HearthStorage
import HearthStorageSQLite
import Logging
import Testing

@Suite struct AuditTests {
    @Test func theSQLiteAuditLogIsAppendOnly() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try SQLiteStorage(path: directory + "/db.sqlite")
        let sink = StoreAuditSink(store: storage.federation, logger: Logger(label: "test"))
        for (index, decision) in ["allow", "refuse", "reshape"].enumerated() {
            await sink.record(EgressAuditRecord(timestamp: Int64(index), destination: "remote.example", kind: "request", method: "PUT",
                                                path: "/_matrix/federation/v1/send/\(index)", decision: decision,
                                                reason: decision == "allow" ? nil : "policy", bodyDigest: "00", bodySize: 2))
        }
        let records = try await storage.federation.auditRecords(after: 0, limit: 10)
        #expect(records.map(\.decision) == ["allow", "refuse", "reshape"])
        #expect(records.map(\.sequence) == [1, 2, 3])
        #expect(try await storage.federation.auditRecords(after: 2, limit: 10).map(\.path) == ["/_matrix/federation/v1/send/2"])

        // Changing or removing a record is refused by the database itself.
        let queue = try DatabaseQueue(path: directory + "/db.sqlite")
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "UPDATE egress_audit SET decision = 'allow'") } }
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "DELETE FROM egress_audit") } }
        #expect(try await storage.federation.auditRecords(after: 0, limit: 10).map(\.decision) == ["allow", "refuse", "reshape"])
    }
}

@Suite struct AuditChainTests {
    static func record(_ n: Int, ts: Int64) -> EgressAuditRecord {
        EgressAuditRecord(timestamp: ts, destination: "remote.example", kind: "transaction", method: "PUT",
                          path: "/_matrix/federation/v1/send/\(n)", decision: n % 2 == 0 ? "allow" : "refuse", reason: nil,
                          bodyDigest: nil, bodySize: n, dataKind: "pdu", roomID: "!room\(n % 3):x", userID: "@u:x",
                          rule: "room_class.open")
    }

    static func storage() throws -> (SQLiteStorage, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return (try SQLiteStorage(path: directory + "/db.sqlite"), directory)
    }

    @Test func eachRecordCarriesTheHashOfTheOneBefore() async throws {
        let (storage, directory) = try Self.storage()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = storage.federation
        try await store.appendAuditRecords((1...5).map { Self.record($0, ts: Int64($0)) })
        try await store.appendAuditRecords((6...8).map { Self.record($0, ts: Int64($0)) })
        let records = try await store.auditRecords(after: 0, limit: 100)
        #expect(records.map(\.sequence) == Array(1...8))
        #expect(records.first?.previousHash == "")
        for (earlier, later) in zip(records, records.dropFirst()) { #expect(later.previousHash == earlier.hash) }
        #expect(AuditChain.firstBreak(in: records, anchor: "") == nil)
        #expect(try await AuditVerification.run(store).brokenAt == nil)
        // Filters.
        #expect(try await store.auditRecords(matching: AuditFilter(decision: "refuse"), after: 0, limit: 100).map(\.sequence) == [1, 3, 5, 7])
        #expect(try await store.auditRecords(matching: AuditFilter(roomID: "!room0:x"), after: 0, limit: 100).map(\.sequence) == [3, 6])
        #expect(try await store.auditRecords(matching: AuditFilter(since: 4, until: 6), after: 0, limit: 100).map(\.sequence) == [4, 5])
    }

    @Test func aChangedRemovedOrReorderedRecordBreaksTheChain() async throws {
        let (storage, directory) = try Self.storage()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await storage.federation.appendAuditRecords((1...6).map { Self.record($0, ts: Int64($0)) })
        let path = directory + "/db.sqlite"
        // Someone with the database file in hand removes the triggers and edits the log.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "DROP TRIGGER egress_audit_no_update; DROP TRIGGER egress_audit_no_delete")
            try db.execute(sql: "UPDATE egress_audit SET decision = 'allow' WHERE sequence = 3")
        }
        #expect(try await AuditVerification.run(storage.federation).brokenAt == 3)
        try await queue.write { db in
            try db.execute(sql: "UPDATE egress_audit SET decision = 'refuse' WHERE sequence = 3")
            try db.execute(sql: "DELETE FROM egress_audit WHERE sequence = 4")
        }
        #expect(try await AuditVerification.run(storage.federation).brokenAt == 5)
    }

    @Test func pruningKeepsTheChainVerifiableFromItsAnchor() async throws {
        let (storage, directory) = try Self.storage()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = storage.federation
        try await store.appendAuditRecords((1...6).map { Self.record($0, ts: Int64($0) * 100) })
        let before = try await store.auditRecords(after: 0, limit: 100)
        #expect(try await store.pruneAuditRecords(before: 350) == 3)
        #expect(try await store.auditAnchor() == before[2].hash)
        #expect(try await store.auditRecords(after: 0, limit: 100).map(\.sequence) == [4, 5, 6])
        #expect(try await AuditVerification.run(store).brokenAt == nil)
        // New records continue the sequence and the chain.
        try await store.appendAuditRecord(Self.record(7, ts: 700))
        #expect(try await AuditVerification.run(store) .records == 4)
        #expect(try await AuditVerification.run(store).brokenAt == nil)
        // Records after the anchor still cannot be deleted or changed.
        let queue = try DatabaseQueue(path: directory + "/db.sqlite")
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "DELETE FROM egress_audit WHERE sequence = 5") } }
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "UPDATE egress_audit_anchor SET pruned_through = 1") } }
        // Everything pruned: the next record still follows the anchor.
        #expect(try await store.pruneAuditRecords(before: 10_000) == 4)
        try await store.appendAuditRecord(Self.record(8, ts: 800))
        let rest = try await store.auditRecords(after: 0, limit: 10)
        #expect(rest.map(\.sequence) == [8])
        #expect(try await AuditVerification.run(store).brokenAt == nil)
    }
}
