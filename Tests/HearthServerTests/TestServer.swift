import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HearthCore
import HearthHomeserver
import HearthServer
import Logging
import ServiceLifecycle
import Synchronization

/// A Hearth server started in-process on a free loopback port with a temporary SQLite file,
/// driven over real HTTP.
final class TestServer: Sendable {
    let baseURL: String
    let homeserver: Homeserver
    let config: HearthConfig
    let directory: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    struct Response: Sendable {
        let status: Int
        let json: JSONValue
        let headers: [String: String]
        let bytes: [UInt8]
        var errcode: String? { json["errcode"]?.stringValue }
    }

    static func start(_ configure: (inout HearthConfig) -> Void = { _ in }) async throws -> TestServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-test-\(UUID().uuidString)").path
        var config = HearthConfig.localDefault(dataDirectory: directory, port: 0)
        config.serverName = ServerName("hearth.test")!
        config.listeners = [HearthConfig.Listener(port: 0, bindAddresses: ["127.0.0.1"], resources: ["client", "federation"],
                                                  tls: false, xForwarded: false)]
        config.bcryptRounds = 4
        config.sqliteSynchronous = "normal"
        config.rateLimitPerSecond = 1000
        config.rateLimitBurst = 10_000
        configure(&config)
        return try await start(config: config, directory: directory)
    }

    static func start(config: HearthConfig, directory: String) async throws -> TestServer {
        var logger = Logger(label: "hearth-test")
        logger.logLevel = .warning
        let homeserver = try HearthServer.makeHomeserver(config, logger: logger)
        let port = Mutex<Int?>(nil)
        let services = try HearthServer.applications(for: homeserver, config: config, logger: logger) { _, bound in
            port.withLock { $0 = bound }
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: logger))
        let task = Task { try await group.run() }
        for _ in 0..<500 {
            if port.withLock({ $0 }) != nil { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard let bound = port.withLock({ $0 }) else { throw TestError("server did not start") }
        return TestServer(baseURL: "http://127.0.0.1:\(bound)", homeserver: homeserver, config: config, directory: directory,
                          group: group, task: task)
    }

    private init(baseURL: String, homeserver: Homeserver, config: HearthConfig, directory: String, group: ServiceGroup,
                 task: Task<Void, any Error>) {
        self.baseURL = baseURL
        self.homeserver = homeserver
        self.config = config
        self.directory = directory
        self.group = group
        self.task = task
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Stops and deletes the data directory.
    func destroy() async {
        await stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func request(_ method: String, _ path: String, token: String? = nil, json: JSONValue? = nil, body: [UInt8]? = nil,
                 contentType: String? = nil) async throws -> Response {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = Data(json.encoded())
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let body {
            request.httpBody = Data(body)
            request.setValue(contentType ?? "application/octet-stream", forHTTPHeaderField: "Content-Type")
        }
        request.timeoutInterval = 60
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields { headers[String(describing: key).lowercased()] = String(describing: value) }
        let bytes = Array(data)
        let parsed = (try? JSONValue.parse(bytes)) ?? .null
        return Response(status: http.statusCode, json: parsed, headers: headers, bytes: bytes)
    }

    struct User: Sendable {
        let userID: String
        let token: String
        let deviceID: String
    }

    /// Registers through the real UIA flow (m.login.dummy).
    func register(_ localpart: String, password: String = "correct horse battery") async throws -> User {
        let first = try await request("POST", "/_matrix/client/v3/register", json: ["username": .string(localpart), "password": .string(password)])
        guard let session = first.json["session"]?.stringValue else { throw TestError("no UIA session: \(first.json.encodedString())") }
        let second = try await request("POST", "/_matrix/client/v3/register", json: [
            "username": .string(localpart), "password": .string(password),
            "auth": ["type": "m.login.dummy", "session": .string(session)],
        ])
        guard second.status == 200, let token = second.json["access_token"]?.stringValue,
              let userID = second.json["user_id"]?.stringValue, let device = second.json["device_id"]?.stringValue
        else { throw TestError("registration failed: \(second.status) \(second.json.encodedString())") }
        return User(userID: userID, token: token, deviceID: device)
    }

    func createRoom(_ user: User, _ body: JSONObject = [:]) async throws -> String {
        let response = try await request("POST", "/_matrix/client/v3/createRoom", token: user.token, json: .object(body))
        guard let roomID = response.json["room_id"]?.stringValue else { throw TestError("createRoom failed: \(response.json.encodedString())") }
        return roomID
    }

    func send(_ user: User, _ roomID: String, body: String, txn: String = UUID().uuidString) async throws -> String {
        let response = try await request("PUT", "/_matrix/client/v3/rooms/\(roomID.urlPathEncoded)/send/m.room.message/\(txn)",
                                         token: user.token, json: ["msgtype": "m.text", "body": .string(body)])
        guard let eventID = response.json["event_id"]?.stringValue else { throw TestError("send failed: \(response.json.encodedString())") }
        return eventID
    }

    func sync(_ user: User, since: String? = nil, timeout: Int = 0, filter: String? = nil) async throws -> JSONValue {
        var path = "/_matrix/client/v3/sync?timeout=\(timeout)"
        if let since { path += "&since=\(since)" }
        if let filter { path += "&filter=\(filter.urlQueryEncoded)" }
        let response = try await request("GET", path, token: user.token)
        guard response.status == 200 else { throw TestError("sync failed: \(response.json.encodedString())") }
        return response.json
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension String {
    var urlPathEncoded: String {
        addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? self
    }
    var urlQueryEncoded: String { urlPathEncoded }
}
