import Foundation
import HearthCore

/// Monotonic nanoseconds, shared by every task in the process: senders stamp it into message
/// bodies and receivers subtract it on arrival, so delivery latency needs no clock sync.
func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Nearest-rank percentile of an unsorted sample, in the sample's unit; nil when empty.
func percentile(_ values: [Double], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

/// A process's memory from /proc/PID/status (Linux): resident set now and its high-water mark.
struct ProcessMemory: Sendable {
    var rssKiB: Int
    var peakKiB: Int

    static func read(pid: Int32) -> ProcessMemory? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
                return Int(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
            }
            return nil
        }
        guard let rss = field("VmRSS") else { return nil }
        return ProcessMemory(rssKiB: rss, peakKiB: field("VmHWM") ?? rss)
    }
}

/// What one receiving user saw: delivery latency of every load message sent by someone else
/// within the measured window, and which messages arrived.
struct ReceiverTally: Sendable {
    var latenciesMs: [Double] = []
    var delivered: Set<String> = []
    var limitedSyncs = 0
    var syncErrors = 0
}

/// What one sending user did in the measured window.
struct SenderTally: Sendable {
    var acknowledged = 0
    var errors = 0
    var sendLatenciesMs: [Double] = []
    var firstError: String?
}

/// The result of a run, printed and written as JSON for Scripts/compare-synapse.sh.
struct LoadReport {
    var label: String
    var users: Int
    var rooms: Int
    var senders: Int
    var seconds: Double
    var offeredRate: Double
    var acknowledged: Int
    var sendErrors: Int
    var delivered: Int
    var limitedSyncs: Int
    var syncErrors: Int
    var sendLatenciesMs: [Double]
    var deliveryLatenciesMs: [Double]
    var memoryBefore: ProcessMemory?
    var memoryPeak: Int?
    var memoryAfter: ProcessMemory?
    var setupSeconds: Double

    var eventsPerSecond: Double { seconds > 0 ? Double(acknowledged) / seconds : 0 }

    var json: JSONValue {
        func number(_ value: Double?) -> JSONValue {
            guard let value else { return .null }
            return .float((value * 100).rounded() / 100)
        }
        func int(_ value: Int?) -> JSONValue { value.map { JSONValue($0) } ?? .null }
        return [
            "label": .string(label), "users": JSONValue(users), "rooms": JSONValue(rooms), "senders": JSONValue(senders),
            "seconds": number(seconds), "offered_rate": number(offeredRate), "setup_seconds": number(setupSeconds),
            "acknowledged": JSONValue(acknowledged), "send_errors": JSONValue(sendErrors),
            "events_per_second": number(eventsPerSecond),
            "delivered": JSONValue(delivered), "limited_syncs": JSONValue(limitedSyncs), "sync_errors": JSONValue(syncErrors),
            "send_ms_p50": number(percentile(sendLatenciesMs, 50)), "send_ms_p99": number(percentile(sendLatenciesMs, 99)),
            "delivery_samples": JSONValue(deliveryLatenciesMs.count),
            "delivery_ms_p50": number(percentile(deliveryLatenciesMs, 50)),
            "delivery_ms_p99": number(percentile(deliveryLatenciesMs, 99)),
            "delivery_ms_max": number(deliveryLatenciesMs.max()),
            "rss_kib_before": int(memoryBefore?.rssKiB), "rss_kib_peak": int(memoryPeak),
            "rss_kib_after": int(memoryAfter?.rssKiB),
        ]
    }

    var text: String {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.1f ms", $0) } ?? "n/a" }
        func mib(_ kib: Int?) -> String { kib.map { String(format: "%.1f MiB", Double($0) / 1024) } ?? "n/a" }
        return """
        hearth-load \(label): \(users) users in \(rooms) rooms, \(senders) sending for \(String(format: "%.1f", seconds)) s\
        \(offeredRate > 0 ? String(format: " at %.0f msg/s offered", offeredRate) : " (closed loop, as fast as acknowledged)")
          setup (register, create, join):   \(String(format: "%.1f s", setupSeconds))
          events persisted (200 + event_id): \(acknowledged) = \(String(format: "%.1f", eventsPerSecond)) events/s\
        \(sendErrors > 0 ? " (\(sendErrors) send errors)" : "")
          send round trip:                   p50 \(ms(percentile(sendLatenciesMs, 50)))  p99 \(ms(percentile(sendLatenciesMs, 99)))
          send-to-sync delivery:             p50 \(ms(percentile(deliveryLatenciesMs, 50)))  p99 \
        \(ms(percentile(deliveryLatenciesMs, 99)))  max \(ms(deliveryLatenciesMs.max()))  (\(deliveryLatenciesMs.count) deliveries)
          messages seen by a receiver:       \(delivered) of \(acknowledged)\
        \(limitedSyncs > 0 ? " (\(limitedSyncs) limited syncs)" : "")\(syncErrors > 0 ? " (\(syncErrors) sync errors)" : "")
          server RSS:                        before \(mib(memoryBefore?.rssKiB))  peak \(mib(memoryPeak))  after \(mib(memoryAfter?.rssKiB))
        """
    }
}
