import Foundation
import HearthCore
import HearthFederation
import HearthHTTP
import HearthServer
import HearthStorage
import Testing

/// Notary queries, rotation, certificate reload, request targets, listeners and config.
@Suite(.serialized) struct MoreFederationTests {
    @Test func notaryServesAndCounterSignsKeysAndIsUsedWhenTheServerIsDown() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let b = try await FedTestServer.start(ca: ca)
        let notary = try await FedTestServer.start(ca: ca)
        // The notary learns B's keys by being asked for them.
        let answer = try await notary.federation.client.post("/_matrix/key/v2/query",
                                                             json: ["server_keys": [b.name.rawValue: [:]]], to: notary.name)
        let entries = answer["server_keys"]?.arrayValue ?? []
        #expect(entries.count == 1)
        let entry = try #require(entries.first?.objectValue)
        #expect(entry["server_name"]?.stringValue == b.name.rawValue)
        #expect(JSONSigning.ed25519KeyIDs(in: entry, by: notary.name.rawValue) == [notary.homeserver.signingKey.keyID])
        #expect(JSONSigning.ed25519KeyIDs(in: entry, by: b.name.rawValue) == [b.homeserver.signingKey.keyID])
        // The GET form answers the same keys; the notary also answers for itself.
        let single = try await notary.federation.client.get("/_matrix/key/v2/query/" + FederationPath.encodeSegment(notary.name.rawValue),
                                                            from: notary.name)
        #expect(single["server_keys"]?.arrayValue?.first?["server_name"]?.stringValue == notary.name.rawValue)

