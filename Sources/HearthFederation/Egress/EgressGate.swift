import AsyncHTTPClient
public import HearthCore
public import HearthStorage
public import HearthHTTP
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The one door between this server and every other: each outgoing federation request,
/// transaction, key fetch and well-known lookup, and each response body of this server's
/// federation routes, passes `EgressPolicy` here and is recorded in the `AuditSink`.
///
/// No code path reaches the network around it: the HTTP client is a `fileprivate` type of
/// this file, created by the gate and called only by it. Name resolution (the SSRF check on
/// every resolved address included) also happens here, so a policy sees the real destination.
public final class EgressGate: Sendable {
    public let origin: ServerName
    private let signingKey: SigningKey
    private let policy: any EgressPolicy
    private let audit: any AuditSink
    private let settings: FederationTransportSettings
    private let resolver: ServerResolver
    private let transport: HTTPTransport
    private let now: @Sendable () -> Milliseconds
    private let logger: Logger

    /// A request for the gate to send.
    struct Outbound: Sendable {
        var kind: EgressKind
        var destination: ServerName
        var method: String
        /// Path and query, already percent-encoded: exactly the request target sent and signed.
        var target: String
        var body: JSONValue?
        /// Sign with X-Matrix (everything but key fetches and discovery).
        var signed: Bool
        var timeout: Duration?
    }

    public init(origin: ServerName, signingKey: SigningKey, settings: FederationTransportSettings = FederationTransportSettings(),
                policy: any EgressPolicy = AllowEverything(), audit: any AuditSink, logger: Logger,
                now: @escaping @Sendable () -> Milliseconds) throws {
        self.origin = origin
        self.signingKey = signingKey
        self.policy = policy
        self.audit = audit
        self.settings = settings
        self.now = now
        self.logger = logger
        resolver = ServerResolver(srv: settings.srvResolver, now: now)
        transport = try HTTPTransport(settings: settings)
    }

    /// Closes every connection. Call once, at shutdown.
    public func shutdown() async { await transport.shutdown() }

    /// How `server` would be reached (for diagnostics and tests).
    public func resolve(_ server: ServerName) async -> ResolvedServer {
        await resolver.resolve(server) { host in await self.fetchWellKnown(host) }
    }

    /// Asks the policy, records its decision, and returns the item as it may leave.
    private func screen(_ item: EgressItem) async -> EgressDecision {
        let ruling = await policy.rule(item)
        await audit.record(EgressAuditRecord.records(item: item, ruling: ruling, timestamp: now()))
        return ruling.decision
    }

    /// What the policy would decide for `item`, without recording or sending anything
    /// (`hearth policy explain`).
    public func preview(_ item: EgressItem) async -> EgressRuling { await policy.rule(item) }

    // MARK: Responses of this server's routes

    /// Screens a response one of this server's federation routes is about to give `origin`.
    public func screenResponse(_ response: MatrixResponse, to origin: ServerName?, method: String, path: String) async -> MatrixResponse {
        // The body is handed over as bytes (JSON ones with their content type): parsing a
        // multi-megabyte state or join response is left to a policy that needs to look inside.
        let body: EgressBody = response.body.isEmpty
            ? .none : .bytes(response.body, contentType: response.headers[.contentType] ?? "application/octet-stream")
        let item = EgressItem(kind: .response, destination: origin, method: method, path: path, body: body)
        switch await screen(item) {
        case .allow:
            return response
        case .refuse(let reason):
            return MatrixResponse(error: .forbidden("Refused by this server's policy: \(reason)"))
        case .reshape(let newBody, _):
            var reshaped = response
            switch newBody {
            case .none: reshaped.body = []
            case .json(let value):
                reshaped.body = value.encoded()
                reshaped.headers[.contentType] = "application/json"
            case .bytes(let bytes, let type):
                reshaped.body = bytes
                reshaped.headers[.contentType] = type
            }
            return reshaped
        }
    }

    // MARK: Requests

