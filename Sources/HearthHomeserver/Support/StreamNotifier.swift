import HearthStorage
import Synchronization

/// Wakes long-polling /sync requests when something they may want has happened.
///
/// Waiters register for a set of rooms and their own user ID; a notification names the rooms
/// (and users) it concerns, so an event in one room does not wake every client on the server.
public final class StreamNotifier: Sendable {
    private struct Waiter {
        let rooms: Set<String>
        let userID: String
        let continuation: CheckedContinuation<Void, Never>
    }
    private struct State {
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
        /// Bumped by every notification; remembered per room and user so a waiter that arrives
        /// just after a notification still sees it.
        var version = 0
        var roomVersions: [String: Int] = [:]
        var userVersions: [String: Int] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// Wakes waiters interested in any of `rooms` or in any of `users`.
    public func notify(rooms: [String], users: [String] = []) {
        let roomSet = Set(rooms)
        let userSet = Set(users)
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.version += 1
            for room in roomSet { state.roomVersions[room] = state.version }
            for user in userSet { state.userVersions[user] = state.version }
            var woken: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters
            where userSet.contains(waiter.userID) || !waiter.rooms.isDisjoint(with: roomSet) {
                woken.append(waiter.continuation)
                state.waiters[id] = nil
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    /// A marker to take before computing a response; `wait(after:)` returns at once if a
    /// matching notification came after it.
    public var version: Int { state.withLock { $0.version } }

    /// Suspends until a matching notification newer than `after`, or until `timeout` passes.
    /// Returns early if the task is cancelled (the client went away).
    public func wait(userID: String, rooms: Set<String>, after: Int, timeout: Duration) async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let cancelled = self.state.withLock { state -> Bool in
                            if Task.isCancelled { return true }
                            if (state.userVersions[userID] ?? 0) > after
                                || rooms.contains(where: { (state.roomVersions[$0] ?? 0) > after }) {
                                return true
                            }
                            state.waiters[id] = Waiter(rooms: rooms, userID: userID, continuation: continuation)
                            return false
                        }
                        if cancelled { continuation.resume() }
                    }
                } onCancel: {
                    self.wake(id)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.wake(id)
            }
            await group.next()
            group.cancelAll()
            self.wake(id)
        }
    }

    private func wake(_ id: Int) {
        let continuation = state.withLock { state in state.waiters.removeValue(forKey: id)?.continuation }
        continuation?.resume()
    }
}
