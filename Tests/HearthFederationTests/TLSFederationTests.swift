import Foundation
import HearthCore
import HearthFederation
import HearthHTTP
import HearthStorage
import Testing

/// Two Hearth servers on loopback, over TLS with certificates from a CA the test creates.
@Suite(.serialized) struct TLSFederationTests {
    /// A signed test route that answers with the authenticated origin.
    static func whoami(_ e: FederationEndpoint) -> [Route] {
        [e.signed(.post, FederationEndpoint.federation("/hearth_test/whoami")) { request, origin in
            MatrixResponse(json: ["origin": .string(origin.rawValue), "echo": .object(try request.jsonBody())])
        }]
    }

    @Test func serversFetchEachOthersKeysOverTLS() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        let b = try await FedTestServer.start(host: "127.0.0.1", ca: ca)
        defer { Task { await a.destroy(); await b.destroy() } }

        let bKeys = try await a.federation.keyRing.fetchDirectly(b.name)
        #expect(bKeys.serverName == b.name)
        #expect(bKeys.verifyKeys[b.homeserver.signingKey.keyID]?.bytes == b.homeserver.signingKey.publicKey)
        let aKeys = try await b.federation.keyRing.fetchDirectly(a.name)
        #expect(aKeys.verifyKeys[a.homeserver.signingKey.keyID]?.bytes == a.homeserver.signingKey.publicKey)
        #expect(aKeys.validUntilTS > Int64(Date().timeIntervalSince1970 * 1000))

