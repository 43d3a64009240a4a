import Foundation
import HearthCore
import Testing

@Suite(.serialized) struct EndToEndTests {
    static func deviceKeys(_ user: TestServer.User, key: SigningKey) throws -> JSONObject {
        let unsigned: JSONObject = [
            "user_id": .string(user.userID), "device_id": .string(user.deviceID),
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": ["curve25519:\(user.deviceID)": "curvekeyplaceholder", "ed25519:\(user.deviceID)": .string(key.publicKeyBase64)],
        ]
        return try JSONSigning.sign(unsigned, as: user.userID, with: SigningKey(seed: key.seed, version: user.deviceID))
    }

    @Test func uploadQueryClaimAndCounts() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let key = SigningKey.generate(version: "x")
        var oneTime = JSONObject()
        for i in 0..<3 { oneTime["signed_curve25519:k\(i)"] = ["key": .string("otk\(i)")] }
        let upload = try await server.request("POST", "/_matrix/client/v3/keys/upload", token: alice.token, json: [
            "device_keys": .object(try Self.deviceKeys(alice, key: key)), "one_time_keys": .object(oneTime),
            "fallback_keys": ["signed_curve25519:fb": ["key": "fallback", "fallback": true]],
        ])
        #expect(upload.json["one_time_key_counts"]?["signed_curve25519"] == 3)
        let wrongDevice = try await server.request("POST", "/_matrix/client/v3/keys/upload", token: bob.token,
                                                   json: ["device_keys": .object(try Self.deviceKeys(alice, key: key))])
        #expect(wrongDevice.status == 400)

        let query = try await server.request("POST", "/_matrix/client/v3/keys/query", token: bob.token,
                                             json: ["device_keys": [alice.userID: []]])
        #expect(query.json["device_keys"]?[alice.userID]?[alice.deviceID]?["keys"] != nil)

