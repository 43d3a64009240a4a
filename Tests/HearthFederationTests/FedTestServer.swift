import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HearthCore
import HearthFederation
import HearthHTTP
import HearthHomeserver
import HearthServer
import Logging
import ServiceLifecycle
import Synchronization

/// A Hearth server in-process on loopback with a TLS listener serving client and federation,
/// a certificate from the test CA, and a federation transport that trusts that CA and is
/// allowed to reach loopback (which the default address policy refuses).
final class FedTestServer: Sendable {
    let name: ServerName
    let port: Int
    let homeserver: Homeserver
    let federation: Federation
    let audit: InMemoryAuditSink
    let config: HearthConfig
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    static var logger: Logger {
        var logger = Logger(label: "hearth-fed-test")
        logger.logLevel = ProcessInfo.processInfo.environment["HEARTH_TEST_LOG"] == "info" ? .info : .warning
        return logger
    }

    /// - Parameters:
    ///   - host: `localhost` (a DNS name with a port) or `127.0.0.1` (an IP literal).
    ///   - directory: reuse a data directory (a restart).
    static func start(host: String = "localhost", ca: TestCA, port: Int? = nil, directory: String? = nil,
                      policy: (any EgressPolicy)? = AllowEverything(), tap: RequestTap? = nil, persistentAudit: Bool = false,
                      routes: @escaping @Sendable (FederationEndpoint) -> [Route] = { _ in [] },
                      configure: (inout HearthConfig) -> Void = { _ in },
                      transport: @escaping (inout FederationTransportSettings) -> Void = { _ in }) async throws -> FedTestServer {
        let port = try port ?? freePort()
        let directory = directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("hearth-fed-\(UUID().uuidString)").path
        var config = HearthConfig.localDefault(dataDirectory: directory, port: port)
        config.serverName = ServerName("\(host):\(port)")!
        let (certificate, key) = try ca.issue("server-\(port)")
        config.tlsCertificatePath = certificate
        config.tlsPrivateKeyPath = key
        config.listeners = [HearthConfig.Listener(port: port, bindAddresses: ["127.0.0.1"], resources: ["client", "federation"],
                                                  tls: true, xForwarded: false)]
        config.bcryptRounds = 4
        config.sqliteSynchronous = "normal"
        config.federation.customCAList = [ca.caFile]
        config.federation.ipRangeWhitelist = [IPRange("127.0.0.0/8")!, IPRange("::1/128")!]
        config.federation.backoff = DestinationQueue.Backoff(minimum: 200, multiplier: 2, maximum: 2_000)
        configure(&config)
        let logger = Self.logger
        let homeserver = try HearthServer.makeHomeserver(config, logger: logger)
        let audit = InMemoryAuditSink()
        let federation = try HearthServer.makeFederation(config, homeserver: homeserver, logger: logger, policy: policy,
                                                         audit: persistentAudit ? nil : audit,
                                                         transport: { settings in
                                                             settings.srvResolver = NoSRV()
                                                             transport(&settings)
                                                         }, routes: routes)
        let listening = Mutex(false)
        let services = try HearthServer.applications(for: homeserver, federation: federation, config: config, logger: logger,
                                                     onListening: { _, _ in listening.withLock { $0 = true } }, tap: tap)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: logger))
        let task = Task { try await group.run() }
        for _ in 0..<500 where !listening.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        guard listening.withLock({ $0 }) else { throw FedTestError("server did not start") }
        return FedTestServer(name: config.serverName, port: port, homeserver: homeserver, federation: federation, audit: audit,
                             config: config, group: group, task: task)
    }

    private init(name: ServerName, port: Int, homeserver: Homeserver, federation: Federation, audit: InMemoryAuditSink,
                 config: HearthConfig, group: ServiceGroup, task: Task<Void, any Error>) {
        self.name = name
        self.port = port
        self.homeserver = homeserver
        self.federation = federation
        self.audit = audit
        self.config = config
        self.group = group
        self.task = task
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    func destroy() async {
        await stop()
        try? FileManager.default.removeItem(atPath: config.dataDirectory)
    }
}

/// No SRV records anywhere: tests never query a real resolver.
struct NoSRV: SRVResolver {
    func srvRecords(for name: String) async throws -> [SRVRecord] { [] }
}

struct FedTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A port that was free a moment ago (the server name must name its port before it binds).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FedTestError("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw FedTestError("bind failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
