public import HearthCore
public import HearthHTTP
public import HearthStorage
public import Logging

/// Settings of the federation transport as a whole.
public struct FederationSettings: Sendable {
    public var transport: FederationTransportSettings
    /// `trusted_key_servers`.
    public var trustedKeyServers: [TrustedKeyServer]
    /// Outbound retry timing (`federation.destination_*_retry_interval`).
    public var backoff: DestinationQueue.Backoff

    public init(transport: FederationTransportSettings = FederationTransportSettings(), trustedKeyServers: [TrustedKeyServer] = [],
                backoff: DestinationQueue.Backoff = DestinationQueue.Backoff()) {
        self.transport = transport
        self.trustedKeyServers = trustedKeyServers
        self.backoff = backoff
    }
}

/// The federation transport, composed: the egress gate, the client behind it, the key ring,
/// the outbound sender, and the route builder for federation endpoints.
public final class Federation: Sendable {
    public let serverName: ServerName
    public let gate: EgressGate
    public let client: FederationClient
    public let keyRing: KeyRing
    public let sender: FederationSender
    public let endpoint: FederationEndpoint
    private let extraRoutes: @Sendable (FederationEndpoint) -> [Route]

    /// - Parameters:
    ///   - roomACL: the server ACL of a room's current state, for
    ///     `FederationEndpoint.requireServerACL` (the room layer provides it).
    ///   - routes: the room layer's federation routes, built with the endpoint.
    public init(serverName: ServerName, keys: LocalServerKeys, store: any FederationStore, settings: FederationSettings,
                policy: any EgressPolicy = AllowEverything(), audit: (any AuditSink)? = nil, logger: Logger,
                now: @escaping @Sendable () -> Milliseconds,
                roomACL: @escaping @Sendable (RoomID) async throws -> ServerACL? = { _ in nil },
                routes: @escaping @Sendable (FederationEndpoint) -> [Route] = { _ in [] }) throws {
        self.serverName = serverName
        extraRoutes = routes
        gate = try EgressGate(origin: serverName, signingKey: keys.current, settings: settings.transport, policy: policy,
                              audit: audit ?? StoreAuditSink(store: store, logger: logger), logger: logger, now: now)
        client = FederationClient(gate: gate)
        keyRing = KeyRing(local: keys, store: store, client: client, notaries: settings.trustedKeyServers, logger: logger, now: now)
        let sender = FederationSender(client: client, store: store, backoff: settings.backoff, logger: logger, now: now)
        self.sender = sender
        endpoint = FederationEndpoint(serverName: serverName, keyRing: keyRing, gate: gate, roomACL: roomACL,
                                      originSeen: { origin in await sender.destinationCameOnline(origin) }, now: now)
    }

    /// The transport's own routes (keys, notary, version) and the room layer's.
    public func routes(version: String = "0.1.0") -> [Route] {
        TransportRoutes.routes(endpoint, version: version) + extraRoutes(endpoint)
    }

    /// Resumes outbound queues left by a previous run.
    public func start() async throws { try await sender.start() }

    /// Stops sending and closes connections.
    public func shutdown() async {
        await sender.stop()
        await gate.shutdown()
    }
}