        // Claims never hand out the same key twice, even when concurrent; then the fallback key.
        let claimBody: JSONValue = ["one_time_keys": [alice.userID: [alice.deviceID: "signed_curve25519"]]]
        let claims = try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    let response = try await server.request("POST", "/_matrix/client/v3/keys/claim", token: bob.token, json: claimBody)
                    return response.json["one_time_keys"]?[alice.userID]?[alice.deviceID]?.objectValue?.keys.first
                }
            }
            var ids: [String] = []
            for try await id in group { if let id { ids.append(id) } }
            return ids
        }
        let oneTimeClaims = claims.filter { $0 != "signed_curve25519:fb" }
        #expect(Set(oneTimeClaims).count == 3 && oneTimeClaims.count == 3)
        #expect(claims.filter { $0 == "signed_curve25519:fb" }.count == 2)

        let sync = try await server.sync(alice)
        #expect(sync["device_one_time_keys_count"]?["signed_curve25519"] == 0)
        #expect(sync["device_unused_fallback_key_types"] == [])
    }

    @Test func toDeviceMessagesSurviveRestartUntilAcknowledged() async throws {
        let first = try await TestServer.start()
        let alice = try await first.register("alice")
        let bob = try await first.register("bob")
        let send = try await first.request("PUT", "/_matrix/client/v3/sendToDevice/m.room_key_request/txn1", token: alice.token, json: [
            "messages": [bob.userID: [bob.deviceID: ["secret": "ciphertext-1"]]],
        ])
        #expect(send.status == 200)
        // The same transaction again is not delivered twice.
        _ = try await first.request("PUT", "/_matrix/client/v3/sendToDevice/m.room_key_request/txn1", token: alice.token, json: [
            "messages": [bob.userID: [bob.deviceID: ["secret": "ciphertext-1"]]],
        ])
        await first.stop()

        let second = try await TestServer.start(config: first.config, directory: first.directory)
        defer { Task { await second.destroy() } }
        let initial = try await second.sync(bob)
        let events = initial["to_device"]?["events"]?.arrayValue ?? []
        #expect(events.count == 1)
        #expect(events.first?["sender"] == .string(alice.userID) && events.first?["content"]?["secret"] == "ciphertext-1")
        // Not acknowledged yet: an initial sync again still gets it.
        #expect(try await second.sync(bob)["to_device"]?["events"]?.arrayValue?.count == 1)
        // Syncing with the token acknowledges it.
        let token = try #require(initial["next_batch"]?.stringValue)
        let next = try await second.sync(bob, since: token)
        #expect(next["to_device"]?["events"]?.arrayValue?.isEmpty == true)
        #expect(try await second.sync(bob)["to_device"]?["events"]?.arrayValue?.isEmpty == true)
    }

    @Test func crossSigningAndSignatures() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let master = SigningKey.generate(version: "m")
        let selfSigning = SigningKey.generate(version: "s")
        let masterID = "ed25519:\(master.publicKeyBase64)"
        let masterKey: JSONObject = ["user_id": .string(alice.userID), "usage": ["master"], "keys": [masterID: .string(master.publicKeyBase64)]]
        let selfKeyUnsigned: JSONObject = ["user_id": .string(alice.userID), "usage": ["self_signing"],
                                           "keys": ["ed25519:\(selfSigning.publicKeyBase64)": .string(selfSigning.publicKeyBase64)]]
        let selfKey = try JSONSigning.sign(selfKeyUnsigned, as: alice.userID, with: SigningKey(seed: master.seed, version: master.publicKeyBase64))
        let upload = try await server.request("POST", "/_matrix/client/v3/keys/device_signing/upload", token: alice.token,
                                              json: ["master_key": .object(masterKey), "self_signing_key": .object(selfKey)])
        #expect(upload.status == 200)
        // Replacing them now needs the password.
        let again = try await server.request("POST", "/_matrix/client/v3/keys/device_signing/upload", token: alice.token,
                                             json: ["master_key": .object(masterKey)])
        #expect(again.status == 401 && again.json["flows"] != nil)
        // A self-signing signature on the device keys is verified and stored.
        let deviceKey = SigningKey.generate(version: "d")
        let keys = try Self.deviceKeys(alice, key: deviceKey)
        _ = try await server.request("POST", "/_matrix/client/v3/keys/upload", token: alice.token, json: ["device_keys": .object(keys)])
        let crossSigned = try JSONSigning.sign(keys, as: alice.userID,
                                               with: SigningKey(seed: selfSigning.seed, version: selfSigning.publicKeyBase64))
        let signatures = try await server.request("POST", "/_matrix/client/v3/keys/signatures/upload", token: alice.token,
                                                  json: [alice.userID: [alice.deviceID: .object(crossSigned)]])
        #expect(signatures.json["failures"]?.objectValue?.isEmpty == true)
        var forged = crossSigned
        forged["signatures"] = [alice.userID: ["ed25519:\(selfSigning.publicKeyBase64)": .string(String(repeating: "A", count: 86))]]
        let bad = try await server.request("POST", "/_matrix/client/v3/keys/signatures/upload", token: alice.token,
                                           json: [alice.userID: [alice.deviceID: .object(forged)]])
        #expect(bad.json["failures"]?[alice.userID]?[alice.deviceID] != nil)
        let query = try await server.request("POST", "/_matrix/client/v3/keys/query", token: alice.token,
                                             json: ["device_keys": [alice.userID: []]])
        #expect(query.json["master_keys"]?[alice.userID]?["keys"]?[masterID] != nil)
        #expect(query.json["device_keys"]?[alice.userID]?[alice.deviceID]?["signatures"]?[alice.userID]?["ed25519:\(selfSigning.publicKeyBase64)"] != nil)
    }

    @Test func keyBackupVersionsAndKeys() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let base = "/_matrix/client/v3/room_keys"
        #expect(try await server.request("GET", "\(base)/version", token: alice.token).errcode == "M_NOT_FOUND")
        let created = try await server.request("POST", "\(base)/version", token: alice.token,
                                               json: ["algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": ["public_key": "pk"]])
        let version = try #require(created.json["version"]?.stringValue)
        func key(_ index: Int64, verified: Bool) -> JSONValue {
            ["first_message_index": .int(index), "forwarded_count": 0, "is_verified": .bool(verified), "session_data": ["ciphertext": .string("c\(index)")]]
        }
        let put = try await server.request("PUT", "\(base)/keys/!room:hearth.test/sess1?version=\(version)", token: alice.token, json: key(5, verified: false))
        #expect(put.json["count"] == 1)
        let etag = put.json["etag"]?.stringValue
        // A worse key (higher index) does not replace a better one; a better one does.
        _ = try await server.request("PUT", "\(base)/keys/!room:hearth.test/sess1?version=\(version)", token: alice.token, json: key(9, verified: false))
        #expect(try await server.request("GET", "\(base)/keys/!room:hearth.test/sess1?version=\(version)", token: alice.token).json["first_message_index"] == 5)
        let better = try await server.request("PUT", "\(base)/keys/!room:hearth.test/sess1?version=\(version)", token: alice.token, json: key(2, verified: false))
        #expect(better.json["etag"]?.stringValue != etag)
        let all = try await server.request("GET", "\(base)/keys?version=\(version)", token: alice.token)
        #expect(all.json["rooms"]?["!room:hearth.test"]?["sessions"]?["sess1"]?["first_message_index"] == 2)
        // A new version makes the old one refuse writes.
        let newer = try await server.request("POST", "\(base)/version", token: alice.token,
                                             json: ["algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": [:]])
        let stale = try await server.request("PUT", "\(base)/keys/!room:hearth.test/sess2?version=\(version)", token: alice.token, json: key(0, verified: true))
        #expect(stale.status == 403 && stale.errcode == "M_WRONG_ROOM_KEYS_VERSION")
        #expect(try await server.request("GET", "\(base)/version", token: alice.token).json["version"] == newer.json["version"])
        #expect(try await server.request("DELETE", "\(base)/version/\(version)", token: alice.token).status == 200)
        #expect(try await server.request("GET", "\(base)/version/\(version)", token: alice.token).errcode == "M_NOT_FOUND")
    }
}
