import Foundation
import HearthCore
import Testing

/// Server-side key backup.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-side-key-backups
@Suite(.serialized) struct KeyBackupTests {
    static func data(index: Int64, forwarded: Int64 = 0, verified: Bool = false, tag: String) -> JSONValue {
        ["first_message_index": .int(index), "forwarded_count": .int(forwarded), "is_verified": .bool(verified),
         "session_data": ["ephemeral": "e", "ciphertext": .string(tag), "mac": "m"]]
    }

    @Test func versionsAndKeys() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let v3 = TestServer.v3
        try await server.get(v3("/room_keys/version"), alice).expectError(404, "M_NOT_FOUND")
        let algorithm = "m.megolm_backup.v1.curve25519-aes-sha2"
        let created = try await server.post(v3("/room_keys/version"), alice, ["algorithm": .string(algorithm), "auth_data": ["public_key": "pk"]])
        let version = try #require(created.json["version"]?.stringValue)
        let current = try await server.get(v3("/room_keys/version"), alice)
        #expect(current.json["version"]?.stringValue == version && current.json["count"] == 0 && current.json["auth_data"]?["public_key"] == "pk")
        // Versions are per user.
        try await server.get(v3("/room_keys/version/\(version)"), bob).expectError(404, "M_NOT_FOUND")

        // Keys: whole, per room, per session; a better key replaces, a worse one does not.
        let put = try await server.put(v3("/room_keys/keys?version=\(version)"), alice, [
            "rooms": ["!r1:hearth.test": ["sessions": ["s1": Self.data(index: 5, tag: "first"), "s2": Self.data(index: 0, tag: "two")]]],
        ])
        #expect(put.json["count"] == 2)
        let etag = try #require(put.json["etag"]?.stringValue)
        let worse = try await server.put(v3("/room_keys/keys/!r1:hearth.test/s1?version=\(version)"), alice, Self.data(index: 9, tag: "worse"))
        #expect(worse.json["etag"]?.stringValue == etag)
        let better = try await server.put(v3("/room_keys/keys/!r1:hearth.test/s1?version=\(version)"), alice, Self.data(index: 1, tag: "better"))
        #expect(better.json["etag"]?.stringValue != etag && better.json["count"] == 2)
        // A verified key beats a lower index.
        try await server.put(v3("/room_keys/keys/!r1:hearth.test?version=\(version)"), alice,
                             ["sessions": ["s1": Self.data(index: 3, verified: true, tag: "verified")]]).expectOK()
        let one = try await server.get(v3("/room_keys/keys/!r1:hearth.test/s1?version=\(version)"), alice)
        #expect(one.json["session_data"]?["ciphertext"] == "verified" && one.json["is_verified"] == true)
        let all = try await server.get(v3("/room_keys/keys?version=\(version)"), alice)
        #expect(all.json["rooms"]?["!r1:hearth.test"]?["sessions"]?.objectValue?.count == 2)
        #expect(try await server.get(v3("/room_keys/keys/!other:hearth.test?version=\(version)"), alice).json == ["sessions": [:]])
        try await server.get(v3("/room_keys/keys/!r1:hearth.test/missing?version=\(version)"), alice).expectError(404, "M_NOT_FOUND")
        // Deleting keys.
        let afterDelete = try await server.delete(v3("/room_keys/keys/!r1:hearth.test/s2?version=\(version)"), alice)
        #expect(afterDelete.json["count"] == 1)

        // A new version becomes current; writes to the old one are refused with the current named.
        let second = try await server.post(v3("/room_keys/version"), alice, ["algorithm": .string(algorithm), "auth_data": ["public_key": "pk2"]])
        let newVersion = try #require(second.json["version"]?.stringValue)
        let stale = try await server.put(v3("/room_keys/keys/!r1:hearth.test/s9?version=\(version)"), alice, Self.data(index: 0, tag: "x"))
        stale.expectError(403, "M_WRONG_ROOM_KEYS_VERSION")
        #expect(stale.json["current_version"]?.stringValue == newVersion)
        // Old versions remain readable until deleted.
        #expect(try await server.get(v3("/room_keys/keys?version=\(version)"), alice).json["rooms"]?["!r1:hearth.test"] != nil)
        // Updating auth_data; the algorithm cannot change.
        try await server.put(v3("/room_keys/version/\(newVersion)"), alice, ["algorithm": .string(algorithm), "auth_data": ["public_key": "pk3"]]).expectOK()
        #expect(try await server.get(v3("/room_keys/version/\(newVersion)"), alice).json["auth_data"]?["public_key"] == "pk3")
        try await server.put(v3("/room_keys/version/\(newVersion)"), alice, ["algorithm": "other", "auth_data": [:]]).expectError(400, "M_INVALID_PARAM")
        try await server.put(v3("/room_keys/version/\(newVersion)"), alice, ["algorithm": .string(algorithm), "auth_data": [:], "version": "77"])
            .expectError(400, "M_INVALID_PARAM")
        // Deleting the current version makes the previous one current again; numbers are not reused.
        try await server.delete(v3("/room_keys/version/\(newVersion)"), alice).expectOK()
        #expect(try await server.get(v3("/room_keys/version"), alice).json["version"]?.stringValue == version)
        try await server.delete(v3("/room_keys/version/\(newVersion)"), alice).expectError(404, "M_NOT_FOUND")
        let third = try await server.post(v3("/room_keys/version"), alice, ["algorithm": .string(algorithm), "auth_data": [:]])
        #expect(third.json["version"]?.stringValue != newVersion)
        // Errors.
        try await server.get(v3("/room_keys/keys"), alice).expectError(400, "M_MISSING_PARAM")
        let latest = try #require(try await server.get(v3("/room_keys/version"), alice).json["version"]?.stringValue)
        try await server.put(v3("/room_keys/keys?version=\(latest)"), alice, [:]).expectError(400, "M_MISSING_PARAM")
        try await server.put(v3("/room_keys/keys/!r/s?version=\(latest)"), alice, ["first_message_index": 1]).expectError(400, "M_BAD_JSON")
        try await server.post(v3("/room_keys/version"), alice, ["auth_data": [:]]).expectError(400, "M_MISSING_PARAM")
        try await server.get(v3("/room_keys/version/abc"), alice).expectError(404, "M_NOT_FOUND")
    }
}
