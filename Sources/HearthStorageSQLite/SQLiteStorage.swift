public import HearthStorage
import Foundation
import GRDB

/// The embedded backend: one SQLite file in WAL mode, opened through GRDB's pool (one writer,
/// several concurrent readers). The schema is versioned by migrations that run at open.
public final class SQLiteStorage: Storage, @unchecked Sendable {
    public enum Synchronous: String, Sendable {
        /// fsync at every commit: an acknowledged write survives power loss (the default).
        case full
        /// fsync at checkpoints only: survives a process crash or kill, not a power cut.
        case normal
    }

    let pool: DatabasePool
    let quick: QuickReader
    let checkpointer = WALCheckpointer()
    public let accounts: any AccountStore
    public let rooms: any RoomStore
    public let userData: any UserDataStore
    public let media: any MediaStore
    public let federationInbox: any FederationInboxStore
    public let keys: any KeyStore
    /// Server keys, the outbound federation queue and the egress audit log.
    public let federation: any FederationStore
    public let privacy: any PrivacyStore

    public init(path: String, synchronous: Synchronous = .full) throws {
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(10)
        let checkpointer = checkpointer
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous == .full ? "FULL" : "NORMAL")")
            // Deleted and overwritten content (redactions, expired messages, erased accounts)
            // is zeroed on disk, not left in free pages.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // Up to 16 MiB of pages per connection (SQLite's default is 2 MiB), allocated as
            // used: with the default, writing an event re-read index pages from the file.
            try db.execute(sql: "PRAGMA cache_size = -16384")
            // Checkpoints run beside the writer, not inside its commits.
            checkpointer.install(on: db)
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteSchema.migrator.migrate(pool)
            quick = try QuickReader(path: path)
            try checkpointer.attach(path: path)
        } catch {
            throw StorageError.backend("cannot open SQLite database at \(path): \(error)")
        }
        accounts = SQLiteAccountStore(pool: pool, quick: quick)
        rooms = SQLiteRoomStore(pool: pool, quick: quick)
        userData = SQLiteUserDataStore(pool: pool)
        media = SQLiteMediaStore(pool: pool)
        federationInbox = SQLiteFederationInboxStore(pool: pool, quick: quick)
        keys = SQLiteKeyStore(pool: pool)
        federation = SQLiteFederationStore(pool: pool)
        privacy = SQLitePrivacyStore(pool: pool, checkpointer: checkpointer)
    }

    /// Applied migrations, oldest first (for diagnostics and tests).
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try SQLiteSchema.migrator.appliedMigrations(db) }
    }
}

/// Runs a GRDB operation and turns its failures into `StorageError`.
func storageCall<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StorageError {
        throw error
    } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
        throw StorageError.conflict(error.message ?? "constraint violated")
    } catch {
        throw StorageError.backend("\(error)")
    }
}

/// The connection for short lookups: its own read-only connection to the database file, so that a
/// short lookup made on every request and every incoming event runs on the calling thread.
/// GRDB's async `read` moves to a reader queue and back, two thread switches that cost more than
/// the lookup itself. The pool's readers cannot be borrowed synchronously instead: a caller
/// blocked waiting for one holds a Swift concurrency thread that the async reads holding the
/// readers need in order to finish (with few cores, a deadlock). This connection is used only
/// synchronously and never across an `await`, so waiting for it is waiting for one short read.
final class QuickReader: Sendable {
    private let queue: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        queue = try DatabaseQueue(path: path, configuration: configuration)
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.read(body)
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError.backend("\(error)")
        }
    }
}

/// Takes the next position in the server-wide stream. Must run inside a write transaction, so
/// positions commit in the order they are taken.
func nextStreamPosition(_ db: Database) throws -> Int64 {
    try nextStreamPositions(db, count: 1)
}

/// The first of `count` consecutive new stream positions.
func nextStreamPositions(_ db: Database, count: Int) throws -> Int64 {
    guard let last = try Int64.fetchOne(
        db.cachedStatement(sql: "UPDATE stream_counter SET position = position + ? WHERE id = 1 RETURNING position"),
        arguments: [count])
    else { throw StorageError.backend("stream counter missing") }
    return last - Int64(count) + 1
}

extension Data {
    init(_ bytes: [UInt8]) { self = Data(bytes: bytes, count: bytes.count) }
}