    func send(_ request: Outbound) async throws(FederationError) -> FederationResponse {
        let item = EgressItem(kind: request.kind, destination: request.destination, method: request.method, path: request.target,
                              body: request.body.map { .json($0) } ?? .none)
        var body = request.body
        switch await screen(item) {
        case .allow: break
        case .refuse(let reason): throw .refused(reason: reason)
        case .reshape(let newBody, _):
            guard case .json(let value) = newBody else {
                if newBody == .none { body = nil; break }
                throw .refused(reason: "a request body can only be reshaped to JSON")
            }
            body = value
        }
        let resolved = await resolve(request.destination)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: resolved.hostHeader)
        headers.add(name: "User-Agent", value: "Hearth")
        if request.signed {
            guard let auth = try? XMatrixAuthorization.sign(method: request.method, uri: request.target, origin: origin,
                                                            destination: request.destination, content: body, key: signingKey)
            else { throw .invalidResponse("the request body cannot be signed (not canonical JSON)") }
            headers.add(name: "Authorization", value: auth.headerValue)
        }
        let bytes = body?.encoded()
        if bytes != nil { headers.add(name: "Content-Type", value: "application/json") }
        return try await connect(resolved, method: request.method, target: request.target, headers: headers, body: bytes,
                                 timeout: request.timeout ?? settings.requestTimeout)
    }

    /// Looks up the addresses, drops those the address policy blocks, and sends to the first.
    private func connect(_ resolved: ResolvedServer, method: String, target: String, headers: HTTPHeaders, body: [UInt8]?,
                         timeout: Duration) async throws(FederationError) -> FederationResponse {
        let addresses: [IPAddress]
        do { addresses = try await settings.addressLookup.addresses(of: resolved.connectHost, port: resolved.port) } catch {
            throw .unreachable("cannot resolve \(resolved.connectHost): \(error)")
        }
        guard let address = addresses.first(where: settings.addressPolicy.permits) else {
            logger.warning("refused to contact a blocked address", metadata: ["host": "\(resolved.connectHost)",
                                                                                "addresses": "\(addresses)"])
            throw .blockedAddress("\(resolved.connectHost) resolves to \(addresses.map(\.description)) only")
        }
        do {
            return try await transport.execute(resolved, address: address, method: method, target: target, headers: headers,
                                               body: body, timeout: timeout)
        } catch let error as FederationError {
            throw error
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .connectTimeout || error == .readTimeout {
            throw .timeout
        } catch {
            throw .unreachable("\(resolved): \(error)")
        }
    }

    /// Fetches `https://<host>/.well-known/matrix/server`, following up to 5 redirects (each
    /// screened and address-checked again). Never throws: failures are a status-less answer.
    func fetchWellKnown(_ host: String) async -> WellKnownFetch {
        var currentHost = host
        var port = settings.wellKnownPort
        var path = "/.well-known/matrix/server"
        for _ in 0..<5 {
            guard let name = ServerName(port == 443 ? currentHost : "\(currentHost):\(port)") else { break }
            let item = EgressItem(kind: .discovery, destination: name, method: "GET", path: path, body: .none)
            guard case .allow = await screen(item) else { return WellKnownFetch(status: nil) }
            let resolved = ResolvedServer(connectHost: currentHost, port: port, hostHeader: port == 443 ? currentHost : name.rawValue,
                                          tlsName: currentHost, isIPLiteral: IPAddress(currentHost) != nil)
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: resolved.hostHeader)
            headers.add(name: "User-Agent", value: "Hearth")
            let response: FederationResponse
            do {
                response = try await connect(resolved, method: "GET", target: path, headers: headers, body: nil,
                                             timeout: .seconds(10))
            } catch {
                return WellKnownFetch(status: nil)
            }
            if (300..<400).contains(response.status), let location = response.headers["location"],
               let next = Self.redirectTarget(location, host: currentHost, port: port) {
                (currentHost, port, path) = next
                continue
            }
            return WellKnownFetch(status: response.status, cacheControl: response.headers["cache-control"], body: response.body)
        }
        return WellKnownFetch(status: nil)
    }

    /// An https redirect target as (host, port, path); relative locations keep the host.
    static func redirectTarget(_ location: String, host: String, port: Int) -> (String, Int, String)? {
        if location.hasPrefix("/") { return (host, port, location) }
        guard location.hasPrefix("https://") else { return nil }
        let rest = location.dropFirst("https://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard let name = ServerName(String(authority)) else { return nil }
        return (name.hostname, name.port ?? 443, path.isEmpty ? "/" : String(path))
    }
}

