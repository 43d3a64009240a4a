import Foundation
public import HearthCore
import HearthClientAPI
public import HearthFederation
import HearthHTTP
public import HearthHomeserver
import HearthStorage
import HearthStorageSQLite
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// The composition root: configuration in, a running server out.
public enum HearthServer {
    /// Reads the signing key, creating it on first start (Synapse's key-file format).
    public static func loadOrCreateSigningKey(at path: String, logger: Logger) throws -> SigningKey {
        let manager = FileManager.default
        if let data = manager.contents(atPath: path) {
            let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            do { return try SigningKey(synapseKeyFileLine: line) } catch {
                throw ConfigError("the signing key at \(path) is not a valid ed25519 key file")
            }
        }
        try manager.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let key = SigningKey.generate(version: "a_" + Tokens.letters(4))
        guard manager.createFile(atPath: path, contents: Data((key.synapseKeyFileLine + "\n").utf8),
                                 attributes: [.posixPermissions: 0o600])
        else { throw ConfigError("cannot write the signing key to \(path)") }
        logger.notice("generated a new signing key", metadata: ["path": "\(path)", "key_id": "\(key.keyID)"])
        return key
    }

    /// Opens storage and builds the homeserver.
    public static func makeHomeserver(_ config: HearthConfig, logger: Logger) throws -> Homeserver {
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        let storage = try SQLiteStorage(path: config.databasePath,
                                        synchronous: config.sqliteSynchronous == "normal" ? .normal : .full)
        let key = try loadOrCreateSigningKey(at: config.signingKeyPath, logger: logger)
        var settings = HomeserverSettings(
            serverName: config.serverName, enableRegistration: config.enableRegistration,
            registrationRequiresToken: config.registrationRequiresToken,
            registrationSharedSecret: config.registrationSharedSecret, allowGuestAccess: config.allowGuestAccess,
            defaultRoomVersion: config.defaultRoomVersion, maxUploadSize: config.maxUploadSize,
            bcryptRounds: config.bcryptRounds, mediaDirectory: config.mediaStorePath, publicBaseURL: config.publicBaseURL)
        settings.policy.replace(config.policy)
        settings.retention = config.retention
        settings.registrationRequiresApproval = config.registrationRequiresApproval
        return try Homeserver(settings: settings, storage: storage, signingKey: key, logger: logger)
    }

    /// The federation transport for `homeserver`: its keys (with the retired ones), its store,
    /// and the configured trust, address policy and retry timing. It serves the room layer's
    /// federation routes (plus `routes`), and the homeserver's room layer is connected to it.
    public static func makeFederation(_ config: HearthConfig, homeserver: Homeserver, logger: Logger,
                                      policy: (any EgressPolicy)? = nil, audit: (any AuditSink)? = nil,
                                      transport: ((inout FederationTransportSettings) -> Void)? = nil,
                                      routes: @escaping @Sendable (FederationEndpoint) -> [Route] = { _ in [] }) throws -> Federation {
        let keys = LocalServerKeys(serverName: config.serverName, current: homeserver.signingKey,
                                   old: try LocalServerKeys.loadOldKeys(path: config.federation.oldSigningKeysPath))
        var settings = config.federation.settings()
        transport?(&settings.transport)
        let clock = homeserver.clock
        let rooms = homeserver.rooms
        let federation = try Federation(
            serverName: config.serverName, keys: keys, store: homeserver.storage.federation, settings: settings,
            policy: policy ?? OrganizationEgressPolicy(facts: rooms, serverName: config.serverName), audit: audit, logger: logger,
            now: { clock.now() }, roomACL: { roomID in
                try await rooms.currentStateEvent(roomID, StateKey("m.room.server_acl", "")).map {
                    ServerACL(content: $0.content)
                }
            }, routes: { endpoint in
                // Routes passed in (tests' stand-ins) take the place of the room layer's.
                let extra = routes(endpoint)
                let taken = Set(extra.flatMap { route in route.paths.map { "\(route.method) \($0)" } })
                let room = RoomRoutes.routes(endpoint, homeserver).filter { route in
                    !route.paths.contains { taken.contains("\(route.method) \($0)") }
                }
                return extra + room
            })
        homeserver.federation.attach(federation.roomPorts)
        return federation
    }

