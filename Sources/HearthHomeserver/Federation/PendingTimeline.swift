public import HearthCore
import HearthStorage
import Logging
import Synchronization

/// The events of one inbound transaction that are accepted in memory and written together.
///
/// Written one by one, each event was its own SQLite transaction, and each commit wrote every
/// page it touched (the events table and its indexes, the edges, the room's row: about a dozen
/// pages for a 1 KB event); that was the largest cost of receiving a transaction. Inside a
/// scope, an event that changes no state (a message, or any rejected event) is checked as
/// usual, takes its place in the room's head in memory, and is written with the others: at the
/// end of the transaction, before its response, or before the first event that must be written
/// at once (a state change, a redaction, a fork to resolve, a gap to fill), in the same
/// SQLite transaction as that event.
///
/// While events are pending the scope holds their room's lock, so nothing else builds on the
/// room's head (a local send waits, for the rest of the transaction at most). It holds one
/// room at a time, written and released before another is taken, so two scopes can never wait
/// for each other. The response is sent only after everything is written: an acknowledged PDU
/// is on disk as before.
final class PendingTimeline: Sendable {
    @TaskLocal static var current: PendingTimeline?

    private struct State {
        var room: RoomID?
        var events: [EventToPersist] = []
        /// The snapshot after each pending event (the one before it: it changes no state).
        var groupsAfter: [EventID: StateGroupID?] = [:]
        var rooms: Set<RoomID> = []
        var failure: (any Error)?
    }

    private let state = Mutex(State())

    /// The room whose lock the scope holds.
    var heldRoom: RoomID? { state.withLock { $0.room } }

    func holds(_ room: RoomID) { state.withLock { $0.room = room } }

    func contains(_ id: EventID) -> Bool { state.withLock { $0.groupsAfter[id] != nil } }

    /// The snapshots after those of `ids` that are pending.
    func groupsAfter(_ ids: [EventID]) -> [EventID: StateGroupID?] {
        state.withLock { state in
            var found: [EventID: StateGroupID?] = [:]
            for id in ids { if let group = state.groupsAfter[id] { found[id] = group } }
            return found
        }
    }

    func add(_ event: EventToPersist) {
        state.withLock { state in
            state.events.append(event)
            state.groupsAfter[event.pdu.eventID] = .some(event.stateGroupBefore)
        }
    }

    /// The pending events, in order; they are no longer pending.
    func take() -> [EventToPersist] {
        state.withLock { state in
            defer {
                state.events = []
                state.groupsAfter = [:]
            }
            return state.events
        }
    }

    /// Forgets the held room (its lock is released by the caller).
    func releaseRoom() -> RoomID? {
        state.withLock { state in
            defer { state.room = nil }
            return state.room
        }
    }

    /// A write of pending events failed: the transaction must fail as a whole.
    func fail(_ error: any Error) { state.withLock { if $0.failure == nil { $0.failure = error } } }
    var failure: (any Error)? { state.withLock { $0.failure } }
}

extension RoomFederation {
    /// Runs `body` (a transaction's PDUs) with events written together; returns after they
    /// are all written and the room released. Throws if any write failed: the sender retries.
    func withPendingTimeline<T: Sendable>(_ body: () async -> T) async throws -> T {
        let scope = PendingTimeline()
        let result = await PendingTimeline.$current.withValue(scope) { await body() }
        await releaseRoom(of: scope)
        if let failure = scope.failure { throw failure }
        return result
    }

    /// Writes the scope's pending events in one transaction.
    func writePending(_ scope: PendingTimeline) async throws {
        _ = try await writeBatch(scope, then: [])
    }

    /// Writes `event`; inside a scope, in one transaction after the events pending there.
    func write(_ event: EventToPersist, afterPendingIn scope: PendingTimeline?) async throws -> PersistedEvent {
        let written = if let scope { try await writeBatch(scope, then: [event]) } else { try await store.persist(batch: [event]) }
        return written[written.count - 1]
    }

    /// The scope's pending events and then `events`, in one transaction. If the pending ones
    /// cannot be written, the room's head and the cached events are dropped from memory (they
    /// are read again from the database) and the scope fails.
    private func writeBatch(_ scope: PendingTimeline, then events: [EventToPersist]) async throws -> [PersistedEvent] {
        let pending = scope.take()
        if pending.isEmpty { return events.isEmpty ? [] : try await store.persist(batch: events) }
        do {
            let written = try await store.persist(batch: pending + events)
            notifier.notify(rooms: Array(Set(pending.map(\.pdu.roomID.rawValue))), users: [])
            return Array(written.dropFirst(pending.count))
        } catch {
            for room in Set(pending.map(\.pdu.roomID)) { rooms.heads.withLock { $0[room] = nil } }
            rooms.eventCache.remove(pending.map(\.pdu.eventID))
            logger.error("could not write a transaction's events", metadata: ["error": "\(error)", "events": "\(pending.count)"])
            scope.fail(error)
            throw error
        }
    }

    /// Writes what is pending and releases the held room's lock.
    func releaseRoom(of scope: PendingTimeline) async {
        _ = try? await writePending(scope)
        if let room = scope.releaseRoom() { rooms.locks.release(room) }
    }
}
