import Foundation
import HearthCore
import NIOCore
import NIOPosix
import Synchronization

/// How to obtain accounts on the server under test.
enum Registration: Sendable {
    /// POST /register with m.login.dummy (open registration).
    case dummy
    /// Synapse-compatible shared-secret registration.
    case sharedSecret(String)
}

struct LoadOptions: Sendable {
    var host: String
    var port: Int
    var users: Int
    var rooms: Int
    var senders: Int
    var seconds: Double
    var warmup: Double
    /// Total messages per second offered across all senders; 0 sends as fast as acknowledged.
    var rate: Double
    var registration: Registration
    var pid: Int32?
    var label: String
    var setupConcurrency: Int
    var drainSeconds: Double
}

/// One load run: register N users, create M rooms, join each user to room `i % M`, then let
/// the first `senders` users send while every user long-polls /sync.
///
/// Persisted throughput is what the server acknowledged (200 with an event_id; a server that
/// tells a client "sent" must have stored it). Delivery latency is measured per receiving
/// member: the sender stamps a monotonic time into a unique body, the receiver's /sync loop
/// subtracts it on arrival.
struct LoadRun {
    let options: LoadOptions
    let group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)

    func connect() async throws -> HTTPConnection {
        try await HTTPConnection.connect(host: options.host, port: options.port, group: group)
    }

    func run() async throws -> LoadReport {
        let setupStart = monotonicNanos()
        let users = try await register()
        let roomIDs = try await createRooms(users)
        try await joinRooms(users, roomIDs)
        let setupSeconds = Double(monotonicNanos() - setupStart) / 1e9
        log("setup done in \(String(format: "%.1f", setupSeconds)) s: \(users.count) users, \(roomIDs.count) rooms")

        // Each user's initial sync, on the connection its /sync loop keeps using.
        let initial = try await inParallel(users.count) { index, _ in
            let connection = try await connect()
            let reply = try await MatrixCalls.sync(connection, users[index], since: nil, timeoutMs: 0)
            guard let token = reply["next_batch"]?.stringValue else { throw MatrixCallError(description: "sync without next_batch") }
            return (connection, token)
        }
        let syncConnections = initial.map(\.0), sinceTokens = initial.map(\.1)
        var connections: [HTTPConnection] = []
        for _ in 0..<options.senders { connections.append(try await connect()) }
        let sendConnections = connections
        let before = options.pid.flatMap(ProcessMemory.read)

        let stop = Flag()
        let delivered = Counter()
        let loadStart = monotonicNanos()
        let windowStart = loadStart + UInt64(options.warmup * 1e9)
        let windowEnd = windowStart + UInt64(options.seconds * 1e9)
        let membersPerRoom = (0..<options.rooms).map { room in (0..<users.count).filter { $0 % options.rooms == room }.count }

        let (receivers, senders, peak) = try await withThrowingTaskGroup(of: Outcome.self) { group in
            for index in users.indices {
                group.addTask {
                    .receiver(await receive(index: index, user: users[index], connection: syncConnections[index],
                                            since: sinceTokens[index], window: windowStart..<windowEnd, stop: stop,
                                            delivered: delivered))
                }
            }
            let memorySampler = Task { await sampleMemory(stop: stop) }
            var senderTasks: [Task<SenderTally, Never>] = []
            for index in 0..<options.senders {
                senderTasks.append(Task {
                    await send(index: index, user: users[index], roomID: roomIDs[index % options.rooms],
                               connection: sendConnections[index], loadStart: loadStart, window: windowStart..<windowEnd)
                })
            }
            var senders: [SenderTally] = []
            for task in senderTasks { senders.append(await task.value) }
            // Wait for the syncing members to receive what was acknowledged in the window.
            let expected = senders.indices.reduce(0) { $0 + senders[$1].acknowledged * (membersPerRoom[$1 % options.rooms] - 1) }
            let drainDeadline = monotonicNanos() + UInt64(options.drainSeconds * 1e9)
            while delivered.value < expected, monotonicNanos() < drainDeadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            stop.set()
            for connection in syncConnections { await connection.close() }
            var receivers: [ReceiverTally] = []
            for try await outcome in group {
                if case .receiver(let tally) = outcome { receivers.append(tally) }
            }
            return (receivers, senders, await memorySampler.value)
        }
        for connection in sendConnections { await connection.close() }
        if let error = senders.compactMap(\.firstError).first { log("first send error: \(error)") }
        return LoadReport(
            label: options.label, users: users.count, rooms: roomIDs.count, senders: options.senders, seconds: options.seconds,
            offeredRate: options.rate, acknowledged: senders.reduce(0) { $0 + $1.acknowledged },
            sendErrors: senders.reduce(0) { $0 + $1.errors },
            delivered: receivers.reduce(into: Set<String>()) { $0.formUnion($1.delivered) }.count,
            limitedSyncs: receivers.reduce(0) { $0 + $1.limitedSyncs }, syncErrors: receivers.reduce(0) { $0 + $1.syncErrors },
            sendLatenciesMs: senders.flatMap(\.sendLatenciesMs), deliveryLatenciesMs: receivers.flatMap(\.latenciesMs),
            memoryBefore: before, memoryPeak: peak, memoryAfter: options.pid.flatMap(ProcessMemory.read),
            setupSeconds: setupSeconds)
    }

    enum Outcome: Sendable { case receiver(ReceiverTally) }

    // MARK: setup

    private func register() async throws -> [LoadUser] {
        try await inParallel(options.users) { index, connection in
            let localpart = "load\(runID)_\(index)"
            switch options.registration {
            case .dummy:
                return try await MatrixCalls.registerDummy(connection, localpart: localpart, password: "pw-\(localpart)")
            case .sharedSecret(let secret):
                return try await MatrixCalls.registerSharedSecret(connection, secret: secret, localpart: localpart,
                                                                  password: "pw-\(localpart)")
            }
        }
    }

    private func createRooms(_ users: [LoadUser]) async throws -> [String] {
        try await inParallel(options.rooms) { room, connection in
            try await MatrixCalls.createRoom(connection, users[room % users.count], name: "hearth-load \(runID) #\(room)")
        }
    }

    private func joinRooms(_ users: [LoadUser], _ roomIDs: [String]) async throws {
        _ = try await inParallel(users.count) { index, connection in
            if index >= roomIDs.count {  // user i < M created room i and is already in it
                try await MatrixCalls.join(connection, users[index], roomID: roomIDs[index % roomIDs.count])
            }
            return index
        }
    }

    /// Runs `body` for 0..<count with `setupConcurrency` workers, each on its own connection.
    private func inParallel<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int, HTTPConnection) async throws -> T)
        async throws -> [T] {
        let next = Counter()
        let workers = max(1, min(options.setupConcurrency, count))
        var results = [T?](repeating: nil, count: count)
        try await withThrowingTaskGroup(of: [(Int, T)].self) { group in
            for _ in 0..<workers {
                group.addTask {
                    let connection = try await connect()
                    defer { Task { await connection.close() } }
                    var done: [(Int, T)] = []
                    while true {
                        let index = next.increment()
                        guard index < count else { return done }
                        done.append((index, try await body(index, connection)))
                    }
                }
            }
            for try await batch in group { for (index, value) in batch { results[index] = value } }
        }
        return results.map { $0! }
    }

    // MARK: the run

    private func send(index: Int, user: LoadUser, roomID: String, connection: HTTPConnection, loadStart: UInt64,
                      window: Range<UInt64>) async -> SenderTally {
        var tally = SenderTally()
        var connection = connection
        let interval = options.rate > 0 ? Double(options.senders) / options.rate : 0
        let phase = interval * Double.random(in: 0..<1)
        var sequence = 0
        while true {
            if interval > 0 {
                let due = loadStart + UInt64((phase + Double(sequence) * interval) * 1e9)
                let now = monotonicNanos()
                if due > now { try? await Task.sleep(for: .nanoseconds(Int(due - now))) }
            }
            let started = monotonicNanos()
            guard started < window.upperBound else { return tally }
            let body = "hearth-load \(runID) \(index) \(sequence) \(started)"
            do {
                _ = try await MatrixCalls.send(connection, user, roomID: roomID, txnID: "\(runID)-\(sequence)", body: body)
                if window.contains(started) {
                    tally.acknowledged += 1
                    tally.sendLatenciesMs.append(Double(monotonicNanos() - started) / 1e6)
                }
            } catch {
                tally.errors += 1
                if tally.firstError == nil { tally.firstError = "\(error)" }
                if error is HTTPConnectionError || !(error is MatrixCallError) {
                    if let fresh = try? await connect() { connection = fresh }
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
            sequence += 1
        }
    }

    private func receive(index: Int, user: LoadUser, connection: HTTPConnection, since: String, window: Range<UInt64>,
                         stop: Flag, delivered: Counter) async -> ReceiverTally {
        var tally = ReceiverTally()
        var since = since
        let prefix = "hearth-load \(runID) "
        while !stop.isSet {
            let response: JSONValue
            do {
                response = try await MatrixCalls.sync(connection, user, since: since, timeoutMs: 5000)
            } catch {
                if !stop.isSet { tally.syncErrors += 1 }
                return tally
            }
            let arrived = monotonicNanos()
            if let next = response["next_batch"]?.stringValue { since = next }
            for member in response["rooms"]?["join"]?.objectValue ?? [:] {
                let room = member.value
                if room["timeline"]?["limited"]?.boolValue == true { tally.limitedSyncs += 1 }
                for event in room["timeline"]?["events"]?.arrayValue ?? [] {
                    guard let body = event["content"]?["body"]?.stringValue, body.hasPrefix(prefix) else { continue }
                    let fields = body.dropFirst(prefix.count).split(separator: " ")
                    guard fields.count == 3, let sender = Int(fields[0]), let stamp = UInt64(fields[2]),
                          sender != index, window.contains(stamp) else { continue }
                    tally.latenciesMs.append(Double(arrived - stamp) / 1e6)
                    tally.delivered.insert("\(fields[0]):\(fields[1])")
                    delivered.increment()
                }
            }
        }
        return tally
    }

    private func sampleMemory(stop: Flag) async -> Int? {
        guard let pid = options.pid else { return nil }
        var peak: Int?
        while !stop.isSet {
            if let memory = ProcessMemory.read(pid: pid) { peak = max(peak ?? 0, memory.rssKiB) }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return peak
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data("hearth-load: \(message)\n".utf8))
    }
}

/// A one-way stop signal shared by the run's tasks.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// A shared counter; `increment` returns the value before the increment.
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)
    var value: Int { storage.load(ordering: .relaxed) }
    @discardableResult func increment() -> Int { storage.add(1, ordering: .relaxed).oldValue }
}
