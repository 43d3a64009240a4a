public import HearthCore
import Synchronization
import Foundation

/// A token bucket per key: `burst` actions at once, refilled at `perSecond`. Exceeding it is
/// M_LIMIT_EXCEEDED with the wait in `retry_after_ms`.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }
    private let buckets = Mutex<[String: Bucket]>([:])
    public let perSecond: Double
    public let burst: Double

    public init(perSecond: Double = 10, burst: Double = 50) {
        self.perSecond = perSecond
        self.burst = burst
    }

    public func check(key: String) throws(MatrixError) {
        guard perSecond > 0 else { return }
        let now = Date().timeIntervalSince1970
        let wait = buckets.withLock { buckets -> Double? in
            if buckets.count > 100_000 { buckets.removeAll() }
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * perSecond)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / perSecond
        }
        if let wait {
            throw MatrixError(.limitExceeded, status: 429, "Too many requests",
                              extra: ["retry_after_ms": .int(Int64((wait * 1000).rounded(.up)))])
        }
    }
}
