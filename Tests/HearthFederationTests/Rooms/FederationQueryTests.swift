import Foundation
import HearthCore
import HearthFederation
import HearthHomeserver
import HearthStorage
import Testing

/// The federation read and query endpoints, over TLS with signed requests.
@Suite(.serialized) struct FederationQueryTests {
    static func expectError(_ code: ErrorCode, status: Int, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code.rawValue)")
        } catch let error as FederationError {
            guard case .remote(let got, let matrixError) = error else { Issue.record("unexpected \(error)"); return }
            #expect(got == status && matrixError?.code == code, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func queriesDirectoryProfilesDevicesKeysOpenIDAndMedia() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        let b = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy() } }
        let bob = UserID("@bob:\(b.name.rawValue)")!
        _ = try await b.homeserver.accounts.createAccount(userID: bob, password: nil, displayName: "Bob B", deviceID: "BOBPHONE")
        let lobby = try await b.homeserver.publicRoom(by: bob, ["name": "Lobby", "room_alias_name": "lobby", "visibility": "public"])
        let space = try await b.homeserver.publicRoom(by: bob, ["name": "Space", "creation_content": ["type": "m.space"], "visibility": "public"])
        try await b.homeserver.rooms.send(space, sender: bob, type: "m.space.child", stateKey: lobby.rawValue,
                                          content: ["via": [.string(b.name.rawValue)], "suggested": true])
        let client = a.federation.client

        let profile = try await client.get(FederationPath.make("v1", "query", "profile"), query: [("user_id", bob.rawValue)], from: b.name)
        #expect(profile["displayname"]?.stringValue == "Bob B")
        let alias = "#lobby:\(b.name.rawValue)"
        let directory = try await client.get(FederationPath.make("v1", "query", "directory"), query: [("room_alias", alias)], from: b.name)
        #expect(directory["room_id"]?.stringValue == lobby.rawValue)
        #expect(directory["servers"]?.arrayValue?.first?.stringValue == b.name.rawValue)
        await Self.expectError(.notFound, status: 404) {
            _ = try await client.get(FederationPath.make("v1", "query", "directory"), query: [("room_alias", "#nope:\(b.name.rawValue)")], from: b.name)
        }

        let rooms = try await client.get(FederationPath.make("v1", "publicRooms"), from: b.name)
        #expect(Set(rooms["chunk"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []) == ["Lobby", "Space"])
        let searched = try await client.post(FederationPath.make("v1", "publicRooms"), json: ["filter": ["generic_search_term": "lob"]], to: b.name)
        #expect(searched["chunk"]?.arrayValue?.map { $0["room_id"]?.stringValue } == [lobby.rawValue])
        let hierarchy = try await client.get(FederationPath.make("v1", "hierarchy", space.rawValue), query: [("suggested_only", "true")], from: b.name)
        #expect(hierarchy["room"]?["room_type"]?.stringValue == "m.space")
        #expect(hierarchy["children"]?.arrayValue?.map { $0["room_id"]?.stringValue } == [lobby.rawValue])

        let devices = try await client.get(FederationPath.make("v1", "user", "devices", bob.rawValue), from: b.name)
        #expect(devices["devices"]?.arrayValue?.map { $0["device_id"]?.stringValue } == ["BOBPHONE"])
        let keys = try await client.post(FederationPath.make("v1", "user", "keys", "query"),
                                         json: ["device_keys": .object([bob.rawValue: []] as JSONObject)], to: b.name)
        #expect(keys["device_keys"]?[bob.rawValue] != nil)
        let claimed = try await client.post(FederationPath.make("v1", "user", "keys", "claim"), json: ["one_time_keys": [:]], to: b.name)
        #expect(claimed["one_time_keys"]?.objectValue?.isEmpty == true)

        // OpenID: a token bob's client asked for names bob; anything else is unknown.
        let token = b.homeserver.openID.issue(for: bob, serverName: b.name)["access_token"]?.stringValue ?? ""
        let info = try await client.get(FederationPath.make("v1", "openid", "userinfo"), query: [("access_token", token)], from: b.name)
        #expect(info["sub"]?.stringValue == bob.rawValue)
        await Self.expectError(.unknownToken, status: 401) {
            _ = try await client.get(FederationPath.make("v1", "openid", "userinfo"), query: [("access_token", "forged")], from: b.name)
        }

        // Authenticated media: multipart/mixed, JSON metadata then the bytes.
        let mxc = try await b.homeserver.media.upload(Array("hello media".utf8), contentType: "text/plain", fileName: "hi.txt", uploader: bob)
        let mediaID = String(mxc.split(separator: "/").last!)
        let media = try await client.request("GET", FederationPath.make("v1", "media", "download", mediaID), json: nil, destination: b.name)
        #expect(media.headers.first { $0.key.lowercased() == "content-type" }?.value.hasPrefix("multipart/mixed; boundary=") == true)
        #expect(String(decoding: media.body, as: UTF8.self).contains("Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"hi.txt\"\r\n\r\nhello media\r\n"))

        // The same, as a's clients see it: a remote alias and a remote profile.
        let (resolved, via) = try await a.homeserver.federation.resolveAlias(RoomAlias(alias)!)
        #expect(resolved == lobby && via.contains(b.name))
        #expect(try await a.homeserver.federation.remoteProfile(bob)["displayname"]?.stringValue == "Bob B")
    }

    @Test func roomReadsAreAuthorizedAndVersionsNegotiated() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let a = try await FedTestServer.start(ca: ca)
        let b = try await FedTestServer.start(ca: ca)
        defer { Task { await a.destroy(); await b.destroy() } }
        let bob = try await b.homeserver.makeUser("bob")
        let alice = try await a.homeserver.makeUser("alice")
        let secret = try await b.homeserver.rooms.createRoom(["preset": "private_chat"], by: bob, creatorProfile: (nil, nil))
        let message = try await b.homeserver.say(bob, in: secret, "private")
        let client = a.federation.client

        // A server with nobody in a private room reads nothing of it.
        await Self.expectError(.forbidden, status: 403) {
            _ = try await client.get(FederationPath.make("v1", "state_ids", secret.rawValue), query: [("event_id", message.rawValue)], from: b.name)
        }
        await Self.expectError(.forbidden, status: 403) {
            _ = try await client.get(FederationPath.make("v1", "event", message.rawValue), from: b.name)
        }
        await Self.expectError(.forbidden, status: 403) {
            _ = try await client.get(FederationPath.make("v1", "backfill", secret.rawValue), query: [("v", message.rawValue)], from: b.name)
        }
        // make_join: the room's version must be among the joining server's.
        do {
            _ = try await client.get(FederationPath.make("v1", "make_join", secret.rawValue, alice.rawValue), query: [("ver", "1")], from: b.name)
            Issue.record("make_join succeeded for an unsupported version")
        } catch {
            guard case .remote(let status, let error) = error else { throw error }
            #expect(status == 400 && error?.code == .incompatibleRoomVersion && error?.extra["room_version"]?.stringValue == "12")
        }
        // A user of another server cannot be joined by this one.
        await Self.expectError(.forbidden, status: 403) {
            _ = try await client.get(FederationPath.make("v1", "make_join", secret.rawValue, bob.rawValue), query: [("ver", "12")], from: b.name)
        }

        // Once alice is in, a reads the room's state and history.
        try await b.homeserver.rooms.setMembership(secret, sender: bob, target: alice, membership: "invite")
        try await a.homeserver.rooms.join(secret, user: alice)
        let ids = try await client.get(FederationPath.make("v1", "state_ids", secret.rawValue), query: [("event_id", message.rawValue)], from: b.name)
        #expect(Set(ids["pdu_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []) == Set(try await b.homeserver.storage.rooms.state(
            try #require(try await b.homeserver.storage.rooms.event(message)?.stateGroupBefore)).values.map(\.rawValue)))
        let event = try await client.get(FederationPath.make("v1", "event", message.rawValue), from: b.name)
        #expect(event["pdus"]?.arrayValue?.first?["content"]?["body"]?.stringValue == "private")
        let backfill = try await client.get(FederationPath.make("v1", "backfill", secret.rawValue), query: [("v", message.rawValue), ("limit", "100")], from: b.name)
        #expect(backfill["pdus"]?.arrayValue?.contains { $0["type"]?.stringValue == "m.room.create" } == true)
        let missing = try await client.post(FederationPath.make("v1", "get_missing_events", secret.rawValue),
                                            json: ["earliest_events": [], "latest_events": [.string(message.rawValue)], "limit": 3], to: b.name)
        #expect(missing["events"]?.arrayValue?.count == 3)
    }
}
