#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HearthCore
import HearthFederation
import Synchronization
import Testing

/// Fixed SRV answers.
struct FixedSRV: SRVResolver {
    let records: [String: [SRVRecord]]
    func srvRecords(for name: String) async throws -> [SRVRecord] { records[name] ?? [] }
}

@Suite struct DiscoveryTests {
    func resolve(_ name: String, wellKnown: WellKnownFetch = WellKnownFetch(status: 404), srv: [String: [SRVRecord]] = [:]) async -> ResolvedServer {
        let resolver = ServerResolver(srv: FixedSRV(records: srv), now: { 0 })
        return await resolver.resolve(ServerName(name)!) { _ in wellKnown }
    }

    func json(_ text: String, cache: String? = nil) -> WellKnownFetch { WellKnownFetch(status: 200, cacheControl: cache, body: Array(text.utf8)) }

    @Test func ipLiteralsAndExplicitPorts() async {
        #expect(await resolve("1.2.3.4") == ResolvedServer(connectHost: "1.2.3.4", port: 8448, hostHeader: "1.2.3.4", tlsName: "1.2.3.4", isIPLiteral: true))
        #expect(await resolve("1.2.3.4:99") == ResolvedServer(connectHost: "1.2.3.4", port: 99, hostHeader: "1.2.3.4:99", tlsName: "1.2.3.4", isIPLiteral: true))
        #expect(await resolve("[::1]:99") == ResolvedServer(connectHost: "::1", port: 99, hostHeader: "[::1]:99", tlsName: "::1", isIPLiteral: true))
        // With a port, neither well-known nor SRV is consulted.
        #expect(await resolve("example.org:99", wellKnown: json(#"{"m.server":"other.org:1"}"#)) ==
                ResolvedServer(connectHost: "example.org", port: 99, hostHeader: "example.org:99", tlsName: "example.org", isIPLiteral: false))
    }

    @Test func wellKnownDelegation() async {
        #expect(await resolve("example.org", wellKnown: json(#"{"m.server":"matrix.example.org:443"}"#)) ==
                ResolvedServer(connectHost: "matrix.example.org", port: 443, hostHeader: "matrix.example.org:443",
                               tlsName: "matrix.example.org", isIPLiteral: false))
        #expect(await resolve("example.org", wellKnown: json(#"{"m.server":"10.0.0.1"}"#)) ==
                ResolvedServer(connectHost: "10.0.0.1", port: 8448, hostHeader: "10.0.0.1", tlsName: "10.0.0.1", isIPLiteral: true))
        // Delegated without a port: SRV of the delegated host; Host and TLS name stay the delegated host.
        let srv = ["_matrix-fed._tcp.matrix.example.org": [SRVRecord(priority: 10, weight: 0, port: 8000, target: "fed.example.org")]]
        #expect(await resolve("example.org", wellKnown: json(#"{"m.server":"matrix.example.org"}"#), srv: srv) ==
                ResolvedServer(connectHost: "fed.example.org", port: 8000, hostHeader: "matrix.example.org",
                               tlsName: "matrix.example.org", isIPLiteral: false))
        #expect(await resolve("example.org", wellKnown: json(#"{"m.server":"matrix.example.org"}"#)) ==
                ResolvedServer(connectHost: "matrix.example.org", port: 8448, hostHeader: "matrix.example.org",
                               tlsName: "matrix.example.org", isIPLiteral: false))
    }

    @Test func invalidWellKnownFallsBackToSRVThenDefaultPort() async {
        let srv = ["_matrix-fed._tcp.example.org": [SRVRecord(priority: 20, weight: 0, port: 1, target: "b.example.org"),
                                                    SRVRecord(priority: 10, weight: 5, port: 2, target: "a.example.org")],
                   "_matrix._tcp.legacy.org": [SRVRecord(priority: 0, weight: 0, port: 3, target: "old.legacy.org")]]
        for bad in [WellKnownFetch(status: nil), WellKnownFetch(status: 500), json("not json"), json(#"{"m.server": 5}"#),
                    json(#"{"m.server": "bad name!"}"#)] {
            #expect(await resolve("example.org", wellKnown: bad, srv: srv) ==
                    ResolvedServer(connectHost: "a.example.org", port: 2, hostHeader: "example.org", tlsName: "example.org", isIPLiteral: false))
        }
        #expect(await resolve("legacy.org", srv: srv) ==
                ResolvedServer(connectHost: "old.legacy.org", port: 3, hostHeader: "legacy.org", tlsName: "legacy.org", isIPLiteral: false))
        #expect(await resolve("plain.org", srv: srv) ==
                ResolvedServer(connectHost: "plain.org", port: 8448, hostHeader: "plain.org", tlsName: "plain.org", isIPLiteral: false))
    }

    @Test func wellKnownAnswersAreCachedPerCacheControl() async {
        let clock = Mutex<Int64>(0)
        let calls = Mutex(0)
        let resolver = ServerResolver(srv: FixedSRV(records: [:]), now: { clock.withLock { $0 } })
        let fetch: @Sendable (String) async -> WellKnownFetch = { _ in
            calls.withLock { $0 += 1 }
            return WellKnownFetch(status: 200, cacheControl: "public, max-age=60", body: Array(#"{"m.server":"m.example.org:1"}"#.utf8))
        }
        _ = await resolver.resolve(ServerName("example.org")!, fetchWellKnown: fetch)
        _ = await resolver.resolve(ServerName("example.org")!, fetchWellKnown: fetch)
        #expect(calls.withLock { $0 } == 1)
        clock.withLock { $0 = 61_000 }
        _ = await resolver.resolve(ServerName("example.org")!, fetchWellKnown: fetch)
        #expect(calls.withLock { $0 } == 2)
        #expect(ServerResolver.interpret(json(#"{"m.server":"a.b"}"#)).lifetime == 24 * 3_600_000)
        #expect(ServerResolver.interpret(json(#"{"m.server":"a.b"}"#, cache: "max-age=999999999")).lifetime == 48 * 3_600_000)
    }

    @Test func addressPolicyRefusesPrivateRanges() {
        let policy = AddressPolicy()
        for blocked in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1",
                        "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::", "224.0.0.1"] {
            #expect(!policy.permits(IPAddress(blocked)!), "\(blocked)")
        }
        for allowed in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "172.32.0.1"] {
            #expect(policy.permits(IPAddress(allowed)!), "\(allowed)")
        }
        let loopback = AddressPolicy(allowed: [IPRange("127.0.0.0/8")!])
        #expect(loopback.permits(IPAddress("127.0.0.1")!))
        #expect(!loopback.permits(IPAddress("10.0.0.1")!))
        #expect(!loopback.permits(IPAddress("0.0.0.0")!), "the unspecified address is never allowed")
        #expect(IPRange("2001:db8::/32")!.contains(IPAddress("2001:db8:1::5")!))
        #expect(!IPRange("2001:db8::/32")!.contains(IPAddress("2001:db9::")!))
        #expect(IPAddress("1:2:3:4:5:6:7:8")?.description == "1:2:3:4:5:6:7:8")
        #expect(IPAddress("1.2.3") == nil && IPAddress("1::2::3") == nil && IPAddress("256.1.1.1") == nil)
    }

    @Test func srvOverUDPToALoopbackNameserver() async throws {
        // A one-shot DNS server on loopback answering with two SRV records.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let records = [SRVRecord(priority: 10, weight: 5, port: 8448, target: "fed.example.org"),
                       SRVRecord(priority: 20, weight: 0, port: 443, target: "backup.example.org")]
        let server = Thread {
            var buffer = [UInt8](repeating: 0, count: 512)
            var peer = sockaddr_in()
            var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
            let count = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &peerLength) }
            }
            guard count > 0 else { return }
            let reply = DNSMessage.srvReply(to: Array(buffer[0..<count]), records: records)
            _ = withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, reply, reply.count, 0, $0, peerLength) } }
        }
        server.start()
        let resolver = UDPSRVResolver(nameservers: [("127.0.0.1", port)], timeout: .seconds(5))
        #expect(try await resolver.srvRecords(for: "_matrix-fed._tcp.example.org") == records)
    }

    @Test func dnsAnswersWithCompressionAndNXDomain() throws {
        let query = DNSMessage.query(id: 7, name: "_matrix._tcp.example.org", type: DNSMessage.typeSRV)
        // A hand-built reply whose answer name and target use compression pointers.
        var reply = [0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0] + Array(query[12...])
        reply += [0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 12, 0, 1, 0, 2, 0x20, 0xFB, 3] + Array("fed".utf8) + [0xC0, 25]
        let records = try DNSMessage.parseSRVAnswer(reply, id: 7)
        #expect(records == [SRVRecord(priority: 1, weight: 2, port: 8443, target: "fed.example.org")])
        #expect(throws: (any Error).self) { try DNSMessage.parseSRVAnswer(reply, id: 8) }
        let nx = DNSMessage.srvReply(to: query, records: [])
        #expect(throws: (any Error).self) { try DNSMessage.parseSRVAnswer(nx, id: 7) }
    }
}