        // The key ring caches what it fetched and answers from it.
        let key = try await a.federation.keyRing.verifyKey(for: b.name, keyID: b.homeserver.signingKey.keyID, validAt: nil)
        #expect(key.bytes == b.homeserver.signingKey.publicKey)
        let stored = try await a.homeserver.storage.federation.serverKeys(of: b.name)
        #expect(stored.map(\.keyID) == [b.homeserver.signingKey.keyID])
    }

    @Test func signedRequestsAreAuthenticatedAcrossServers() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca, routes: Self.whoami)
        let b = try await FedTestServer.start(ca: ca, routes: Self.whoami)
        defer { Task { await a.destroy(); await b.destroy() } }

        let answer = try await a.federation.client.post(FederationPath.make("v1", "hearth_test", "whoami"),
                                                        json: ["n": 1], to: b.name)
        #expect(answer["origin"]?.stringValue == a.name.rawValue)
        #expect(answer["echo"]?["n"]?.intValue == 1)
        // And the other way.
        let back = try await b.federation.client.post(FederationPath.make("v1", "hearth_test", "whoami"), json: [:], to: a.name)
        #expect(back["origin"]?.stringValue == b.name.rawValue)

        // The gate saw every request and every response: A's request to B, B's key fetch
        // from A (to check the signature), and B's response to A.
        let aRecords = a.audit.records
        #expect(aRecords.contains { $0.kind == "request" && $0.destination == b.name.rawValue && $0.path.hasSuffix("/whoami") })
        #expect(b.audit.records.contains { $0.kind == "key_fetch" && $0.destination == a.name.rawValue })
        #expect(b.audit.records.contains { $0.kind == "response" && $0.destination == a.name.rawValue && $0.path.hasSuffix("/whoami") })
        #expect(a.audit.records.contains { $0.kind == "response" && $0.path == "/_matrix/key/v2/server" })
        #expect((a.audit.records + b.audit.records).allSatisfy { $0.decision == "allow" })
    }

    @Test func unsignedAndMisaddressedRequestsAreRefused() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca, routes: Self.whoami)
        let b = try await FedTestServer.start(ca: ca, routes: Self.whoami)
        defer { Task { await a.destroy(); await b.destroy() } }
        // Unsigned: the key-fetch path sends no Authorization header.
        let request = MatrixRequest(method: .post, pathParameters: [:], query: [:], headers: [:], body: Array("{}".utf8),
                                    remoteAddress: nil, uri: "/_matrix/federation/v1/hearth_test/whoami")
        await #expect(throws: MatrixError.self) { try await b.federation.endpoint.authenticate(request) }

        // Signed by A for another destination: 401 M_UNAUTHORIZED.
        let auth = try XMatrixAuthorization.sign(method: "POST", uri: "/_matrix/federation/v1/hearth_test/whoami", origin: a.name,
                                                 destination: ServerName("elsewhere.example")!, content: .object([:]),
                                                 key: a.homeserver.signingKey)
        let misaddressed = MatrixRequest(method: .post, pathParameters: [:], query: [:], headers: [.authorization: auth.headerValue],
                                         body: Array("{}".utf8), remoteAddress: nil, uri: "/_matrix/federation/v1/hearth_test/whoami")
        do {
            _ = try await b.federation.endpoint.authenticate(misaddressed)
            Issue.record("a request for another destination was accepted")
        } catch {
            #expect(error.code == .unauthorized && error.status == 401)
        }
    }

    @Test func untrustedCertificateIsRefused() async throws {
        let ca = try TestCA()
        let otherCA = try TestCA()
        defer { ca.remove(); otherCA.remove() }
        let b = try await FedTestServer.start(ca: ca)
        // A trusts a different CA: B's certificate does not verify.
        let a = try await FedTestServer.start(ca: otherCA)
        defer { Task { await a.destroy(); await b.destroy() } }
        do {
            _ = try await a.federation.keyRing.fetchDirectly(b.name)
            Issue.record("a certificate from an untrusted CA was accepted")
        } catch let error as FederationError {
            guard case .unreachable = error else { Issue.record("unexpected \(error)"); return }
        }
    }

    @Test func loopbackIsRefusedUnlessAllowed() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let b = try await FedTestServer.start(ca: ca)
        let a = try await FedTestServer.start(ca: ca, configure: { $0.federation.ipRangeWhitelist = [] })
        defer { Task { await a.destroy(); await b.destroy() } }
        for target in [b.name, ServerName("127.0.0.1:\(b.port)")!, ServerName("[::1]:\(b.port)")!] {
            do {
                _ = try await a.federation.client.get("/_matrix/federation/v1/version", from: target)
                Issue.record("\(target) was contacted")
            } catch {
                guard case .blockedAddress = error else { Issue.record("unexpected \(error)"); continue }
            }
        }
    }

    @Test func egressPolicyCanRefuseAndReshape() async throws {
        struct Policy: EgressPolicy {
            func decide(_ item: EgressItem) async -> EgressDecision {
                if item.path.hasSuffix("/whoami"), case .json(let body) = item.body, body["secret"] != nil {
                    return .refuse(reason: "secret")
                }
                if item.kind == .response, item.path.hasSuffix("/version") {
                    return .reshape(.json(["server": ["name": "withheld"]]), reason: "no fingerprinting")
                }
                return .allow
            }
        }
        let ca = try TestCA()
        defer { ca.remove() }
        let b = try await FedTestServer.start(ca: ca, policy: Policy(), routes: Self.whoami)
        let a = try await FedTestServer.start(ca: ca, policy: Policy(), routes: Self.whoami)
        defer { Task { await a.destroy(); await b.destroy() } }
        do {
            _ = try await a.federation.client.post(FederationPath.make("v1", "hearth_test", "whoami"), json: ["secret": "x"], to: b.name)
            Issue.record("a refused request left")
        } catch {
            guard case .refused = error else { Issue.record("unexpected \(error)"); return }
        }
        #expect(!b.audit.records.contains { $0.path.hasSuffix("/whoami") })
        #expect(a.audit.records.contains { $0.decision == "refuse" && $0.reason == "secret" })
        let version = try await a.federation.client.get("/_matrix/federation/v1/version", from: b.name)
        #expect(version["server"]?["name"]?.stringValue == "withheld")
        #expect(b.audit.records.contains { $0.decision == "reshape" && $0.kind == "response" })
    }

    @Test func wellKnownDelegatesToAPort() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let b = try await FedTestServer.start(ca: ca, configure: { config in
            config.federation.serveServerWellKnown = true
            config.publicBaseURL = "https://localhost:\(config.listeners[0].port)/"
        })
        // A looks up well-known on B's port instead of 443.
        let a = try await FedTestServer.start(ca: ca, transport: { $0.wellKnownPort = b.port })
        defer { Task { await a.destroy(); await b.destroy() } }
        let resolved = await a.federation.gate.resolve(ServerName("localhost")!)
        #expect(resolved == ResolvedServer(connectHost: "localhost", port: b.port, hostHeader: "localhost:\(b.port)",
                                           tlsName: "localhost", isIPLiteral: false))
        // The delegated name reaches B: its keys come back under the name "localhost:port".
        #expect(a.audit.records.contains { $0.kind == "discovery" && $0.path == "/.well-known/matrix/server" })
    }
}
