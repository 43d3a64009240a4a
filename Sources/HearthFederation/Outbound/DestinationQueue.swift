/// The sending logic for one destination, as a pure state machine: events in, actions out,
/// time passed in. `FederationSender` runs it against the store and the network; tests run it
/// alone.
///
/// One transaction is in flight at a time (the spec asks senders not to have more than one
/// outstanding transaction per destination). A failure backs off exponentially; a success
/// resets the backoff and sends what has queued meanwhile, so a destination that was down is
/// caught up batch by batch, in order.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#transactions
public struct DestinationQueue: Sendable, Equatable {
    public struct Backoff: Sendable, Equatable {
        /// The wait after the first failure (ms).
        public var minimum: Int64
        /// Each further failure multiplies the wait by this.
        public var multiplier: Int64
        /// The wait never exceeds this (ms).
        public var maximum: Int64

        public init(minimum: Int64 = 10_000, multiplier: Int64 = 2, maximum: Int64 = 24 * 3_600_000) {
            self.minimum = minimum
            self.multiplier = max(1, multiplier)
            self.maximum = maximum
        }

        /// The wait after `failures` consecutive failures (≥ 1).
        public func delay(afterFailures failures: Int) -> Int64 {
            var delay = minimum
            for _ in 1..<max(1, failures) {
                if delay >= maximum / multiplier { return maximum }
                delay *= multiplier
            }
            return min(delay, maximum)
        }
    }

    public enum State: Sendable, Equatable {
        /// Nothing to send, or waiting for something to be queued.
        case idle
        /// A transaction is on its way; the next one waits for its outcome.
        case sending
        /// The last attempt failed; the next is due at `retryAt` (ms).
        case backingOff(retryAt: Int64)
    }

    public enum Event: Sendable, Equatable {
        /// Items were queued for the destination.
        case enqueued
        /// The destination acknowledged the transaction; `morePending` tells whether items
        /// remain queued.
        case transactionSucceeded(morePending: Bool)
        /// The transaction failed (network, TLS, timeout, non-2xx).
        case transactionFailed
        /// A timer set by `wakeAt` fired.
        case timerFired
        /// The destination showed it is up (it sent us an authenticated request).
        case destinationCameOnline
    }

    public enum Action: Sendable, Equatable {
        /// Send the open transaction, or build one from the queue and send it.
        case sendTransaction
        /// Call back with `.timerFired` at this time (ms).
        case wakeAt(Int64)
        /// Persist the retry state (failures, and when to try next; 0 when not backing off).
        case saveRetryState(failures: Int, retryAt: Int64)
    }

    public private(set) var state: State
    public private(set) var failures: Int
    /// Items are queued that no transaction has carried yet.
    public private(set) var hasPending: Bool
    public let backoff: Backoff

    /// A queue with nothing known; call `restore` for one read back from the store.
    public init(backoff: Backoff = Backoff()) {
        state = .idle
        failures = 0
        hasPending = false
        self.backoff = backoff
    }

    /// The queue after a restart: `pending` if the store holds items (or an open transaction)
    /// for the destination, with the persisted failures and retry time.
    public static func restore(pending: Bool, failures: Int, retryAt: Int64, now: Int64,
                               backoff: Backoff = Backoff()) -> (DestinationQueue, [Action]) {
        var queue = DestinationQueue(backoff: backoff)
        queue.failures = failures
        queue.hasPending = pending
        guard pending else { return (queue, []) }
        if retryAt > now {
            queue.state = .backingOff(retryAt: retryAt)
            return (queue, [.wakeAt(retryAt)])
        }
        queue.state = .sending
        queue.hasPending = false
        return (queue, [.sendTransaction])
    }

    public mutating func handle(_ event: Event, now: Int64) -> [Action] {
        switch (event, state) {
        case (.enqueued, .idle):
            state = .sending
            return [.sendTransaction]
        case (.enqueued, _):
            hasPending = true
            return []

        case (.transactionSucceeded(let more), .sending):
            let hadFailures = failures > 0
            failures = 0
            var actions: [Action] = hadFailures ? [.saveRetryState(failures: 0, retryAt: 0)] : []
            if more || hasPending {
                hasPending = false
                actions.append(.sendTransaction)
            } else {
                state = .idle
            }
            return actions
        case (.transactionFailed, .sending):
            failures += 1
            let retryAt = now + backoff.delay(afterFailures: failures)
            state = .backingOff(retryAt: retryAt)
            return [.saveRetryState(failures: failures, retryAt: retryAt), .wakeAt(retryAt)]

        case (.timerFired, .backingOff(let retryAt)):
            guard now >= retryAt else { return [.wakeAt(retryAt)] }
            state = .sending
            hasPending = false
            return [.sendTransaction]
        case (.destinationCameOnline, .backingOff):
            state = .sending
            hasPending = false
            return [.sendTransaction]

        // Outcomes or timers that do not belong to the current state are stale: ignore.
        case (.transactionSucceeded, _), (.transactionFailed, _), (.timerFired, _), (.destinationCameOnline, _):
            return []
        }
    }
}
