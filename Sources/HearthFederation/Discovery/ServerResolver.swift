public import HearthCore
public import HearthStorage
import Foundation
import Synchronization

/// Where and how to reach a server: the outcome of server name resolution.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#resolving-server-names
public struct ResolvedServer: Hashable, Sendable, CustomStringConvertible {
    /// The host name or IP literal to look up and connect to (an SRV target, a delegated
    /// host, or the server name's host).
    public var connectHost: String
    public var port: Int
    /// The `Host` header to send.
    public var hostHeader: String
    /// The name the certificate must be valid for, sent as SNI; an IP literal's address
    /// (then no SNI is sent and the certificate must name the IP).
    public var tlsName: String
    public var isIPLiteral: Bool

    public init(connectHost: String, port: Int, hostHeader: String, tlsName: String, isIPLiteral: Bool) {
        self.connectHost = connectHost
        self.port = port
        self.hostHeader = hostHeader
        self.tlsName = tlsName
        self.isIPLiteral = isIPLiteral
    }

    public var description: String { "\(connectHost):\(port) (Host: \(hostHeader), TLS name: \(tlsName))" }
}

/// A `/.well-known/matrix/server` answer as fetched, before interpretation.
public struct WellKnownFetch: Sendable {
    /// HTTP status, or nil when the request failed (DNS, connection, TLS, refused).
    public var status: Int?
    public var cacheControl: String?
    public var body: [UInt8]

    public init(status: Int?, cacheControl: String? = nil, body: [UInt8] = []) {
        self.status = status
        self.cacheControl = cacheControl
        self.body = body
    }
}

/// Resolves server names, following the spec's steps in order, with a cache for well-known
/// answers. The network parts (well-known fetch, SRV lookup) are passed in, so the logic is
/// tested with fixed answers.
public final class ServerResolver: Sendable {
    private struct CachedWellKnown {
        var delegated: ServerName?
        var expires: Milliseconds
        var failures: Int
    }

    private let srv: any SRVResolver
    private let now: @Sendable () -> Milliseconds
    private let wellKnownCache = Mutex<[String: CachedWellKnown]>([:])
    private let srvCache = Mutex<[String: (records: [SRVRecord], expires: Milliseconds)]>([:])

    public static let defaultPort = 8448
    static let hour: Milliseconds = 3_600_000

    public init(srv: any SRVResolver, now: @escaping @Sendable () -> Milliseconds) {
        self.srv = srv
        self.now = now
    }

    /// Resolves `server`. `fetchWellKnown` is called with a host name (at most once per
    /// cache period) and must follow redirects itself.
    public func resolve(_ server: ServerName, fetchWellKnown: @Sendable (String) async -> WellKnownFetch) async -> ResolvedServer {
        // Step 1: an IP literal, with its port or 8448.
        if server.isIPLiteral {
            return ResolvedServer(connectHost: server.hostname, port: server.port ?? Self.defaultPort, hostHeader: server.rawValue,
                                  tlsName: server.hostname, isIPLiteral: true)
        }
        // Step 2: a host name with an explicit port.
        if let port = server.port {
            return ResolvedServer(connectHost: server.hostname, port: port, hostHeader: server.rawValue, tlsName: server.hostname,
                                  isIPLiteral: false)
        }
        // Step 3: /.well-known/matrix/server.
        if let delegated = await wellKnown(server.hostname, fetch: fetchWellKnown) {
            if delegated.isIPLiteral {
                return ResolvedServer(connectHost: delegated.hostname, port: delegated.port ?? Self.defaultPort,
                                      hostHeader: delegated.rawValue, tlsName: delegated.hostname, isIPLiteral: true)
            }
            if let port = delegated.port {
                return ResolvedServer(connectHost: delegated.hostname, port: port, hostHeader: delegated.rawValue,
                                      tlsName: delegated.hostname, isIPLiteral: false)
            }
            return await viaSRV(delegated.hostname)
        }
        // Steps 4–6: SRV for the server's own host name, then 8448.
        return await viaSRV(server.hostname)
    }

    /// `_matrix-fed._tcp`, then the deprecated `_matrix._tcp`, then the host itself on 8448.
    /// The Host header and the certificate name stay `host`, whatever the SRV target is.
    private func viaSRV(_ host: String) async -> ResolvedServer {
        for service in ["_matrix-fed._tcp.", "_matrix._tcp."] {
            let records = await srvRecords(service + host)
            // A single record with target "." says the service is decidedly not available.
            if records.count == 1, records[0].target.isEmpty { break }
            if let best = records.filter({ !$0.target.isEmpty }).sorted(by: {
                ($0.priority, UInt16.max - $0.weight) < ($1.priority, UInt16.max - $1.weight)
            }).first {
                return ResolvedServer(connectHost: best.target, port: Int(best.port), hostHeader: host, tlsName: host,
                                      isIPLiteral: false)
            }
        }
        return ResolvedServer(connectHost: host, port: Self.defaultPort, hostHeader: host, tlsName: host, isIPLiteral: false)
    }

    private func srvRecords(_ name: String) async -> [SRVRecord] {
        let time = now()
        if let cached = srvCache.withLock({ $0[name] }), cached.expires > time { return cached.records }
        let records: [SRVRecord]
        do { records = try await srv.srvRecords(for: name) } catch { records = [] }
        srvCache.withLock { $0[name] = (records, time + Self.hour) }
        return records
    }

    /// The delegated server name from a (cached) well-known answer, or nil when there is none.
    private func wellKnown(_ host: String, fetch: @Sendable (String) async -> WellKnownFetch) async -> ServerName? {
        let time = now()
        let cached = wellKnownCache.withLock { $0[host] }
        if let cached, cached.expires > time { return cached.delegated }
        let answer = await fetch(host)
        let (delegated, lifetime) = Self.interpret(answer)
        let failures = delegated == nil ? (cached?.failures ?? 0) + 1 : 0
        // Errors: cached for 5 minutes, doubling with each repeated failure, at most an hour.
        let expiry = delegated == nil ? min(Self.hour, 300_000 << min(failures - 1, 4)) : lifetime
        wellKnownCache.withLock { $0[host] = CachedWellKnown(delegated: delegated, expires: time + expiry, failures: failures) }
        return delegated
    }

    /// Reads a well-known answer: the delegated name and how long to cache it (the response's
    /// `Cache-Control: max-age`, 24 hours without one, never more than 48 hours).
    public static func interpret(_ answer: WellKnownFetch) -> (delegated: ServerName?, lifetime: Milliseconds) {
        guard answer.status == 200, let object = try? JSONValue.parse(answer.body).objectValue,
              let text = object["m.server"]?.stringValue, let name = ServerName(text)
        else { return (nil, 0) }
        var lifetime: Milliseconds = 24 * hour
        if let control = answer.cacheControl?.lowercased() {
            for directive in control.split(separator: ",") {
                let parts = directive.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts[0] == "no-store" || parts[0] == "no-cache" { lifetime = 0 }
                if parts[0] == "max-age", parts.count == 2, let seconds = Int64(parts[1]) { lifetime = seconds * 1000 }
            }
        }
        return (name, min(lifetime, 48 * hour))
    }

    /// Forgets cached answers (tests, and an operator's config reload).
    public func clearCaches() {
        wellKnownCache.withLock { $0.removeAll() }
        srvCache.withLock { $0.removeAll() }
    }
}
