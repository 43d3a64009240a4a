import HearthFederation
import Testing

@Suite struct DestinationQueueTests {
    let backoff = DestinationQueue.Backoff(minimum: 1_000, multiplier: 2, maximum: 10_000)

    @Test func sendsOneTransactionAtATimeAndDrainsTheQueue() {
        var queue = DestinationQueue(backoff: backoff)
        #expect(queue.handle(.enqueued, now: 0) == [.sendTransaction])
        #expect(queue.state == .sending)
        // More items while sending: no second transaction in flight.
        #expect(queue.handle(.enqueued, now: 1) == [])
        #expect(queue.handle(.transactionSucceeded(morePending: false), now: 2) == [.sendTransaction], "queued meanwhile")
        #expect(queue.handle(.transactionSucceeded(morePending: true), now: 3) == [.sendTransaction], "store has more")
        #expect(queue.handle(.transactionSucceeded(morePending: false), now: 4) == [])
        #expect(queue.state == .idle)
    }

    @Test func failuresBackOffExponentiallyUpToTheMaximum() {
        var queue = DestinationQueue(backoff: backoff)
        _ = queue.handle(.enqueued, now: 0)
        var now: Int64 = 0
        var delays: [Int64] = []
        for _ in 0..<6 {
            let actions = queue.handle(.transactionFailed, now: now)
            guard case .backingOff(let retryAt) = queue.state else { Issue.record("not backing off"); return }
            #expect(actions == [.saveRetryState(failures: queue.failures, retryAt: retryAt), .wakeAt(retryAt)])
            delays.append(retryAt - now)
            // Early timer and new items do not send before the retry time.
            #expect(queue.handle(.timerFired, now: retryAt - 1) == [.wakeAt(retryAt)])
            #expect(queue.handle(.enqueued, now: retryAt - 1) == [])
            now = retryAt
            #expect(queue.handle(.timerFired, now: now) == [.sendTransaction])
        }
        #expect(delays == [1_000, 2_000, 4_000, 8_000, 10_000, 10_000])
        // Success resets the failures (and persists that).
        #expect(queue.handle(.transactionSucceeded(morePending: false), now: now) == [.saveRetryState(failures: 0, retryAt: 0)])
        #expect(queue.failures == 0 && queue.state == .idle)
    }

    @Test func aDestinationComingOnlineIsRetriedAtOnce() {
        var queue = DestinationQueue(backoff: backoff)
        _ = queue.handle(.enqueued, now: 0)
        _ = queue.handle(.transactionFailed, now: 0)
        #expect(queue.handle(.destinationCameOnline, now: 10) == [.sendTransaction])
        #expect(queue.state == .sending)
        // Coming online while idle or sending changes nothing; stale outcomes are ignored.
        #expect(queue.handle(.destinationCameOnline, now: 11) == [])
        var idle = DestinationQueue(backoff: backoff)
        #expect(idle.handle(.destinationCameOnline, now: 0) == [])
        #expect(idle.handle(.transactionFailed, now: 0) == [])
        #expect(idle.state == .idle)
    }

    @Test func restoreAfterRestart() {
        let (due, dueActions) = DestinationQueue.restore(pending: true, failures: 3, retryAt: 500, now: 1_000, backoff: backoff)
        #expect(dueActions == [.sendTransaction] && due.state == .sending && due.failures == 3)
        let (waiting, waitingActions) = DestinationQueue.restore(pending: true, failures: 2, retryAt: 5_000, now: 1_000, backoff: backoff)
        #expect(waitingActions == [.wakeAt(5_000)] && waiting.state == .backingOff(retryAt: 5_000))
        let (empty, emptyActions) = DestinationQueue.restore(pending: false, failures: 0, retryAt: 0, now: 0, backoff: backoff)
        #expect(emptyActions.isEmpty && empty.state == .idle)
    }
}
