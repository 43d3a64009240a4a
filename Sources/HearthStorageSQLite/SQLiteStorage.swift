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
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous == .full ? "FULL" : "NORMAL")")
            // Deleted and overwritten content (redactions, expired messages, erased accounts)
            // is zeroed on disk, not left in free pages.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteSchema.migrator.migrate(pool)
        } catch {
            throw StorageError.backend("cannot open SQLite database at \(path): \(error)")
        }
        accounts = SQLiteAccountStore(pool: pool)
        rooms = SQLiteRoomStore(pool: pool)
        userData = SQLiteUserDataStore(pool: pool)
        media = SQLiteMediaStore(pool: pool)
        federationInbox = SQLiteFederationInboxStore(pool: pool)
        keys = SQLiteKeyStore(pool: pool)
        federation = SQLiteFederationStore(pool: pool)
        privacy = SQLitePrivacyStore(pool: pool)
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

/// A short read by primary key, run on the calling thread. GRDB's async `read` moves to a reader
/// queue and back: two thread switches, which cost more than the read itself for the lookups
/// made on every incoming event. Reads in WAL mode never wait for the writer, so the caller
/// blocks only for the read.
func quickRead<T>(_ pool: DatabasePool, _ body: (Database) throws -> T) throws -> T {
    do {
        return try pool.read(body)
    } catch let error as StorageError {
        throw error
    } catch {
        throw StorageError.backend("\(error)")
    }
}

/// Takes the next position in the server-wide stream. Must run inside a write transaction, so
/// positions commit in the order they are taken.
func nextStreamPosition(_ db: Database) throws -> Int64 {
    guard let position = try Int64.fetchOne(db, sql: "UPDATE stream_counter SET position = position + 1 WHERE id = 1 RETURNING position")
    else { throw StorageError.backend("stream counter missing") }
    return position
}

extension Data {
    init(_ bytes: [UInt8]) { self = Data(bytes: bytes, count: bytes.count) }
}
