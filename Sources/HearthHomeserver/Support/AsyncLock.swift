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

    private func acquire() async {
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

    private func release() {
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
        let lock = locks.withLock { locks in
            if let lock = locks[key] { return lock }
            let lock = AsyncLock()
            locks[key] = lock
            return lock
        }
        return try await lock.withLock(body)
    }
}
