import Foundation
import GRDB
@testable import HearthStorageSQLite
import Testing

/// Checkpoints of the SQLite write-ahead log run beside the writer, after writing pauses or
/// once the log reaches its limit, never inside a commit.
@Suite struct WALCheckpointTests {
    /// A pool wired as `SQLiteStorage` wires it, with the given checkpointer.
    static func pool(at path: String, _ checkpointer: WALCheckpointer) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.prepareDatabase { db in checkpointer.install(on: db) }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in try db.execute(sql: "CREATE TABLE filler (id INTEGER PRIMARY KEY, blob BLOB NOT NULL)") }
        try checkpointer.attach(path: path)
        return pool
    }

    static func temporaryPath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("test.db").path
    }

    /// Pages in the log, and pages of it already copied into the database file.
    static func logState(_ pool: DatabasePool) async throws -> (frames: Int, copied: Int) {
        let result = try await pool.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        return (result.walFrameCount, result.checkpointedFrameCount)
    }

    static func waitFor(_ condition: () -> Bool) async throws {
        for _ in 0..<800 where !condition() { try await Task.sleep(for: .milliseconds(25)) }
    }

    static func fileSize(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
    }

    static func fill(_ pool: DatabasePool, rows: Range<Int>) async throws {
        try await pool.write { db in
            for id in rows { try db.execute(sql: "INSERT INTO filler VALUES (?, zeroblob(4000))", arguments: [id]) }
        }
    }

    @Test func commitsLeaveTheLogAloneUntilItReachesItsLimit() async throws {
        let path = try Self.temporaryPath()
        // The pause never comes within the test: only the limit can start a checkpoint.
        let checkpointer = WALCheckpointer(thresholdFrames: 50, limitFrames: 150, quietPeriod: .seconds(3600))
        let pool = try Self.pool(at: path, checkpointer)
        let emptySize = try Self.fileSize(path)
        // ~100 pages in one commit: past the threshold, short of the limit.
        try await Self.fill(pool, rows: 0..<100)
        // The pages are in the log only: no checkpoint ran inside the commit (the database
        // file would have grown by them) nor after it.
        #expect(try Self.fileSize(path) == emptySize)
        #expect(checkpointer.completed.load(ordering: .relaxed) == 0)
        // Past the limit: checkpointed at once.
        try await Self.fill(pool, rows: 100..<200)
        try await Self.waitFor { checkpointer.completed.load(ordering: .relaxed) > 0 }
        #expect(checkpointer.completed.load(ordering: .relaxed) == 1)
        #expect(try Self.fileSize(path) > emptySize + 200 * 4000)
        let state = try await Self.logState(pool)
        #expect(state.frames >= 200 && state.copied == state.frames, "\(state)")
        // Everything was copied, so the next write starts the log over.
        try await pool.write { db in try db.execute(sql: "INSERT INTO filler VALUES (1000, x'00')") }
        #expect(try await Self.logState(pool).frames < 10)
        // And the data is in the file: a fresh connection reads it.
        let reader = try DatabaseQueue(path: path)
        let rows = try await reader.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM filler") }
        #expect(rows == 201)
    }

    @Test func theStorageCheckpointsOnceWritingPauses() async throws {
        let path = try Self.temporaryPath()
        let storage = try SQLiteStorage(path: path)
        try await storage.pool.write { db in
            try db.execute(sql: "CREATE TABLE filler (id INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
        }
        let before = try Self.fileSize(path)
        // Past the default threshold (1,000 pages), then a pause: the log is copied.
        try await Self.fill(storage.pool, rows: 0..<1_200)
        try await Self.waitFor { storage.checkpointer.completed.load(ordering: .relaxed) > 0 }
        #expect(storage.checkpointer.completed.load(ordering: .relaxed) == 1)
        #expect(try Self.fileSize(path) > before + 1_200 * 4000)
    }

    /// The erasure and expiry jobs truncate the log so that no old page survives in it; a
    /// passive checkpoint in progress must not make that give up.
    @Test func truncatingEmptiesTheLogEvenRightAfterAPassiveCheckpointStarts() async throws {
        let path = try Self.temporaryPath()
        let checkpointer = WALCheckpointer(thresholdFrames: 20, limitFrames: 40, quietPeriod: .seconds(3600))
        let pool = try Self.pool(at: path, checkpointer)
        // Past the limit: a passive checkpoint is scheduled at once; the truncation follows it.
        try await Self.fill(pool, rows: 0..<100)
        try await checkpointer.truncate()
        #expect(try Self.fileSize(path + "-wal") == 0)
        let rows = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM filler") }
        #expect(rows == 100)
        try await Self.waitFor { checkpointer.completed.load(ordering: .relaxed) > 0 }
        #expect(checkpointer.completed.load(ordering: .relaxed) == 1)
    }
}
