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
