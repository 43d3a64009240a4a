import Foundation
import HearthCore
import Testing

/// A member's own data: the export archive, and erasure checked in the database files.
@Suite(.serialized) struct MemberDataTests {
    @Test func aMemberDownloadsEverythingTheServerHoldsAboutThem() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let admin = try await server.register("admin")
        try await server.homeserver.storage.accounts.setAdmin(UserID(admin.userID)!, true)
        try await server.put(TestServer.v3("/profile/\(alice.userID.urlPathEncoded)/displayname"), alice, ["displayname": "Alice Export"]).expectOK()
        let upload = try await MediaTests.upload(server, alice, Array("alice-file-6161".utf8), contentType: "text/plain", fileName: "mine.txt")
        let uri = try #require(upload.json["content_uri"]?.stringValue)
        let room = try await server.createRoom(alice, ["preset": "public_chat", "name": "Export room"])
        try await server.join(bob, room)
        _ = try await server.sendEvent(alice, room, type: "m.room.message", ["msgtype": "m.text", "body": "alice-said-6262"])
        _ = try await server.sendEvent(bob, room, type: "m.room.message", ["msgtype": "m.text", "body": "bob-said-6363"])
        try await server.put(TestServer.v3("/user/\(alice.userID.urlPathEncoded)/account_data/org.example.notes"), alice,
                             ["note": "private-note-6464"]).expectOK()

        let export = try await server.get("/_hearth/client/v1/export", alice)
        export.expectOK()
        let archive = export.json
        #expect(archive["format"] == "org.hearth.export.v1")
        #expect(archive["account"]?["user_id"]?.stringValue == alice.userID)
        #expect(archive["account"]?["displayname"] == "Alice Export")
        #expect(archive["devices"]?.arrayValue?.isEmpty == false)
        #expect(archive["account_data"]?["global"]?["org.example.notes"]?["note"] == "private-note-6464")
        #expect(archive["rooms"]?.arrayValue?.contains { $0["room_id"]?.stringValue == room && $0["membership"] == "join" } == true)
        let bodies = (archive["events"]?.arrayValue ?? []).compactMap { $0["content"]?["body"]?.stringValue }
        #expect(bodies.contains("alice-said-6262") && !bodies.contains("bob-said-6363"))
        let file = try #require(archive["media"]?.arrayValue?.first { $0["content_uri"]?.stringValue == uri })
        #expect(file["file_name"] == "mine.txt")
        #expect(file["content_base64"]?.stringValue.flatMap { Base64.decode($0) } == Array("alice-file-6161".utf8))

        // Nobody else's: only server admins export another member.
        try await server.get("/_hearth/admin/v1/users/\(alice.userID.urlPathEncoded)/export", bob).expectError(403, "M_FORBIDDEN")
        let byAdmin = try await server.get("/_hearth/admin/v1/users/\(alice.userID.urlPathEncoded)/export", admin)
        #expect(byAdmin.json["account"]?["user_id"]?.stringValue == alice.userID)
    }

    @Test func erasureRemovesTheMembersMessagesUploadsAndProfileFromTheFiles() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let bob = try await server.register("bob")
        try await server.put(TestServer.v3("/profile/\(alice.userID.urlPathEncoded)/displayname"), alice,
                             ["displayname": "Alice Erasable-8383"]).expectOK()
        let room = try await server.createRoom(bob, ["preset": "public_chat"])
        try await server.join(alice, room)
        let upload = try await MediaTests.upload(server, alice, Array("alice-upload-8282".utf8), contentType: "text/plain")
        let uri = try #require(upload.json["content_uri"]?.stringValue)
        let said = try await server.sendEvent(alice, room, type: "m.room.message", ["msgtype": "m.text", "body": "erase-me-8181"])
        _ = try await server.sendEvent(alice, room, type: "m.room.message", ["msgtype": "m.file", "body": "f", "url": .string(uri)])
        _ = try await server.sendEvent(bob, room, type: "m.room.message", ["msgtype": "m.text", "body": "bob-stays-8484"])
        #expect(RetentionTests.onDisk(server, "erase-me-8181") && RetentionTests.onDisk(server, "Alice Erasable-8383"))

        try await AccountTests.withPassword(server, "POST", TestServer.v3("/account/deactivate"), alice, password: "pw",
                                            body: ["erase": true]).expectOK()

        // Bob sees her message redacted in her name, and her member events without a name.
        let event = try await server.get(TestServer.room(room, "/event/\(said.urlPathEncoded)"), bob)
        #expect(event.json["content"] == [:])
        #expect(event.json["unsigned"]?["redacted_because"]?["sender"]?.stringValue == alice.userID)
        // The directory no longer finds her.
        let search = try await server.post(TestServer.v3("/user_directory/search"), bob, ["search_term": "Erasable"])
        #expect(search.json["results"]?.arrayValue?.isEmpty == true)
        // Nothing of hers is left on disk; bob's message is.
        for gone in ["erase-me-8181", "Alice Erasable-8383", "alice-upload-8282"] {
            #expect(!RetentionTests.onDisk(server, gone), "\(gone) is still on disk")
        }
        #expect(RetentionTests.onDisk(server, "bob-stays-8484"))
    }
}
