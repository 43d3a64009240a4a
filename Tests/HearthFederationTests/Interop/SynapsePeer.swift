import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HearthCore

/// Federation interop tests run only with `HEARTH_INTEROP=1`; then a missing Synapse is a
/// failure, not a skip (create it with `Scripts/setup-test-env.sh --synapse`).
enum FederationInterop {
    static let enabled = ProcessInfo.processInfo.environment["HEARTH_INTEROP"] == "1"
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var python: String { root.appendingPathComponent(".venv/bin/python3").path }

    static func requireSynapse() throws -> String {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw FedTestError("HEARTH_INTEROP=1 but \(python) is missing: run Scripts/setup-test-env.sh --synapse")
        }
        return python
    }
}

/// A real Synapse (from the project's .venv) on loopback: server name `localhost:PORT`, a TLS
/// listener for federation and clients with a certificate from the test's CA (which it also
/// trusts for federation), and a plain-HTTP client listener for the test's own requests.
/// Loopback is allowed for federation; no key servers; retries are quick.
final class SynapsePeer: @unchecked Sendable {
    let port: Int
    let httpPort: Int
    let directory: String
    let sharedSecret = "hearth-interop-\(UInt64.random(in: 0...UInt64.max))"
    private var process: Process?

    var serverName: ServerName { ServerName("localhost:\(port)")! }
    var clientURL: String { "http://127.0.0.1:\(httpPort)" }

    init(ca: TestCA) throws {
        port = try freePort()
        httpPort = try freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-synapse-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (certificate, key) = try ca.issue("synapse-\(port)")
        let relaxed = "{per_second: 1000, burst_count: 1000}"
        let config = """
            server_name: "localhost:\(port)"
            public_baseurl: "https://localhost:\(port)/"
            pid_file: "\(directory)/homeserver.pid"
            report_stats: false
            listeners:
              - {port: \(port), bind_addresses: ['127.0.0.1'], type: http, tls: true, x_forwarded: false,
                 resources: [{names: [client, federation], compress: false}]}
              - {port: \(httpPort), bind_addresses: ['127.0.0.1'], type: http, tls: false, x_forwarded: false,
                 resources: [{names: [client], compress: false}]}
            tls_certificate_path: "\(certificate)"
            tls_private_key_path: "\(key)"
            database: {name: sqlite3, args: {database: "\(directory)/homeserver.db"}}
            log_config: "\(directory)/log.yaml"
            media_store_path: "\(directory)/media"
            signing_key_path: "\(directory)/signing.key"
            macaroon_secret_key: "\(sharedSecret)-macaroon"
            form_secret: "\(sharedSecret)-form"
            registration_shared_secret: "\(sharedSecret)"
            enable_registration: false
            trusted_key_servers: []
            suppress_key_server_warning: true
            ip_range_whitelist: ['127.0.0.0/8', '::1/128']
            federation_verify_certificates: true
            federation_custom_ca_list: ["\(ca.caFile)"]
            federation:
              destination_min_retry_interval: 1s
              destination_retry_multiplier: 2
              destination_max_retry_interval: 5s
            presence: {enabled: true}
            # Identical /sync requests would otherwise get a cached answer for two minutes.
            caches: {sync_response_cache_duration: 0}
            rc_message: \(relaxed)
            rc_joins: {local: \(relaxed), remote: \(relaxed)}
            rc_joins_per_room: \(relaxed)
            rc_invites: {per_room: \(relaxed), per_user: \(relaxed), per_issuer: \(relaxed)}
            rc_login: {address: \(relaxed), account: \(relaxed), failed_attempts: \(relaxed)}
            rc_federation: {window_size: 1000, sleep_limit: 1000, sleep_delay: 0, reject_limit: 10000, concurrent: 100}
            federation_rr_transactions_per_room_per_second: 1000

            """
        try config.write(toFile: directory + "/homeserver.yaml", atomically: true, encoding: .utf8)
        let logging = """
            version: 1
            formatters: {precise: {format: '%(asctime)s %(name)s %(levelname)s %(request)s %(message)s'}}
            handlers: {file: {class: logging.FileHandler, formatter: precise, filename: "\(directory)/homeserver.log"}}
            root: {level: INFO, handlers: [file]}
            disable_existing_loggers: false

            """
        try logging.write(toFile: directory + "/log.yaml", atomically: true, encoding: .utf8)
        let generate = Process()
        generate.executableURL = URL(fileURLWithPath: try FederationInterop.requireSynapse())
        generate.arguments = ["-m", "synapse.app.homeserver", "-c", directory + "/homeserver.yaml", "--generate-keys"]
        generate.standardOutput = FileHandle.nullDevice
        try generate.run()
        generate.waitUntilExit()
        guard generate.terminationStatus == 0 else { throw FedTestError("synapse --generate-keys failed") }
    }

