import CEd25519
import Crypto
import Synchronization

/// Precomputed tables for the Ed25519 keys that sign most of what this server verifies: a
/// remote server's key signs every event and request it sends, and a big room's state from
/// one server is thousands of its signatures. With a key's table, a verification is additions
/// only (`CEd25519`), two to three times as fast as BoringSSL's general one.
///
/// A table answers exactly as BoringSSL does when it confirms a signature; when it does not,
/// the caller asks BoringSSL. A table is built only for a key BoringSSL has accepted
/// signatures from, `usesBeforeTable` times, so one-off keys never pay for one.
final class Ed25519Tables: Sendable {
    static let shared = Ed25519Tables()

    /// Verifications through BoringSSL before a key gets a table (building one costs about
    /// as much as 25 verifications).
    static let usesBeforeTable = 32
    /// Tables kept (165 KiB each); beyond this an arbitrary one is dropped.
    static let maximumTables = 32
    /// Keys whose uses are counted; the counts are forgotten when there are more.
    static let maximumCountedKeys = 4096

    private final class Table: Sendable {
        nonisolated(unsafe) let pointer: OpaquePointer

        init?(key: [UInt8]) {
            guard key.count == 32, let pointer = key.withUnsafeBufferPointer({ hearth_ed25519_table_new($0.baseAddress) })
            else { return nil }
            self.pointer = pointer
        }

        deinit { hearth_ed25519_table_free(pointer) }
    }

    private struct State {
        var tables: [[UInt8]: Table] = [:]
        var uses: [[UInt8]: Int] = [:]
    }

    private let state = Mutex(State())

    /// True if `key`'s table confirms the signature; false if there is no table or it does not.
    func confirms(_ signature: [UInt8], for message: [UInt8], key: [UInt8]) -> Bool {
        confirmAll([(signature, message, key)])[0]
    }

    /// For each job, whether its key's table confirms the signature (false where the key has
    /// no table). The whole batch shares one field inversion, about a fifth of a verification.
    func confirmAll(_ jobs: [(signature: [UInt8], message: [UInt8], key: [UInt8])]) -> [Bool] {
        if jobs.isEmpty { return [] }
        let tables = state.withLock { state in jobs.map { $0.signature.count == 64 ? state.tables[$0.key] : nil } }
        var signatures: [UInt8] = []
        var digests: [UInt8] = []
        signatures.reserveCapacity(64 * jobs.count)
        digests.reserveCapacity(64 * jobs.count)
        for (index, job) in jobs.enumerated() {
            guard tables[index] != nil else {
                signatures += [UInt8](repeating: 0, count: 64)
                digests += [UInt8](repeating: 0, count: 64)
                continue
            }
            signatures += job.signature
            var hash = SHA512()
            hash.update(data: job.signature[0..<32])
            hash.update(data: job.key)
            hash.update(data: job.message)
            digests += Array(hash.finalize())
        }
        var results = [UInt8](repeating: 0, count: jobs.count)
        // `tables` keeps every table alive until the call returns.
        let pointers: [OpaquePointer?] = tables.map { $0?.pointer }
        pointers.withUnsafeBufferPointer { pointers in
            hearth_ed25519_verify_batch(pointers.baseAddress, signatures, digests, jobs.count, &results)
        }
        return withExtendedLifetime(tables) { results.map { $0 == 1 } }
    }

    /// Counts a signature BoringSSL accepted for `key`, building the key's table at the
    /// `usesBeforeTable`-th.
    func noteVerified(key: [UInt8]) {
        let shouldBuild = state.withLock { state -> Bool in
            guard state.tables[key] == nil else { return false }
            if state.uses[key] == nil, state.uses.count >= Self.maximumCountedKeys { state.uses.removeAll() }
            let uses = (state.uses[key] ?? 0) + 1
            state.uses[key] = uses
            // Exactly at the threshold, so that one caller builds it.
            return uses == Self.usesBeforeTable
        }
        guard shouldBuild, let table = Table(key: key) else { return }
        state.withLock { state in
            state.uses[key] = nil
            if state.tables.count >= Self.maximumTables, let victim = state.tables.keys.first { state.tables[victim] = nil }
            state.tables[key] = table
        }
    }

    /// Whether `key` has a table (for tests).
    func hasTable(for key: [UInt8]) -> Bool { state.withLock { $0.tables[key] != nil } }
}
