import Foundation
import HearthCore
import HearthHomeserver
import HearthServer
import HearthStorage
import Logging
import Synchronization

/// Several homeservers in one process, federating without HTTP: requests are dispatched to the
/// destination's `Federation` methods, and queued PDUs and EDUs are delivered as transactions
/// when a test calls `flush()` (a server marked down receives nothing until it is up again).
final class LoopbackFederation: Sendable {
    struct Node: Sendable {
        let homeserver: Homeserver
        let directory: String
        let config: HearthConfig
    }
    private let nodes = Mutex<[ServerName: Node]>([:])
    private let keys = Mutex<[ServerName: SigningKey]>([:])
    private let down = Mutex<Set<ServerName>>([])
    /// Per destination: queued PDUs and EDUs not yet delivered.
    private let queues = Mutex<[ServerName: [(origin: ServerName, pdu: JSONObject?, edu: JSONObject?)]]>([:])
    private let counter = Mutex(0)
    /// Every request made, as "origin→destination METHOD path", for assertions.
    let requestLog = Mutex<[String]>([])

    /// Starts a homeserver named `name` (a fresh data directory) and connects it.
    @discardableResult
    func start(_ name: String, roomVersion: RoomVersion = .default) throws -> Homeserver {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-fed-\(UUID().uuidString)").path
        var config = HearthConfig.localDefault(dataDirectory: directory, port: 0)
        config.serverName = ServerName(name)!
        config.bcryptRounds = 4
        config.sqliteSynchronous = "normal"
        config.defaultRoomVersion = roomVersion
        return try connect(config: config, directory: directory)
    }

    /// (Re)opens a homeserver on an existing data directory (a restart).
    @discardableResult
    func connect(config: HearthConfig, directory: String) throws -> Homeserver {
        var logger = Logger(label: "fed-\(config.serverName)")
        logger.logLevel = .warning
        let homeserver = try HearthServer.makeHomeserver(config, logger: logger)
        let name = config.serverName
        keys.withLock { $0[name] = homeserver.signingKey }
        nodes.withLock { $0[name] = Node(homeserver: homeserver, directory: directory, config: config) }
        homeserver.federation.attach(FederationPorts(keys: KeyDirectory(network: self), remotes: Caller(network: self, origin: name),
                                                     outbox: Queue(network: self, origin: name)))
        return homeserver
    }

    func node(_ name: String) -> Node { nodes.withLock { $0[ServerName(name)!]! } }
    func homeserver(_ name: String) -> Homeserver { node(name).homeserver }

    /// Simulates a server being unreachable (requests to it fail, nothing is delivered).
    func setDown(_ name: String, _ isDown: Bool) {
        down.withLock { if isDown { $0.insert(ServerName(name)!) } else { $0.remove(ServerName(name)!) } }
    }

    /// Drops everything queued for `name` (a hostile or lossy network).
    func discardQueue(for name: String) { _ = queues.withLock { $0.removeValue(forKey: ServerName(name)!) } }

    /// Delivers queued PDUs and EDUs until the queues of reachable servers are empty.
    func flush() async throws {
        for _ in 0..<50 {
            let batches = queues.withLock { queues -> [(ServerName, [(origin: ServerName, pdu: JSONObject?, edu: JSONObject?)])] in
                let isDown = down.withLock { $0 }
                var ready: [(ServerName, [(origin: ServerName, pdu: JSONObject?, edu: JSONObject?)])] = []
                for (destination, items) in queues where !isDown.contains(destination) && !items.isEmpty {
                    ready.append((destination, items))
                    queues[destination] = []
                }
                return ready
            }
            if batches.isEmpty { return }
            for (destination, items) in batches {
                let target = nodes.withLock { $0[destination] }
                guard let target else { continue }
                let byOrigin = Dictionary(grouping: items, by: \.origin)
                for (origin, entries) in byOrigin.sorted(by: { $0.key < $1.key }) {
                    let pdus = entries.compactMap(\.pdu).map(JSONValue.object)
                    let edus = entries.compactMap(\.edu).map(JSONValue.object)
                    for start in stride(from: 0, to: max(pdus.count, 1), by: 50) {
                        let txn = counter.withLock { value -> Int in value += 1; return value }
                        let body: JSONObject = ["origin": .string(origin.rawValue), "origin_server_ts": .int(0),
                                                "pdus": .array(Array(pdus.dropFirst(start).prefix(50))),
                                                "edus": .array(start == 0 ? Array(edus.prefix(100)) : [])]
                        _ = try await target.homeserver.federation.receiveTransaction(body, transactionID: "t\(txn)", origin: origin)
                    }
                }
            }
        }
    }

    func stop(_ name: String) { setDown(name, true) }