    /// Starts Synapse and waits until its client API answers.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try FederationInterop.requireSynapse())
        process.arguments = ["-m", "synapse.app.homeserver", "-c", directory + "/homeserver.yaml"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = directory + "/stdout.log"
        FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = process.standardOutput
        try process.run()
        self.process = process
        for _ in 0..<600 {
            if !process.isRunning { throw FedTestError("Synapse exited during startup: \(logTail())") }
            if let answer = try? await request("GET", "/_matrix/client/versions"), answer.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw FedTestError("Synapse did not start within 60 s: \(logTail())")
    }

    /// Stops Synapse (SIGTERM, then SIGKILL after 5 s: it may linger retrying its queues).
    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        for _ in 0..<50 where process.isRunning { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    func destroy() {
        stop()
        if ProcessInfo.processInfo.environment["HEARTH_KEEP_SYNAPSE"] == "1" {
            print("Synapse data kept in \(directory)")
        } else {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    func logTail(_ count: Int = 3000) -> String {
        let text = (try? String(contentsOfFile: directory + "/homeserver.log", encoding: .utf8)) ?? ""
        return String(text.suffix(count))
    }

    // MARK: Client API

    struct Answer: Sendable {
        let status: Int
        let json: JSONValue
    }

    func request(_ method: String, _ path: String, token: String? = nil, json: JSONValue? = nil) async throws -> Answer {
        var request = URLRequest(url: URL(string: clientURL + path)!)
        request.httpMethod = method
        request.timeoutInterval = 60
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = Data(json.encoded())
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Answer(status: (response as! HTTPURLResponse).statusCode, json: (try? JSONValue.parse(Array(data))) ?? .null)
    }

    /// The JSON of a 200 answer, or a failure naming the request and the answer.
    @discardableResult
    func call(_ method: String, _ path: String, token: String? = nil, json: JSONValue? = nil) async throws -> JSONValue {
        let answer = try await request(method, path, token: token, json: json)
        guard answer.status == 200 else { throw FedTestError("\(method) \(path) → \(answer.status) \(answer.json.encodedString())") }
        return answer.json
    }

    struct User: Sendable {
        let id: UserID
        let token: String
        let deviceID: String
    }

    /// Registers a user with the shared-secret admin API.
    func register(_ localpart: String) async throws -> User {
        let nonce = try await call("GET", "/_synapse/admin/v1/register")["nonce"]?.stringValue ?? ""
        let password = "interop-\(localpart)"
        let message = Array("\(nonce)\0\(localpart)\0\(password)\0notadmin".utf8)
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: Array(sharedSecret.utf8)))
        let hex = mac.map { String(format: "%02x", $0) }.joined()
        let answer = try await call("POST", "/_synapse/admin/v1/register", json: [
            "nonce": .string(nonce), "username": .string(localpart), "password": .string(password), "admin": false, "mac": .string(hex),
        ])
        guard let token = answer["access_token"]?.stringValue, let id = answer["user_id"]?.stringValue.flatMap(UserID.init) else {
            throw FedTestError("registration answered \(answer.encodedString())")
        }
        return User(id: id, token: token, deviceID: answer["device_id"]?.stringValue ?? "")
    }
}