/// The HTTPS client. One AsyncHTTPClient per (TLS name, address), whose DNS override pins
/// the connection to the address the gate checked while SNI and certificate verification use
/// the name: no second lookup can send the connection somewhere else.
fileprivate final class HTTPTransport: Sendable {
    private let configuration: HTTPClient.Configuration
    private let clients = Mutex<[String: HTTPClient]>([:])
    private let maxResponseSize: Int
    private static let maxClients = 512

    init(settings: FederationTransportSettings) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !settings.customCAFiles.isEmpty {
            var roots: [NIOSSLCertificate] = []
            for file in settings.customCAFiles { roots += try NIOSSLCertificate.fromPEMFile(file) }
            tls.trustRoots = .certificates(roots)
        }
        if !settings.verifyCertificates { tls.certificateVerification = .none }
        func amount(_ duration: Duration) -> TimeAmount {
            .milliseconds(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: amount(settings.connectTimeout), read: amount(settings.requestTimeout)), proxy: nil,
            decompression: .disabled)
        configuration.httpVersion = .http1Only
        // A refused connection or a bad certificate fails the request at once: the outbound
        // queues and key fetches have their own retry policy.
        configuration.connectionPool.retryConnectionEstablishment = false
        self.configuration = configuration
        maxResponseSize = settings.maxResponseSize
    }

    private func client(tlsName: String, address: IPAddress, isIPLiteral: Bool) -> HTTPClient {
        let key = isIPLiteral ? "" : "\(tlsName)|\(address)"
        var evicted: HTTPClient?
        let client = clients.withLock { clients -> HTTPClient in
            if let existing = clients[key] { return existing }
            var configuration = self.configuration
            if !isIPLiteral { configuration.dnsOverride = [tlsName: address.description] }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            if clients.count >= Self.maxClients, let victim = clients.keys.first(where: { $0 != key }) {
                evicted = clients.removeValue(forKey: victim)
            }
            clients[key] = client
            return client
        }
        if let evicted { Task { try? await evicted.shutdown() } }
        return client
    }

    func execute(_ resolved: ResolvedServer, address: IPAddress, method: String, target: String, headers: HTTPHeaders,
                 body: [UInt8]?, timeout: Duration) async throws -> FederationResponse {
        let host = resolved.isIPLiteral ? address.urlHost : resolved.tlsName
        var request = HTTPClientRequest(url: "https://\(host):\(resolved.port)\(target)")
        request.method = HTTPMethod(rawValue: method)
        request.headers = headers
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let client = client(tlsName: resolved.tlsName, address: address, isIPLiteral: resolved.isIPLiteral)
        let response = try await client.execute(request, timeout: .milliseconds(
            timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        var buffer: ByteBuffer
        do { buffer = try await response.body.collect(upTo: maxResponseSize) } catch {
            throw FederationError.invalidResponse("response larger than \(maxResponseSize) bytes or cut short: \(error)")
        }
        var responseHeaders: [String: String] = [:]
        for (name, value) in response.headers { responseHeaders[name.lowercased()] = value }
        return FederationResponse(status: Int(response.status.code), headers: responseHeaders,
                                  body: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    func shutdown() async {
        let all = clients.withLock { clients -> [HTTPClient] in
            defer { clients.removeAll() }
            return Array(clients.values)
        }
        for client in all { try? await client.shutdown() }
    }
}

extension IPAddress {
    /// The address as a URL host (IPv6 in brackets).
    var urlHost: String { isIPv4 ? description : "[\(description)]" }
}