        // B goes down; A, which trusts the notary (with its key pinned), still gets B's key.
        let bKey = b.homeserver.signingKey
        let bName = b.name
        await b.destroy()
        let a = try await FedTestServer.start(ca: ca, configure: { config in
            config.federation.trustedKeyServers = [TrustedKeyServer(
                serverName: notary.name, verifyKeys: [notary.homeserver.signingKey.keyID: VerifyKey(bytes: notary.homeserver.signingKey.publicKey)!])]
        })
        defer { Task { await a.destroy(); await notary.destroy() } }
        let key = try await a.federation.keyRing.verifyKey(for: bName, keyID: bKey.keyID, validAt: nil)
        #expect(key.bytes == bKey.publicKey)
        #expect(a.audit.records.contains { $0.kind == "key_fetch" && $0.destination == notary.name.rawValue && $0.path == "/_matrix/key/v2/query" })
    }

    @Test func aRotatedKeyIsPublishedAsOldAfterRestart() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        let first = a.homeserver.signingKey
        await a.stop()
        let (retired, new) = try LocalServerKeys.rotate(signingKeyPath: a.config.signingKeyPath,
                                                        oldKeysPath: a.config.federation.oldSigningKeysPath, now: 1_234)
        #expect(retired == first.keyID)
        let restarted = try await FedTestServer.start(ca: ca, port: a.port, directory: a.config.dataDirectory)
        let b = try await FedTestServer.start(ca: ca)
        defer { Task { await restarted.destroy(); await b.destroy() } }
        #expect(restarted.homeserver.signingKey.keyID == new.keyID)
        let keys = try await b.federation.keyRing.fetchDirectly(restarted.name)
        #expect(keys.verifyKeys.keys.sorted() == [new.keyID])
        #expect(keys.oldVerifyKeys[first.keyID]?.key.bytes == first.publicKey)
        #expect(keys.oldVerifyKeys[first.keyID]?.expiredTS == 1_234)
        // The old key verifies events from before its expiry, not after.
        _ = try await b.federation.keyRing.verifyKey(for: restarted.name, keyID: first.keyID, validAt: 1_000)
        await #expect(throws: KeyRingError.self) {
            try await b.federation.keyRing.verifyKey(for: restarted.name, keyID: first.keyID, validAt: 2_000)
        }
    }

    @Test func renewedCertificatesAreServedWithoutRestart() async throws {
        let ca = try TestCA()
        let otherCA = try TestCA()
        defer { ca.remove(); otherCA.remove() }
        // B's certificate comes from a CA A does not trust…
        let b = try await FedTestServer.start(ca: otherCA)
        let a = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy() } }
        await #expect(throws: FederationError.self) { try await a.federation.keyRing.fetchDirectly(b.name) }
        // …until the operator replaces the files with one from the trusted CA.
        let (certificate, key) = try ca.issue("renewed")
        try Data(contentsOf: URL(fileURLWithPath: certificate)).write(to: URL(fileURLWithPath: b.config.tlsCertificatePath!))
        try Data(contentsOf: URL(fileURLWithPath: key)).write(to: URL(fileURLWithPath: b.config.tlsPrivateKeyPath!))
        try await Task.sleep(for: .milliseconds(1_100))
        let keys = try await a.federation.keyRing.fetchDirectly(b.name)
        #expect(keys.serverName == b.name)
    }

    @Test func signaturesCoverTheEncodedTargetWithItsQuery() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let routes: @Sendable (FederationEndpoint) -> [Route] = { e in
            [e.signed(.get, FederationEndpoint.federation("/hearth_test/room/{roomId}")) { request, origin in
                MatrixResponse(json: ["room": .string(try request.path("roomId")), "q": .string(request.query("event_id") ?? "")])
            }]
        }
        let b = try await FedTestServer.start(ca: ca, routes: routes)
        let a = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy() } }
        let answer = try await a.federation.client.get(FederationPath.make("v1", "hearth_test", "room", "!r/o+o m:ex.org"),
                                                       query: [("event_id", "$e&v=nt:x")], from: b.name)
        #expect(answer["room"]?.stringValue == "!r/o+o m:ex.org")
        #expect(answer["q"]?.stringValue == "$e&v=nt:x")
    }

    @Test func federationIsServedOnlyWhereTheListenerAsks() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let b = try await FedTestServer.start(ca: ca, configure: { $0.listeners[0].resources = ["client"] })
        let a = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy() } }
        do {
            _ = try await a.federation.client.get("/_matrix/federation/v1/version", from: b.name)
            Issue.record("a client-only listener served federation")
        } catch {
            #expect(error.errcode == "M_UNRECOGNIZED")
        }
        let version = try await b.federation.client.get("/_matrix/federation/v1/version", from: a.name)
        #expect(version["server"]?["name"]?.stringValue == "Hearth")
    }

    @Test func roomServerACLIsApplied() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy() } }
        let alice = UserID("@alice:\(a.name.rawValue)")!
        _ = try await a.homeserver.accounts.createAccount(userID: alice, password: nil, inhibitLogin: true)
        let open = try await a.homeserver.rooms.createRoom([:], by: alice, creatorProfile: (nil, nil))
        let guarded = try await a.homeserver.rooms.createRoom([
            "initial_state": [["type": "m.room.server_acl", "state_key": "",
                               "content": ["allow": ["*"], "deny": ["*.evil.example"], "allow_ip_literals": false]]],
        ], by: alice, creatorProfile: (nil, nil))
        let endpoint = a.federation.endpoint
        try await endpoint.requireServerACL(ServerName("matrix.evil.example")!, roomID: open)
        try await endpoint.requireServerACL(ServerName("good.example:8448")!, roomID: guarded)
        for denied in ["matrix.evil.example", "1.2.3.4:8448"] {
            do {
                try await endpoint.requireServerACL(ServerName(denied)!, roomID: guarded)
                Issue.record("\(denied) passed the ACL")
            } catch let error as MatrixError {
                #expect(error.code == .forbidden && error.status == 403)
            }
        }
    }

    @Test func federationConfigurationIsParsed() throws {
        let yaml = """
            server_name: example.org
            trusted_key_servers:
              - server_name: notary.example.org
                verify_keys:
                  "ed25519:auto": "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"
            ip_range_blacklist: ['10.0.0.0/8']
            federation_ip_range_blacklist: ['192.168.0.0/16']
            ip_range_whitelist: ['10.1.0.0/16']
            federation_custom_ca_list: ['ca.pem']
            serve_server_wellknown: true
            federation:
              destination_min_retry_interval: 30s
              destination_retry_multiplier: 3
              destination_max_retry_interval: 1d
            """
        let config = try HearthConfig.parse(yaml: yaml, baseDirectory: "/etc/hearth")
        #expect(config.federation.trustedKeyServers.map(\.serverName.rawValue) == ["notary.example.org"])
        #expect(config.federation.trustedKeyServers.first?.verifyKeys["ed25519:auto"] != nil)
        let policy = config.federation.settings().transport.addressPolicy
        #expect(!policy.permits(IPAddress("10.2.0.1")!) && policy.permits(IPAddress("10.1.2.3")!))
        #expect(!policy.permits(IPAddress("192.168.1.1")!) && policy.permits(IPAddress("127.0.0.1")!))
        #expect(config.federation.customCAList == ["/etc/hearth/ca.pem"])
        #expect(config.federation.serveServerWellKnown)
        #expect(config.federation.backoff == DestinationQueue.Backoff(minimum: 30_000, multiplier: 3, maximum: 86_400_000))
        #expect(config.federation.oldSigningKeysPath.hasSuffix("/old_signing_keys"))
        #expect(throws: ConfigError.self) {
            try HearthConfig.parse(yaml: "server_name: a.b\nip_range_whitelist: ['nonsense']\n", baseDirectory: "/")
        }
        #expect(throws: ConfigError.self) {
            try HearthConfig.parse(yaml: "server_name: a.b\nfederation:\n  destination_min_retry_intervl: 1s\n", baseDirectory: "/")
        }
    }
}

/// The key response checked by Python's signedjson (Tests/Interop/reference.py), with
/// `HEARTH_INTEROP=1`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_INTEROP"] == "1", "set HEARTH_INTEROP=1"))
struct KeyInteropTests {
    @Test func serverKeysVerifyWithSignedjson() throws {
        let key = SigningKey.generate(version: "interop")
        let keys = LocalServerKeys(serverName: ServerName("hearth.test")!, current: key,
                                   old: [OldVerifyKey(keyID: "ed25519:old", publicKey: key.publicKey, expiredTS: 5)])
        let response = keys.serverKeysResponse(now: 1_000)
        var tampered = response
        tampered["valid_until_ts"] = 99
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let request: JSONValue = ["tasks": [[
            "op": "verify_json", "objects": [.object(response), .object(tampered)], "entity": "hearth.test",
            "key_id": .string(key.keyID), "verify_key": .string(key.publicKeyBase64),
        ]]]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-keys-\(UUID().uuidString).json")
        try Data(request.encoded()).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = root.appendingPathComponent(".venv/bin/python3")
        process.arguments = [root.appendingPathComponent("Tests/Interop/reference.py").path, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let result = try JSONValue.parse(Array(output))
        #expect(result["results"]?.arrayValue?.first?["valid"] == [true, false])
    }
}
