import Foundation
import HearthCore
import Testing

/// Device keys, one-time keys, cross-signing and to-device messages.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#end-to-end-encryption
@Suite(.serialized) struct EndToEndKeyTests {
    /// An ed25519 key whose key ID is its own public key, as cross-signing keys are named.
    static func selfNamedKey() throws -> SigningKey {
        let key = SigningKey.generate(version: "tmp")
        return try SigningKey(seed: key.seed, version: key.publicKeyBase64)
    }

    static func deviceKeys(_ user: TestServer.User, _ key: SigningKey) throws -> JSONObject {
        let deviceKey = try SigningKey(seed: key.seed, version: user.deviceID)
        return try JSONSigning.sign([
            "user_id": .string(user.userID), "device_id": .string(user.deviceID),
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": ["curve25519:\(user.deviceID)": "curvekey", "ed25519:\(user.deviceID)": .string(key.publicKeyBase64)],
        ], as: user.userID, with: deviceKey)
    }

    static func crossSigningKey(_ user: TestServer.User, _ key: SigningKey, usage: String, signedBy master: SigningKey?) throws -> JSONObject {
        let object: JSONObject = ["user_id": .string(user.userID), "usage": [.string(usage)],
                                  "keys": ["ed25519:\(key.publicKeyBase64)": .string(key.publicKeyBase64)]]
        guard let master else { return object }
        return try JSONSigning.sign(object, as: user.userID, with: master)
    }

    @Test func uploadQueryClaim() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let deviceKeys = try Self.deviceKeys(alice, SigningKey.generate(version: "d"))
        let upload = try await server.post(TestServer.v3("/keys/upload"), alice, [
            "device_keys": .object(deviceKeys),
            "one_time_keys": ["signed_curve25519:AAAA": ["key": "k1"], "signed_curve25519:AAAB": ["key": "k2"], "curve25519:AAAC": "k3"],
            "fallback_keys": ["signed_curve25519:FFFF": ["key": "fallback", "fallback": true]],
        ])
        upload.expectOK()
        #expect(upload.json["one_time_key_counts"]?["signed_curve25519"] == 2 && upload.json["one_time_key_counts"]?["curve25519"] == 1)
        // Uploading a key ID again changes nothing: the first key stays.
        try await server.post(TestServer.v3("/keys/upload"), alice, ["one_time_keys": ["signed_curve25519:AAAA": ["key": "k1"]]]).expectOK()
        let again = try await server.post(TestServer.v3("/keys/upload"), alice, ["one_time_keys": ["signed_curve25519:AAAA": ["key": "other"]]])
        #expect(again.json["one_time_key_counts"]?["signed_curve25519"] == 2)
        var foreign = deviceKeys
        foreign["user_id"] = .string(bob.userID)
        try await server.post(TestServer.v3("/keys/upload"), alice, ["device_keys": .object(foreign)]).expectError(400, "M_INVALID_PARAM")
        try await server.post(TestServer.v3("/keys/upload"), alice, ["one_time_keys": ["nocolon": "x"]]).expectError(400, "M_BAD_JSON")

        // Bob sees Alice's device, with its display name.
        try await server.put(TestServer.v3("/devices/\(alice.deviceID)"), alice, ["display_name": "Alice's laptop"]).expectOK()
        let query = try await server.post(TestServer.v3("/keys/query"), bob, ["device_keys": [.init(stringLiteral: alice.userID): [], "@x:elsewhere.test": []]])
        let device = try #require(query.json["device_keys"]?[alice.userID]?[alice.deviceID])
        #expect(device["keys"]?["ed25519:\(alice.deviceID)"] == deviceKeys["keys"]?["ed25519:\(alice.deviceID)"])
        #expect(device["unsigned"]?["device_display_name"] == "Alice's laptop")
        #expect(device["signatures"] == deviceKeys["signatures"])
        #expect(query.json["failures"]?["elsewhere.test"] != nil)
        let none = try await server.post(TestServer.v3("/keys/query"), bob, ["device_keys": [.init(stringLiteral: alice.userID): ["NOPE"]]])
        #expect(none.json["device_keys"]?[alice.userID] == [:])
        try await server.post(TestServer.v3("/keys/query"), bob, [:]).expectError(400, "M_MISSING_PARAM")

