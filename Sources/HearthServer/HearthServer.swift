import Foundation
public import HearthCore
import HearthClientAPI
import HearthHTTP
public import HearthHomeserver
import HearthStorage
import HearthStorageSQLite
import Hummingbird
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
        let settings = HomeserverSettings(
            serverName: config.serverName, enableRegistration: config.enableRegistration,
            registrationRequiresToken: config.registrationRequiresToken,
            registrationSharedSecret: config.registrationSharedSecret, allowGuestAccess: config.allowGuestAccess,
            defaultRoomVersion: config.defaultRoomVersion, maxUploadSize: config.maxUploadSize,
            bcryptRounds: config.bcryptRounds, mediaDirectory: config.mediaStorePath, publicBaseURL: config.publicBaseURL)
        return try Homeserver(settings: settings, storage: storage, signingKey: key, logger: logger)
    }

    /// The routes a listener serves, by its resources.
    public static func router(for homeserver: Homeserver, resources: Set<String>, config: HearthConfig, logger: Logger) -> MatrixRouter {
        var routes: [Route] = []
        if resources.contains("client") {
            routes += ClientAPI.routes(homeserver, limiter: RateLimiter(perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst))
        }
        return MatrixRouter(routes: routes, logger: logger)
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

    /// One Hummingbird application per listener address.
    public static func applications(for homeserver: Homeserver, config: HearthConfig, logger: Logger,
                                    onListening: @escaping @Sendable (String, Int) async -> Void = { _, _ in }) -> [any Service] {
        var services: [any Service] = []
        for listener in config.listeners {
            let router = router(for: homeserver, resources: listener.resources, config: config, logger: logger)
            for address in listener.bindAddresses {
                let app = Application(
                    responder: router.responder,
                    configuration: ApplicationConfiguration(address: .hostname(address, port: listener.port), serverName: "Hearth"),
                    onServerRunning: { channel in
                        await onListening(address, channel.localAddress?.port ?? listener.port)
                    },
                    logger: logger)
                services.append(app)
            }
        }
        return services
    }

    /// Runs until SIGTERM or SIGINT, then finishes in-flight requests and stops.
    public static func run(_ config: HearthConfig, logger: Logger) async throws {
        let homeserver = try makeHomeserver(config, logger: logger)
        let services = applications(for: homeserver, config: config, logger: logger) { address, port in
            logger.notice("listening", metadata: ["address": "\(address)", "port": "\(port)", "server_name": "\(config.serverName)"])
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services.map { .init(service: $0) },
                                                     gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.notice("stopped")
    }
}