    /// The routes a listener serves, by its resources.
    public static func router(for homeserver: Homeserver, federation: Federation? = nil, resources: Set<String>, config: HearthConfig,
                              logger: Logger) -> MatrixRouter {
        var routes: [Route] = []
        if resources.contains("client") {
            routes += ClientAPI.routes(homeserver, limiter: RateLimiter(perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst))
        }
        if resources.contains("federation"), let federation {
            routes += federation.routes()
        }
        if config.federation.serveServerWellKnown, let delegate = wellKnownDelegate(config) {
            routes.append(TransportRoutes.wellKnownRoute(delegate: delegate))
        }
        return MatrixRouter(routes: routes, logger: logger)
    }

    /// What `/.well-known/matrix/server` names: `public_baseurl`'s host on port 443 (or its
    /// explicit port).
    static func wellKnownDelegate(_ config: HearthConfig) -> String? {
        guard let base = config.publicBaseURL, let url = URL(string: base), let host = url.host else { return nil }
        return "\(host):\(url.port ?? 443)"
    }

    /// Every (method, path pattern) a server with all resources serves. Builds a throwaway
    /// homeserver in a temporary directory (routes hold their homeserver).
    public static func registeredRoutes(logger: Logger) throws -> [(method: String, path: String)] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-routes-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = HearthConfig.localDefault(dataDirectory: directory)
        config.sqliteSynchronous = "normal"
        let homeserver = try makeHomeserver(config, logger: logger)
        return router(for: homeserver, resources: ["client", "federation"], config: config, logger: logger).registered
    }

    /// One Hummingbird application per listener address, TLS where the listener asks for it,
    /// plus the federation sender's lifecycle when `federation` is given.
    /// - Parameter tap: sees every request as it arrived, body included, before it is routed
    ///   (diagnostics; the leak tests' recording peer keeps every byte it was sent).
    public static func applications(for homeserver: Homeserver, federation: Federation? = nil, config: HearthConfig, logger: Logger,
                                    onListening: @escaping @Sendable (String, Int) async -> Void = { _, _ in },
                                    tap: RequestTap? = nil) throws -> [any Service] {
        var services: [any Service] = []
        var certificates: TLSCertificates? = nil
        for listener in config.listeners {
            let router = router(for: homeserver, federation: federation, resources: listener.resources, config: config, logger: logger)
            let routed = router.responder
            let responder = tap.map { tap in
                CallbackResponder<MatrixRequestContext> { request, context in
                    var request = request
                    let body = (try? await request.body.collect(upTo: config.maxUploadSize + (1 << 20))) ?? ByteBuffer()
                    request.body = RequestBody(buffer: body)
                    var headers: [(String, String)] = []
                    for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
                    await tap(TappedRequest(method: request.method.rawValue, uri: request.uri.description, headers: headers,
                                            body: Array(body.readableBytesView)))
                    return try await routed.respond(to: request, context: context)
                }
            } ?? routed
            var server: HTTPServerBuilder = .http1()
            if listener.tls {
                guard let certificatePath = config.tlsCertificatePath, let keyPath = config.tlsPrivateKeyPath else {
                    throw ConfigError("a TLS listener needs tls_certificate_path and tls_private_key_path")
                }
                let loaded = try certificates ?? TLSCertificates(certificatePath: certificatePath, keyPath: keyPath, logger: logger)
                certificates = loaded
                server = try .tls(.http1(), tlsConfiguration: loaded.serverConfiguration())
            }
            for address in listener.bindAddresses {
                let app = Application(
                    responder: responder,
                    server: server,
                    configuration: ApplicationConfiguration(address: .hostname(address, port: listener.port), serverName: "Hearth"),
                    onServerRunning: { channel in
                        await onListening(address, channel.localAddress?.port ?? listener.port)
                    },
                    logger: logger)
                services.append(app)
            }
        }
        if let federation { services.append(FederationService(federation: federation)) }
        return services
    }

    /// Runs until SIGTERM or SIGINT, then finishes in-flight requests and stops. SIGHUP
    /// re-reads the organization policy through `reload` (the configuration file, re-parsed).
    public static func run(_ config: HearthConfig, logger: Logger,
                           reload: (@Sendable () throws -> HearthConfig)? = nil, gateBaseline: Bool = false) async throws {
        let homeserver = try makeHomeserver(config, logger: logger)
        let federation = gateBaseline
            ? try makeFederation(config, homeserver: homeserver, logger: logger, policy: AllowEverything(), audit: DiscardingAuditSink())
            : try makeFederation(config, homeserver: homeserver, logger: logger)
        var services = try applications(for: homeserver, federation: federation, config: config, logger: logger, onListening: { address, port in
            logger.notice("listening", metadata: ["address": "\(address)", "port": "\(port)", "server_name": "\(config.serverName)"])
        })
        services.append(AuditRetentionService(homeserver: homeserver, logger: logger))
        services.append(MessageExpiryService(homeserver: homeserver, logger: logger))
        if let reload { services.append(PolicyReloadService(homeserver: homeserver, reload: reload, logger: logger)) }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services.map { .init(service: $0) },
                                                     gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.notice("stopped")
    }
}

