import ArgumentParser
import Foundation
import HearthCore

/// `hearth-load`: drives any homeserver through the client-server API and reports persisted
/// events/s, send-to-sync delivery latency (p50/p99) and the server's memory.
@main
struct HearthLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hearth-load",
        abstract: "Load a Matrix homeserver through the client API: N users in M rooms sending while syncing.",
        discussion: """
        Users are registered with m.login.dummy (open registration) or, with --shared-secret, through
        /_synapse/admin/v1/register. User i joins room i % M; the first --senders users send into their
        room while every user long-polls /sync. Only plain http:// on a loopback or LAN address.
        """)

    @Option(help: "Base URL of the homeserver's client API.")
    var url: String = "http://127.0.0.1:8008"

    @Option(help: "Number of users (N).")
    var users: Int = 20

    @Option(help: "Number of rooms (M); user i is in room i % M.")
    var rooms: Int = 4

    @Option(help: "How many of the users send (default: all).")
    var senders: Int?

    @Option(help: "Measured seconds of sending.")
    var seconds: Double = 20

    @Option(help: "Seconds of sending before the measurement starts.")
    var warmup: Double = 2

    @Option(help: "Total messages per second offered across senders; 0 = each sender sends as fast as it is acknowledged.")
    var rate: Double = 0

    @Option(help: "Registration shared secret; without it, open registration with m.login.dummy.")
    var sharedSecret: String?

    @Option(help: "PID of the server process, to report its resident memory (/proc/PID/status).")
    var pid: Int32?

    @Option(help: "A label for the report (e.g. the server's name).")
    var label: String = "server"

    @Option(help: "Concurrent requests during setup (registration, room creation, joins).")
    var setupConcurrency: Int = 8

    @Option(help: "Seconds to wait after sending stops for the last deliveries.")
    var drain: Double = 15

    @Option(help: "Also write the report as JSON to this file.")
    var json: String?

    func validate() throws {
        guard users >= 2, rooms >= 1, users >= rooms else { throw ValidationError("need users >= 2, rooms >= 1, users >= rooms") }
        guard (senders ?? users) >= 1, (senders ?? users) <= users else { throw ValidationError("senders must be 1...users") }
        guard seconds > 0, warmup >= 0, rate >= 0 else { throw ValidationError("seconds > 0, warmup >= 0, rate >= 0") }
        _ = try endpoint()
    }

    func endpoint() throws -> (host: String, port: Int) {
        guard let components = URLComponents(string: url), components.scheme == "http", let host = components.host else {
            throw ValidationError("--url must be http://HOST[:PORT]")
        }
        return (host, components.port ?? 80)
    }

    func run() async throws {
        let (host, port) = try endpoint()
        let options = LoadOptions(
            host: host, port: port, users: users, rooms: rooms, senders: senders ?? users, seconds: seconds, warmup: warmup,
            rate: rate, registration: sharedSecret.map { .sharedSecret($0) } ?? .dummy, pid: pid, label: label,
            setupConcurrency: setupConcurrency, drainSeconds: drain)
        let report = try await LoadRun(options: options).run()
        print(report.text)
        if let json {
            guard FileManager.default.createFile(atPath: json, contents: Data(report.json.encoded())) else {
                throw ValidationError("cannot write \(json)")
            }
        }
    }
}
