import Foundation
import HearthCore
import HearthFederation
import HearthHTTP
import HearthStorage
import HearthStorageSQLite
import Logging
import Testing

/// Never resolves anything: key rings in these tests must not reach any network.
struct NoAddresses: AddressLookup {
    func addresses(of host: String, port: Int) async throws -> [IPAddress] { throw Unresolvable() }
    struct Unresolvable: Error {}
}

/// A key ring for `local` over a fresh SQLite store, with no way to fetch.
struct KeyRingFixture {
    let local: LocalServerKeys
    let storage: SQLiteStorage
    let keyRing: KeyRing
    let endpoint: FederationEndpoint
    let directory: String
    static let now: Int64 = 1_800_000_000_000

    init(local: LocalServerKeys) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        storage = try SQLiteStorage(path: directory + "/db.sqlite")
        self.local = local
        let gate = try EgressGate(origin: local.serverName, signingKey: local.current,
                                  settings: FederationTransportSettings(srvResolver: NoSRV(), addressLookup: NoAddresses()),
                                  audit: InMemoryAuditSink(), logger: Logger(label: "test"), now: { Self.now })
        keyRing = KeyRing(local: local, store: storage.federation, client: FederationClient(gate: gate), logger: Logger(label: "test"),
                          now: { Self.now })
        endpoint = FederationEndpoint(serverName: local.serverName, keyRing: keyRing, gate: gate, now: { Self.now })
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite struct KeyTests {
    let localKey = try! SigningKey(seed: Array(repeating: 1, count: 32), version: "local")
    let remoteKey = try! SigningKey(seed: Array(repeating: 2, count: 32), version: "r1")
    let remote = ServerName("remote.example")!

    @Test func keyResponseIsSelfSignedAndListsOldKeys() throws {
        let old = OldVerifyKey(keyID: "ed25519:old", publicKey: remoteKey.publicKey, expiredTS: 1000)
        let keys = LocalServerKeys(serverName: ServerName("hearth.test")!, current: localKey, old: [old])
        let response = keys.serverKeysResponse(now: 5000)
        #expect(response["valid_until_ts"]?.intValue == 5000 + keys.validityPeriod)
        #expect(response["old_verify_keys"]?["ed25519:old"]?["expired_ts"]?.intValue == 1000)
        let parsed = try ServerKeysResponse(json: response, expectedServer: ServerName("hearth.test")!)
        #expect(parsed.verifyKeys["ed25519:local"]?.bytes == localKey.publicKey)
        // Stored keys: the current one until min(valid_until_ts, now + 7 days), the old one until expired_ts.
        let stored = parsed.storedKeys(fetchedAt: 5000)
        #expect(stored.first { $0.keyID == "ed25519:local" }?.validUntil == 5000 + keys.validityPeriod)
        let oldStored = stored.first { $0.keyID == "ed25519:old" }
        #expect(oldStored?.validUntil == 1000 && oldStored?.isOld == true)

        var tampered = response
        tampered["valid_until_ts"] = .int(9_999_999_999_999)
        #expect(throws: KeyRingError.self) { try ServerKeysResponse(json: tampered, expectedServer: ServerName("hearth.test")!) }
        #expect(throws: KeyRingError.self) { try ServerKeysResponse(json: response, expectedServer: ServerName("other.test")!) }
    }

    @Test func validityIsCappedAtSevenDays() throws {
        let keys = LocalServerKeys(serverName: remote, current: remoteKey, validityPeriod: 365 * 86_400_000)
        let parsed = try ServerKeysResponse(json: keys.serverKeysResponse(now: 0), expectedServer: remote)
        #expect(parsed.storedKeys(fetchedAt: 0).first?.validUntil == ServerKeysResponse.maximumValidity)
    }

    @Test func rotationRetiresTheKeyAndPublishesIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-rotate-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyPath = directory + "/signing.key"
        try (localKey.synapseKeyFileLine + "\n").write(toFile: keyPath, atomically: true, encoding: .utf8)
        let (retired, new) = try LocalServerKeys.rotate(signingKeyPath: keyPath, oldKeysPath: directory + "/old_signing_keys", now: 42)
        #expect(retired == localKey.keyID)
        #expect(new.keyID != localKey.keyID)
        let line = try String(contentsOfFile: keyPath, encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(try SigningKey(synapseKeyFileLine: line).publicKey == new.publicKey)
        let old = try LocalServerKeys.loadOldKeys(path: directory + "/old_signing_keys")
        #expect(old == [OldVerifyKey(keyID: localKey.keyID, publicKey: localKey.publicKey, expiredTS: 42)])
        let (second, _) = try LocalServerKeys.rotate(signingKeyPath: keyPath, oldKeysPath: directory + "/old_signing_keys", now: 43)
        #expect(second == new.keyID)
        #expect(try LocalServerKeys.loadOldKeys(path: directory + "/old_signing_keys").count == 2)
    }

    func store(_ fixture: KeyRingFixture, validUntil: Int64, old: Bool = false) async throws {
        try await fixture.storage.federation.storeServerKeys([
            StoredServerKey(server: remote, keyID: remoteKey.keyID, publicKey: remoteKey.publicKey, validUntil: validUntil, isOld: old,
                            fetchedAt: 0, response: [:]),
        ])
    }

    func request(signedWith key: SigningKey, destination: ServerName, body: JSONValue = ["a": 1]) throws -> MatrixRequest {
        let uri = "/_matrix/federation/v1/query/profile?user_id=%40a%3Ahearth.test"
        let auth = try XMatrixAuthorization.sign(method: "GET", uri: uri, origin: remote, destination: destination, content: body, key: key)
        return MatrixRequest(method: .get, pathParameters: [:], query: [:], headers: [.authorization: auth.headerValue],
                             body: body.encoded(), remoteAddress: nil, uri: uri)
    }

    @Test func xMatrixAcceptedAndRefused() async throws {
        let fixture = try KeyRingFixture(local: LocalServerKeys(serverName: ServerName("hearth.test")!, current: localKey))
        defer { fixture.remove() }
        let me = fixture.local.serverName
        // Unknown key (and no way to fetch it): refused.
        let unknown = try KeyRingFixture(local: fixture.local)
        defer { unknown.remove() }
        await #expect(throws: MatrixError.self) { try await unknown.endpoint.authenticate(try request(signedWith: remoteKey, destination: me)) }
        try await store(fixture, validUntil: KeyRingFixture.now + 1000)
        let origin = try await fixture.endpoint.authenticate(try request(signedWith: remoteKey, destination: me))
        #expect(origin == remote)
        // Wrong destination, bad signature, tampered body: all 401 M_UNAUTHORIZED.
        let forged = try SigningKey(seed: Array(repeating: 3, count: 32), version: "r1")
        var tampered = try request(signedWith: remoteKey, destination: me)
        tampered = MatrixRequest(method: .get, pathParameters: [:], query: [:], headers: tampered.headers, body: Array(#"{"a":2}"#.utf8),
                                 remoteAddress: nil, uri: tampered.uri)
        for bad in [try request(signedWith: remoteKey, destination: ServerName("other.test")!), try request(signedWith: forged, destination: me),
                    tampered] {
            do {
                _ = try await fixture.endpoint.authenticate(bad)
                Issue.record("accepted a bad request")
            } catch {
                #expect(error.code == .unauthorized && error.status == 401)
            }
        }
    }

    @Test func expiredAndOldKeysDoNotAuthenticateRequests() async throws {
        for (validUntil, old) in [(KeyRingFixture.now - 1, false), (KeyRingFixture.now + 1000, true)] {
            let fixture = try KeyRingFixture(local: LocalServerKeys(serverName: ServerName("hearth.test")!, current: localKey))
            defer { fixture.remove() }
            try await store(fixture, validUntil: validUntil, old: old)
            let signed = try request(signedWith: remoteKey, destination: fixture.local.serverName)
            do {
                _ = try await fixture.endpoint.authenticate(signed)
                Issue.record("an expired or old key authenticated a request")
            } catch {
                #expect(error.code == .unauthorized)
            }
        }
    }

    func event(version: RoomVersion, ts: Int64, extraContent: JSONObject = [:], signers: [(ServerName, SigningKey)]) throws -> PDU {
        var content: JSONObject = ["membership": "join"]
        for member in extraContent { content[member.key] = member.value }
        var json: JSONObject = [
            "type": "m.room.member", "state_key": .string("@bob:\(remote.rawValue)"), "room_id": "!r:remote.example",
            "sender": .string("@bob:\(remote.rawValue)"), "content": .object(content), "depth": 3, "origin_server_ts": .int(ts),
            "prev_events": [], "auth_events": [],
        ]
        if version.eventIDFormat == .serverScoped {
            json["event_id"] = "$abc:hearth.test"
            json["prev_events"] = []
            json["auth_events"] = []
        }
        for (server, key) in signers { json = try EventHashing.hashAndSign(json, server: server, key: key, version: version) }
        return try PDU(json: json, version: version)
    }

    @Test func eventSignaturesFollowRoomVersionRules() async throws {
        let fixture = try KeyRingFixture(local: LocalServerKeys(serverName: ServerName("hearth.test")!, current: localKey))
        defer { fixture.remove() }
        try await store(fixture, validUntil: 2_000)
        let keyRing = fixture.keyRing
        // v10: the key must be valid at origin_server_ts.
        try await keyRing.verifyEventSignatures(try event(version: .v10, ts: 1_000, signers: [(remote, remoteKey)]))
        await #expect(throws: EventSignatureError.noUsableKey(remote)) {
            try await keyRing.verifyEventSignatures(try event(version: .v10, ts: 3_000, signers: [(remote, remoteKey)]))
        }
        // v4 ignores validity.
        try await keyRing.verifyEventSignatures(try event(version: .v4, ts: 3_000, signers: [(remote, remoteKey)]))
        // v1: the event ID's server must sign too.
        await #expect(throws: EventSignatureError.missingSignature(ServerName("hearth.test")!)) {
            try await keyRing.verifyEventSignatures(try event(version: .v1, ts: 1_000, signers: [(remote, remoteKey)]))
        }
        try await keyRing.verifyEventSignatures(try event(version: .v1, ts: 1_000, signers: [(remote, remoteKey),
                                                                                                (ServerName("hearth.test")!, localKey)]))
        // v9 restricted join: the authorising user's server must sign.
        let via: JSONObject = ["join_authorised_via_users_server": "@admin:hearth.test"]
        await #expect(throws: EventSignatureError.missingSignature(ServerName("hearth.test")!)) {
            try await keyRing.verifyEventSignatures(try event(version: .v9, ts: 1_000, extraContent: via, signers: [(remote, remoteKey)]))
        }
        try await keyRing.verifyEventSignatures(try event(version: .v9, ts: 1_000, extraContent: via,
                                                          signers: [(remote, remoteKey), (ServerName("hearth.test")!, localKey)]))
        // A forged signature under a known key fails; a redacted copy of a good event passes.
        let forged = try SigningKey(seed: Array(repeating: 9, count: 32), version: "r1")
        await #expect(throws: EventSignatureError.badSignature(remote, keyID: "ed25519:r1")) {
            try await keyRing.verifyEventSignatures(try event(version: .v10, ts: 1_000, signers: [(remote, forged)]))
        }
        let good = try event(version: .v10, ts: 1_000, extraContent: ["displayname": "Bob"], signers: [(remote, remoteKey)])
        try await keyRing.verifyEventSignatures(good.redacted())
    }
}
