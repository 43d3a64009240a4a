import Synchronization

/// A FIFO mutual-exclusion lock for async code. Actors are re-entrant across `await`, which is
/// wrong for "build the next event of a room": its prev_events, depth and auth events must not
/// change while it is being built and persisted.
final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func withLock<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if !state.locked {
                    state.locked = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// One lock per key, created on demand.
final class KeyedLocks<Key: Hashable & Sendable>: Sendable {
    private let locks = Mutex<[Key: AsyncLock]>([:])

    func withLock<T: Sendable>(_ key: Key, _ body: () async throws -> T) async rethrows -> T {
        try await lock(for: key).withLock(body)
    }

    /// Takes the key's lock beyond one closure; every `acquire` needs its `release`.
    func acquire(_ key: Key) async { await lock(for: key).acquire() }
    func release(_ key: Key) { lock(for: key).release() }

    private func lock(for key: Key) -> AsyncLock {
        locks.withLock { locks in
            if let lock = locks[key] { return lock }
            let lock = AsyncLock()
            locks[key] = lock
            return lock
        }
    }
}
