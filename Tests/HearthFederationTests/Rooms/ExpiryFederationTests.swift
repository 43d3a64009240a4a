import Foundation
import HearthCore
import HearthHomeserver
import Testing

/// In a room shared with another server, an expiring message goes by a redaction that
/// federates: the other server drops the content too, from its database files.
@Suite(.serialized) struct ExpiryFederationTests {
    static func onDisk(_ server: FedTestServer, _ text: String) -> Bool {
        ["", "-wal", "-shm"].contains { suffix in
            FileManager.default.contents(atPath: server.config.databasePath + suffix).map { Array($0).contains(subsequence: Array(text.utf8)) }
                ?? false
        }
    }

    @Test func anExpiredMessageIsRedactedOnEveryServer() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        let b = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy() } }
        let alice = try await a.homeserver.makeUser("alice")
        let bob = try await b.homeserver.makeUser("bob")
        let room = try await a.homeserver.publicRoom(by: alice)
        try await b.homeserver.rooms.join(room, user: bob, via: [a.name])
        let expiry = Int64(Date().timeIntervalSince1970 * 1000) + 60_000
        let fleeting = try await a.homeserver.rooms.send(room, sender: alice, type: "m.room.message", content: [
            "msgtype": "m.text", "body": "fleeting-7070", "m.self_destruct_after": .int(expiry),
        ])
        try await TLSRoomTests.eventually("bob has the message") { try await b.homeserver.bodies(in: room).contains("fleeting-7070") }
        #expect(Self.onDisk(b, "fleeting-7070"))

        #expect(try await a.homeserver.expireMessages(now: expiry).redacted == 1)
        try await TLSRoomTests.eventually("bob's copy is redacted") {
            try await b.homeserver.storage.rooms.event(fleeting)?.pdu.content.isEmpty == true
        }
        // The receiving server's next pass scrubs what the redaction freed.
        _ = try await b.homeserver.expireMessages(now: expiry)
        #expect(!Self.onDisk(a, "fleeting-7070"))
        #expect(!Self.onDisk(b, "fleeting-7070"))
    }
}