    func destroy() {
        for node in nodes.withLock({ Array($0.values) }) { try? FileManager.default.removeItem(atPath: node.directory) }
    }

    // MARK: Ports

    struct KeyDirectory: ServerKeyProvider {
        let network: LoopbackFederation
        func verifyKey(server: ServerName, keyID: String, validAt: Milliseconds?) async -> VerifyKey? {
            guard let key = network.keys.withLock({ $0[server] }), key.keyID == keyID else { return nil }
            return VerifyKey(bytes: key.publicKey)
        }
    }

    struct Queue: FederationOutbox {
        let network: LoopbackFederation
        let origin: ServerName
        func enqueue(pdu: PDU, to destinations: Set<ServerName>) async {
            network.queues.withLock { queues in for d in destinations { queues[d, default: []].append((origin, pdu.federationJSON, nil)) } }
        }
        func enqueue(edu: JSONObject, to destinations: Set<ServerName>) async {
            network.queues.withLock { queues in for d in destinations { queues[d, default: []].append((origin, nil, edu)) } }
        }
    }

    struct Caller: RemoteHomeservers {
        let network: LoopbackFederation
        let origin: ServerName
        func send(_ request: FederationRequest, to destination: ServerName) async throws -> JSONValue {
            network.requestLog.withLock { $0.append("\(origin)→\(destination) \(request.method) \(request.path)") }
            guard !network.down.withLock({ $0.contains(destination) }),
                  let target = network.nodes.withLock({ $0[destination] })
            else { throw FedTestError("\(destination) is unreachable") }
            return .object(try await LoopbackRouter.dispatch(request, to: target.homeserver.federation, origin: origin))
        }
    }
}

/// Maps federation paths to the `Federation` methods the HTTP routes call.
enum LoopbackRouter {
    static func dispatch(_ request: FederationRequest, to federation: RoomFederation, origin: ServerName) async throws -> JSONObject {
        let parts = request.path.split(separator: "/").map { String($0).removingPercentEncoding! }
        // ["_matrix", "federation", version, endpoint, ...]
        guard parts.count >= 4 else { throw MatrixError.unrecognized("Unrecognized request") }
        let endpoint = parts[3]
        let args = Array(parts.dropFirst(4))
        func query(_ name: String) -> String? { request.query.last { $0.0 == name }?.1 }
        func room(_ i: Int) throws -> RoomID { guard let id = RoomID(args[i]) else { throw MatrixError.invalidParam("room") }; return id }
        func event(_ i: Int) throws -> EventID { guard let id = EventID(args[i]) else { throw MatrixError.invalidParam("event") }; return id }
        let body = request.body ?? [:]
        switch (request.method, endpoint) {
        case ("GET", let e) where e.hasPrefix("make_"):
            let kind = String(e.dropFirst(5))
            return try await federation.makeMembership(kind, roomID: try room(0), user: UserID(args[1])!,
                                                       versions: kind == "leave" ? nil : request.query.filter { $0.0 == "ver" }.map(\.1),
                                                       origin: origin)
        case ("PUT", "send_join"): return try await federation.sendJoin(roomID: try room(0), eventID: try event(1), json: body, origin: origin)
        case ("PUT", "send_leave"): return try await federation.sendLeave(roomID: try room(0), eventID: try event(1), json: body, origin: origin)
        case ("PUT", "send_knock"): return try await federation.sendKnock(roomID: try room(0), eventID: try event(1), json: body, origin: origin)
        case ("PUT", "invite"): return try await federation.receiveInvite(roomID: try room(0), eventID: try event(1), body: body, origin: origin)
        case ("POST", "get_missing_events"): return try await federation.missingEvents(try room(0), body: body, origin: origin)
        case ("GET", "state_ids"), ("GET", "state"):
            guard let at = query("event_id").flatMap(EventID.init) else { throw MatrixError.missingParam("event_id") }
            return try await federation.state(try room(0), at: at, origin: origin, idsOnly: endpoint == "state_ids")
        case ("GET", "event"): return try await federation.event(try event(0), origin: origin)
        case ("GET", "event_auth"): return try await federation.eventAuth(try room(0), eventID: try event(1), origin: origin)
        case ("GET", "backfill"):
            let from = request.query.filter { $0.0 == "v" }.compactMap { EventID($0.1) }
            return try await federation.backfill(try room(0), from: from, limit: Int(query("limit") ?? "10") ?? 10, origin: origin)
        case ("GET", "query") where args.first == "directory":
            return try await federation.queryDirectory(RoomAlias(query("room_alias") ?? "")!)
        case ("GET", "query") where args.first == "profile":
            return try await federation.queryProfile(UserID(query("user_id") ?? "")!, field: query("field"))
        default:
            throw MatrixError.unrecognized("Unrecognized request \(request.method) \(request.path)")
        }
    }
}