/// Runs the federation sender for the server's lifetime: resumes queues at start, stops
/// sending and closes connections at graceful shutdown.
struct FederationService: Service {
    let federation: Federation

    func run() async throws {
        try await federation.start()
        try? await gracefulShutdown()
        await federation.shutdown()
    }
}

/// Reloads the organization policy on SIGHUP. A configuration that does not parse leaves the
/// policy in force as it was (and says why in the log).
struct PolicyReloadService: Service {
    let homeserver: Homeserver
    let reload: @Sendable () throws -> HearthConfig
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            do {
                let config = try reload()
                homeserver.settings.policy.replace(config.policy)
                logger.notice("organization policy reloaded")
                // Partners rooms that follow the default partners now name the new ones.
                await homeserver.rooms.refreshPartnerACLs()
            } catch {
                logger.error("configuration not reloaded; the policy in force is unchanged", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Prunes audit records older than the policy's retention, hourly.
struct AuditRetentionService: Service {
    let homeserver: Homeserver
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if let retention = homeserver.settings.policy.current.auditRetention {
                do {
                    let pruned = try await homeserver.storage.federation.pruneAuditRecords(before: homeserver.clock.now() - retention)
                    if pruned > 0 { logger.info("audit records past retention pruned", metadata: ["count": "\(pruned)"]) }
                } catch {
                    logger.error("audit pruning failed", metadata: ["error": "\(error)"])
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}

/// A request as a listener received it.
public struct TappedRequest: Sendable {
    public var method: String
    public var uri: String
    public var headers: [(String, String)]
    public var body: [UInt8]
}

public typealias RequestTap = @Sendable (TappedRequest) async -> Void

/// Expires messages (room retention, self-destructing messages) every purge interval.
struct MessageExpiryService: Service {
    let homeserver: Homeserver
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do { try await homeserver.expireMessages(now: homeserver.clock.now()) } catch {
                logger.error("message expiry failed", metadata: ["error": "\(error)"])
            }
            let interval = homeserver.settings.retention.purgeInterval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(interval)) }
        }
    }
}

/// Records nothing (the benchmark baseline of the egress gate).
struct DiscardingAuditSink: AuditSink {
    func record(_ record: EgressAuditRecord) async {}
}