        // Claims take one-time keys, then the fallback key, which stays available.
        func claim() async throws -> JSONValue? {
            let response = try await server.post(TestServer.v3("/keys/claim"), bob, [
                "one_time_keys": [.init(stringLiteral: alice.userID): [.init(stringLiteral: alice.deviceID): "signed_curve25519"]],
            ])
            return response.json["one_time_keys"]?[alice.userID]?[alice.deviceID]
        }
        let first = try #require(try await claim()?.objectValue)
        let second = try #require(try await claim()?.objectValue)
        #expect(Set(first.keys + second.keys) == ["signed_curve25519:AAAA", "signed_curve25519:AAAB"])
        #expect((first["signed_curve25519:AAAA"] ?? second["signed_curve25519:AAAA"])?["key"] == "k1")
        let counts = try await server.sync(alice)
        #expect(counts["device_one_time_keys_count"]?["signed_curve25519"] == 0)
        #expect(counts["device_unused_fallback_key_types"] == ["signed_curve25519"])
        #expect(try await claim()?["signed_curve25519:FFFF"]?["key"] == "fallback")
        #expect(try await claim()?["signed_curve25519:FFFF"]?["key"] == "fallback")
        #expect(try await server.sync(alice)["device_unused_fallback_key_types"] == [])
    }

    @Test func deviceListChangesReachRoomMates() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let bob = try await server.register("bob")
        let carol = try await server.register("carol")
        let room = try await server.publicRoom(alice, with: bob)
        let bobSince = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
        let carolSince = try #require(try await server.sync(carol)["next_batch"]?.stringValue)
        // Alice signs in on a new device, which publishes keys; Bob's waiting sync wakes.
        let laptop = try await server.login("alice", password: "pw")
        async let woken = server.sync(bob, since: bobSince, timeout: 10_000)
        try await Task.sleep(for: .milliseconds(200))
        try await server.post(TestServer.v3("/keys/upload"), laptop, ["device_keys": .object(try Self.deviceKeys(laptop, SigningKey.generate(version: "l")))])
            .expectOK()
        let bobSync = try await woken
        #expect(bobSync["device_lists"]?["changed"] == [.string(alice.userID)])
        let carolSync = try await server.sync(carol, since: carolSince)
        #expect(carolSync["device_lists"]?["changed"] == [])
        let to = try #require(bobSync["next_batch"]?.stringValue)
        let changes = try await server.get(TestServer.v3("/keys/changes?from=\(bobSince.urlQueryEncoded)&to=\(to.urlQueryEncoded)"), bob)
        #expect(changes.json["changed"] == [.string(alice.userID)])
        try await server.get(TestServer.v3("/keys/changes?from=\(bobSince.urlQueryEncoded)"), bob).expectError(400, "M_MISSING_PARAM")
        // Carol joins: Bob hears that she now shares a room; then Alice leaves: she is "left".
        try await server.join(carol, room)
        let afterJoin = try await server.sync(bob, since: to)
        #expect(afterJoin["device_lists"]?["changed"]?.arrayValue?.contains(.string(carol.userID)) == true)
        try await server.post(TestServer.room(room, "/leave"), alice).expectOK()
        let afterLeave = try await server.sync(bob, since: try #require(afterJoin["next_batch"]?.stringValue))
        #expect(afterLeave["device_lists"]?["left"] == [.string(alice.userID)])
        // Deleting a device removes its keys.
        let keysBefore = try await server.post(TestServer.v3("/keys/query"), bob, ["device_keys": [.init(stringLiteral: alice.userID): []]])
        #expect(keysBefore.json["device_keys"]?[alice.userID]?[laptop.deviceID] != nil)
        try await AccountTests.withPassword(server, "DELETE", TestServer.v3("/devices/\(laptop.deviceID)"), alice, password: "pw").expectOK()
        let keysAfter = try await server.post(TestServer.v3("/keys/query"), bob, ["device_keys": [.init(stringLiteral: alice.userID): []]])
        #expect(keysAfter.json["device_keys"]?[alice.userID]?[laptop.deviceID] == nil)
    }

    @Test func toDeviceMessages() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob", password: "pw")
        let bobPhone = try await server.login("bob", password: "pw")
        let start = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
        let path = TestServer.v3("/sendToDevice/m.room_key_request/txn1")
        let body: JSONValue = ["messages": [.init(stringLiteral: bob.userID): [.init(stringLiteral: bob.deviceID): ["action": "request", "n": 1]]]]
        try await server.put(path, alice, body).expectOK()
        try await server.put(path, alice, body).expectOK()  // a retry delivers nothing more
        let first = try await server.sync(bob, since: start)
        let events = first["to_device"]?.events ?? []
        #expect(events.count == 1)
        #expect(events.first?["sender"]?.stringValue == alice.userID && events.first?["type"] == "m.room_key_request")
        #expect(events.first?["content"]?["n"] == 1)
        // Not acknowledged yet: syncing from the old token delivers it again.
        #expect(try await server.sync(bob, since: start)["to_device"]?.events.count == 1)
        // Acknowledged by syncing from the new token: gone.
        let next = try #require(first["next_batch"]?.stringValue)
        #expect(try await server.sync(bob, since: next)["to_device"]?.events.count == 0)
        // "*" reaches every device of the user; the other device had nothing before.
        try await server.put(TestServer.v3("/sendToDevice/org.example.ping/txn2"), alice,
                             ["messages": [.init(stringLiteral: bob.userID): ["*": ["hello": "all"]]]]).expectOK()
        #expect(try await server.sync(bobPhone)["to_device"]?.events.map { $0["type"] } == ["org.example.ping"])
        #expect(try await server.sync(bob, since: next)["to_device"]?.events.map { $0["type"] } == ["org.example.ping"])
        try await server.put(TestServer.v3("/sendToDevice/x/txn3"), alice, [:]).expectError(400, "M_MISSING_PARAM")
        try await server.put(TestServer.v3("/sendToDevice/x/txn4"), alice, ["messages": ["bob": [:]]]).expectError(400, "M_BAD_JSON")
    }

    @Test func manyToDeviceMessagesArriveInBatches() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        var token = try #require(try await server.sync(bob)["next_batch"]?.stringValue)
        var messages: [JSONValue] = []
        for i in 0..<130 {
            try await server.put(TestServer.v3("/sendToDevice/org.example.n/t\(i)"), alice,
                                 ["messages": [.init(stringLiteral: bob.userID): [.init(stringLiteral: bob.deviceID): ["i": .int(Int64(i))]]]]).expectOK()
        }
        for _ in 0..<3 {
            let sync = try await server.sync(bob, since: token)
            messages += sync["to_device"]?.events ?? []
            token = try #require(sync["next_batch"]?.stringValue)
        }
        #expect(messages.compactMap { $0["content"]?["i"]?.intValue } == (0..<130).map(Int64.init))
    }

    @Test func crossSigningAndSignatures() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let bob = try await server.register("bob")
        let deviceKey = SigningKey.generate(version: "d")
        try await server.post(TestServer.v3("/keys/upload"), alice, ["device_keys": .object(try Self.deviceKeys(alice, deviceKey))]).expectOK()
        let master = try Self.selfNamedKey(), selfSigning = try Self.selfNamedKey(), userSigning = try Self.selfNamedKey()
        let upload: JSONObject = [
            "master_key": .object(try Self.crossSigningKey(alice, master, usage: "master", signedBy: nil)),
            "self_signing_key": .object(try Self.crossSigningKey(alice, selfSigning, usage: "self_signing", signedBy: master)),
            "user_signing_key": .object(try Self.crossSigningKey(alice, userSigning, usage: "user_signing", signedBy: master)),
        ]
        // A self-signing key not signed by the master key is refused.
        var unsigned = upload
        unsigned["self_signing_key"] = .object(try Self.crossSigningKey(alice, selfSigning, usage: "self_signing", signedBy: nil))
        try await server.post(TestServer.v3("/keys/device_signing/upload"), alice, .object(unsigned)).expectError(400, "M_INVALID_SIGNATURE")
        // The first upload needs no password.
        try await server.post(TestServer.v3("/keys/device_signing/upload"), alice, .object(upload)).expectOK()
        let forBob = try await server.post(TestServer.v3("/keys/query"), bob, ["device_keys": [.init(stringLiteral: alice.userID): []]])
        #expect(forBob.json["master_keys"]?[alice.userID]?["usage"] == ["master"])
        #expect(forBob.json["self_signing_keys"]?[alice.userID] != nil && forBob.json["user_signing_keys"]?[alice.userID] == nil)
        let forAlice = try await server.post(TestServer.v3("/keys/query"), alice, ["device_keys": [.init(stringLiteral: alice.userID): []]])
        #expect(forAlice.json["user_signing_keys"]?[alice.userID] != nil)
        // Replacing the master key needs the password.
        let newMaster = try Self.selfNamedKey()
        let replace: JSONObject = ["master_key": .object(try Self.crossSigningKey(alice, newMaster, usage: "master", signedBy: nil))]
        let challenge = try await server.post(TestServer.v3("/keys/device_signing/upload"), alice, .object(replace))
        #expect(challenge.status == 401 && challenge.json["flows"] != nil)

        // Alice signs her device with her self-signing key.
        let stored = try #require(forAlice.json["device_keys"]?[alice.userID]?[alice.deviceID]?.objectValue)
        var plain = stored
        plain["unsigned"] = nil
        let signedDevice = try JSONSigning.sign(plain, as: alice.userID, with: selfSigning)
        let result = try await server.post(TestServer.v3("/keys/signatures/upload"), alice,
                                           [alice.userID: [.init(stringLiteral: alice.deviceID): .object(signedDevice)]])
        #expect(result.status == 200 && result.json["failures"] == [:])
        let after = try await server.post(TestServer.v3("/keys/query"), bob, ["device_keys": [.init(stringLiteral: alice.userID): []]])
        #expect(after.json["device_keys"]?[alice.userID]?[alice.deviceID]?["signatures"]?[alice.userID]?["ed25519:\(selfSigning.publicKeyBase64)"] != nil)
        // A signature by an unknown key fails.
        let stranger = try Self.selfNamedKey()
        let forged = try JSONSigning.sign(plain, as: alice.userID, with: stranger)
        let bad = try await server.post(TestServer.v3("/keys/signatures/upload"), alice, [alice.userID: [.init(stringLiteral: alice.deviceID): .object(forged)]])
        #expect(bad.json["failures"]?[alice.userID]?[alice.deviceID]?["errcode"] == "M_INVALID_SIGNATURE")

        // Alice signs Bob's master key with her user-signing key.
        let bobMaster = try Self.selfNamedKey()
        let bobKey = try Self.crossSigningKey(bob, bobMaster, usage: "master", signedBy: nil)
        try await server.post(TestServer.v3("/keys/device_signing/upload"), bob, ["master_key": .object(bobKey)]).expectOK()
        let signedBob = try JSONSigning.sign(bobKey, as: alice.userID, with: userSigning)
        let cross = try await server.post(TestServer.v3("/keys/signatures/upload"), alice,
                                          [bob.userID: [.init(stringLiteral: bobMaster.publicKeyBase64): .object(signedBob)]])
        #expect(cross.json["failures"] == [:])
        let bobs = try await server.post(TestServer.v3("/keys/query"), bob, ["device_keys": [.init(stringLiteral: bob.userID): []]])
        #expect(bobs.json["master_keys"]?[bob.userID]?["signatures"]?[alice.userID]?["ed25519:\(userSigning.publicKeyBase64)"] != nil)
    }
}
