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
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(25)) }
    }

    @Test func aCheckpointWaitsForWritingToPauseAndThenCopiesTheWholeLog() async throws {
        let path = try Self.temporaryPath()
        let checkpointer = WALCheckpointer(thresholdFrames: 50, limitFrames: 1_000_000, quietPeriod: .seconds(1))
        let pool = try Self.pool(at: path, checkpointer)
        // ~100 pages in one commit: past the threshold.
        try await pool.write { db in
            for id in 0..<100 { try db.execute(sql: "INSERT INTO filler VALUES (?, zeroblob(4000))", arguments: [id]) }
        }
        // Not inside the commit, and not before the pause.
        #expect(checkpointer.completed.load(ordering: .relaxed) == 0)
        try await Self.waitFor { checkpointer.completed.load(ordering: .relaxed) > 0 }
        #expect(checkpointer.completed.load(ordering: .relaxed) == 1)
        let state = try await Self.logState(pool)
        #expect(state.frames >= 100 && state.copied == state.frames, "\(state)")
        // Everything was copied, so the next write starts the log over.
        try await pool.write { db in try db.execute(sql: "INSERT INTO filler VALUES (1000, x'00')") }
        #expect(try await Self.logState(pool).frames < 10)
        // And the data is in the file: a fresh connection reads it.
        let reader = try DatabaseQueue(path: path)
        let rows = try await reader.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM filler") }
        #expect(rows == 101)
    }

    @Test func steadyWritingIsCheckpointedOnceTheLogReachesItsLimit() async throws {
        let path = try Self.temporaryPath()
        // The pause would never come: commits follow each other within the quiet period.
        let checkpointer = WALCheckpointer(thresholdFrames: 20, limitFrames: 200, quietPeriod: .seconds(3600))
        let pool = try Self.pool(at: path, checkpointer)
        var id = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while checkpointer.completed.load(ordering: .relaxed) == 0, ContinuousClock.now < deadline {
            let first = id
            try await pool.write { db in
                for row in first..<(first + 10) {
                    try db.execute(sql: "INSERT INTO filler VALUES (?, zeroblob(4000))", arguments: [row])
                }
            }
            id += 10
        }
        #expect(checkpointer.completed.load(ordering: .relaxed) > 0)
        // Checked close to the limit, not after thousands of pages.
        #expect(id < 1_000, "\(id) rows written before a checkpoint")
    }

    @Test func theStorageHasItsLogCheckpointedBesideTheWriter() async throws {
        let path = try Self.temporaryPath()
        let storage = try SQLiteStorage(path: path)
        try await storage.pool.write { db in
            try db.execute(sql: "CREATE TABLE filler (id INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
            for id in 0..<1_200 { try db.execute(sql: "INSERT INTO filler VALUES (?, zeroblob(4000))", arguments: [id]) }
        }
        // Past the default threshold (1,000 pages): checkpointed after the pause.
        try await Self.waitFor { storage.checkpointer.completed.load(ordering: .relaxed) > 0 }
        #expect(storage.checkpointer.completed.load(ordering: .relaxed) == 1)
    }
}
