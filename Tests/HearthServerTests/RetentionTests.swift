import Foundation
import HearthCore
import HearthHomeserver
import HearthServer
import Testing

/// Posts that disappear for real: room retention (MSC1763) and self-destructing messages
/// (MSC2228). The checks read the SQLite files and the media directory themselves.
@Suite(.serialized) struct RetentionTests {
    /// Every byte of the database, its write-ahead log and shared memory, and the media files.
    static func everythingOnDisk(_ server: TestServer) -> [UInt8] {
        var bytes: [UInt8] = []
        for suffix in ["", "-wal", "-shm"] {
            if let data = FileManager.default.contents(atPath: server.config.databasePath + suffix) { bytes += Array(data) }
        }
        let media = server.config.mediaStorePath
        for file in FileManager.default.enumerator(atPath: media)?.compactMap({ $0 as? String }) ?? [] {
            if let data = FileManager.default.contents(atPath: media + "/" + file) { bytes += Array(data) }
        }
        return bytes
    }

    static func onDisk(_ server: TestServer, _ text: String) -> Bool {
        everythingOnDisk(server).contains(subsequence: Array(text.utf8))
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    @Test func aRoomsRetentionPolicyDeletesOldMessagesAndTheirUploads() async throws {
        let server = try await TestServer.start { config in
            config.retention.enabled = true
            config.retention.allowedLifetimeMin = 1000
            config.retention.allowedLifetimeMax = 365 * 86_400_000
        }
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, [
            "preset": "public_chat",
            "initial_state": [["type": "m.room.retention", "state_key": "", "content": ["max_lifetime": 1000]]],
        ])
        try await server.join(bob, room)
        let upload = try await MediaTests.upload(server, alice, Array("attachment-secret-5151".utf8), contentType: "text/plain")
        let uri = try #require(upload.json["content_uri"]?.stringValue)
        let said = try await server.sendEvent(alice, room, type: "m.room.message", ["msgtype": "m.text", "body": "vanishing-secret-0417"])
        _ = try await server.sendEvent(bob, room, type: "m.room.message", ["msgtype": "m.file", "body": "notes.txt", "url": .string(uri)])
        #expect(Self.onDisk(server, "vanishing-secret-0417"))  // the check below can see it

        // Not yet: nothing is due.
        #expect(try await server.homeserver.expireMessages(now: Self.now()) == ExpiryReport())
        let report = try await server.homeserver.expireMessages(now: Self.now() + 2000)
        #expect(report.redacted == 2 && report.mediaDeleted == 1)

        // Clients see redacted events, each with the redaction that expired it.
        let event = try await server.get(TestServer.room(room, "/event/\(said.urlPathEncoded)"), bob)
        #expect(event.json["content"] == [:])
        #expect(event.json["unsigned"]?["redacted_because"]?["content"]?["reason"] == "expired")
        let download = try await server.get("/_matrix/client/v1/media/download/\(MediaTests.mediaPath(uri))", bob)
        #expect(download.status == 404)
        // And nothing of them is left on disk: not in the database, its log or the media store.
        #expect(!Self.onDisk(server, "vanishing-secret-0417"))
        #expect(!Self.onDisk(server, "attachment-secret-5151"))
        // State is never expired: the room still works.
        _ = try await server.sendEvent(alice, room, type: "m.room.message", ["msgtype": "m.text", "body": "after"])
        // A room's policy is held to the server's bounds: asking for 1 ms means 1 s here.
        #expect(server.homeserver.settings.retention.effectiveMaxLifetime(requested: 1) == 1000)
        #expect(server.homeserver.settings.retention.effectiveMaxLifetime(requested: nil) == nil)
    }

    @Test func aSelfDestructingMessageIsDeletedAtItsTimeAndOthersStay() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice, ["preset": "private_chat"])
        let expiry = Self.now() + 60_000
        let fleeting = try await server.sendEvent(alice, room, type: "m.room.message", [
            "msgtype": "m.text", "body": "self-destruct-0418", "org.matrix.self_destruct_after": .int(expiry),
        ])
        let stays = try await server.sendEvent(alice, room, type: "m.room.message", ["msgtype": "m.text", "body": "stays-0419"])
        #expect(try await server.homeserver.expireMessages(now: expiry - 1).redacted == 0)
        #expect(try await server.homeserver.expireMessages(now: expiry).redacted == 1)
        #expect(try await server.get(TestServer.room(room, "/event/\(fleeting.urlPathEncoded)"), alice).json["content"] == [:])
        #expect(try await server.get(TestServer.room(room, "/event/\(stays.urlPathEncoded)"), alice).json["content"]?["body"] == "stays-0419")
        #expect(!Self.onDisk(server, "self-destruct-0418"))
        #expect(Self.onDisk(server, "stays-0419"))
        // A second pass finds nothing more to do.
        #expect(try await server.homeserver.expireMessages(now: expiry + 10_000) == ExpiryReport())
    }

    @Test func theRetentionSectionUsesSynapsesNames() throws {
        let yaml = """
            server_name: clinic.example
            retention:
              enabled: true
              default_policy:
                min_lifetime: 1d
                max_lifetime: 30d
              allowed_lifetime_min: 1h
              allowed_lifetime_max: 1y
              purge_interval: 5m
              purge_jobs:
                - interval: 12h
            """
        let retention = try HearthConfig.parse(yaml: yaml, baseDirectory: "/tmp").retention
        #expect(retention.enabled && retention.defaultMaxLifetime == 2_592_000_000)
        #expect(retention.allowedLifetimeMin == 3_600_000 && retention.allowedLifetimeMax == 365 * 86_400_000)
        #expect(retention.purgeInterval == 300_000)
        #expect(retention.effectiveMaxLifetime(requested: nil) == 2_592_000_000)
        #expect(retention.effectiveMaxLifetime(requested: 60_000) == 3_600_000)
        #expect(throws: ConfigError.self) {
            try HearthConfig.parse(yaml: "server_name: x.example\nretention:\n  allowed_lifetime_min: 2d\n  allowed_lifetime_max: 1d\n",
                                   baseDirectory: "/tmp")
        }
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        for start in 0...(count - needle.count) where self[start] == needle[0] {
            if self[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}
