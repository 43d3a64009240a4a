import Foundation
import HearthCore
import Testing

@Suite(.serialized) struct CoreClientFlowTests {
    @Test func versionsAndUnknownEndpoints() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let versions = try await server.request("GET", "/_matrix/client/versions")
        #expect(versions.status == 200)
        #expect(versions.json["versions"]?.arrayValue?.contains("v1.19") == true)
        let unknown = try await server.request("GET", "/_matrix/client/v3/no_such_thing")
        #expect(unknown.status == 404 && unknown.errcode == "M_UNRECOGNIZED")
        let wrongMethod = try await server.request("DELETE", "/_matrix/client/versions")
        #expect(wrongMethod.status == 405 && wrongMethod.errcode == "M_UNRECOGNIZED")
        #expect(unknown.headers["access-control-allow-origin"] == "*")
    }

    @Test func registrationErrors() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        _ = try await server.register("alice")
        let taken = try await server.request("GET", "/_matrix/client/v3/register/available?username=alice")
        #expect(taken.status == 400 && taken.errcode == "M_USER_IN_USE")
        let invalid = try await server.request("GET", "/_matrix/client/v3/register/available?username=al%20ice")
        #expect(invalid.status == 400 && invalid.errcode == "M_INVALID_USERNAME")
        let free = try await server.request("GET", "/_matrix/client/v3/register/available?username=bob")
        #expect(free.json["available"] == true)
        // Registering a taken name fails before any auth stage.
        let again = try await server.request("POST", "/_matrix/client/v3/register", json: ["username": "alice", "password": "x"])
        #expect(again.errcode == "M_USER_IN_USE")
        let guest = try await server.request("POST", "/_matrix/client/v3/register?kind=guest", json: [:])
        #expect(guest.status == 403 && guest.errcode == "M_GUEST_ACCESS_FORBIDDEN")
    }

    @Test func closedRegistrationIsForbidden() async throws {
        let server = try await TestServer.start { $0.enableRegistration = false }
        defer { Task { await server.destroy() } }
        let response = try await server.request("POST", "/_matrix/client/v3/register", json: ["username": "alice", "password": "x"])
        #expect(response.status == 403 && response.errcode == "M_FORBIDDEN")
    }

    @Test func registrationTokensAreRequiredAndCounted() async throws {
        let server = try await TestServer.start { $0.registrationRequiresToken = true }
        defer { Task { await server.destroy() } }
        try await server.homeserver.accounts.createRegistrationToken("invite-1", usesAllowed: 1, expiresAt: nil)
        let first = try await server.request("POST", "/_matrix/client/v3/register", json: ["username": "alice", "password": "pw"])
        #expect(first.status == 401)
        #expect(first.json["flows"]?.arrayValue?.first?["stages"] == ["m.login.registration_token"])
        let session = try #require(first.json["session"]?.stringValue)
        let wrong = try await server.request("POST", "/_matrix/client/v3/register", json: [
            "username": "alice", "password": "pw", "auth": ["type": "m.login.registration_token", "token": "nope", "session": .string(session)],
        ])
        #expect(wrong.status == 401 && wrong.errcode == "M_FORBIDDEN")
        let right = try await server.request("POST", "/_matrix/client/v3/register", json: [
            "username": "alice", "password": "pw", "auth": ["type": "m.login.registration_token", "token": "invite-1", "session": .string(session)],
        ])
        #expect(right.status == 200 && right.json["user_id"] == "@alice:hearth.test")
        let validity = try await server.request("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=invite-1")
        #expect(validity.json["valid"] == false)
    }

    @Test func loginWhoamiLogout() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "s3cret!")
        let bad = try await server.request("POST", "/_matrix/client/v3/login", json: [
            "type": "m.login.password", "identifier": ["type": "m.id.user", "user": "alice"], "password": "wrong",
        ])
        #expect(bad.status == 403 && bad.errcode == "M_FORBIDDEN")
        let login = try await server.request("POST", "/_matrix/client/v3/login", json: [
            "type": "m.login.password", "identifier": ["type": "m.id.user", "user": "@alice:hearth.test"], "password": "s3cret!",
            "refresh_token": true,
        ])
        #expect(login.status == 200)
        let token = try #require(login.json["access_token"]?.stringValue)
        #expect(login.json["refresh_token"]?.stringValue != nil && login.json["expires_in_ms"]?.intValue != nil)
        let whoami = try await server.request("GET", "/_matrix/client/v3/account/whoami", token: token)
        #expect(whoami.json["user_id"] == "@alice:hearth.test")
        let refreshed = try await server.request("POST", "/_matrix/client/v3/refresh",
                                                 json: ["refresh_token": login.json["refresh_token"]!])
        let newToken = try #require(refreshed.json["access_token"]?.stringValue)
        #expect(try await server.request("GET", "/_matrix/client/v3/account/whoami", token: token).errcode == "M_UNKNOWN_TOKEN")
        #expect(try await server.request("POST", "/_matrix/client/v3/logout", token: newToken).status == 200)
        #expect(try await server.request("GET", "/_matrix/client/v3/account/whoami", token: newToken).errcode == "M_UNKNOWN_TOKEN")
        let missing = try await server.request("GET", "/_matrix/client/v3/account/whoami")
        #expect(missing.status == 401 && missing.errcode == "M_MISSING_TOKEN")
        #expect(try await server.request("GET", "/_matrix/client/v3/account/whoami", token: alice.token).status == 200)
    }

    @Test func sendIsIdempotentByTransactionID() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        let first = try await server.send(alice, room, body: "once", txn: "txn-1")
        let second = try await server.send(alice, room, body: "once", txn: "txn-1")
        #expect(first == second)
        let page = try await server.request("GET", "/_matrix/client/v3/rooms/\(room.urlPathEncoded)/messages?dir=b&limit=50", token: alice.token)
        let bodies = page.json["chunk"]?.arrayValue?.compactMap { $0["content"]?["body"]?.stringValue } ?? []
        #expect(bodies.filter { $0 == "once" }.count == 1)
    }

    @Test func malformedRequestsGetSpecErrorsAndChangeNothing() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        let before = try await server.homeserver.storage.rooms.currentStreamPosition()
        let path = "/_matrix/client/v3/rooms/\(room.urlPathEncoded)/send/m.room.message/bad"
        let notJSON = try await server.request("PUT", path, token: alice.token, body: Array("{not json".utf8), contentType: "application/json")
        #expect(notJSON.status == 400 && notJSON.errcode == "M_NOT_JSON")
        let duplicate = try await server.request("PUT", path, token: alice.token, body: Array("{\"a\":1,\"a\":2}".utf8), contentType: "application/json")
        #expect(duplicate.status == 400 && duplicate.errcode == "M_BAD_JSON")
        let float = try await server.request("PUT", path, token: alice.token, json: ["body": "x", "n": 1.5])
        #expect(float.status == 400 && float.errcode == "M_BAD_JSON")
        let huge = try await server.request("PUT", path, token: alice.token, json: ["body": .string(String(repeating: "x", count: 70_000))])
        #expect(huge.status == 413 && huge.errcode == "M_TOO_LARGE")
        let badRoom = try await server.request("PUT", "/_matrix/client/v3/rooms/not-a-room/send/m.room.message/x", token: alice.token, json: [:])
        #expect(badRoom.status == 400 && badRoom.errcode == "M_INVALID_PARAM")
        let badVersion = try await server.request("POST", "/_matrix/client/v3/createRoom", token: alice.token, json: ["room_version": "99"])
        #expect(badVersion.status == 400 && badVersion.errcode == "M_UNSUPPORTED_ROOM_VERSION")
        #expect(try await server.homeserver.storage.rooms.currentStreamPosition() == before)
    }

    @Test func twoUsersChatAndSyncIncrementally() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, ["invite": [.string(bob.userID)], "name": "Circle"])
        let bobInitial = try await server.sync(bob)
        #expect(bobInitial["rooms"]?["invite"]?[room] != nil)
        let join = try await server.request("POST", "/_matrix/client/v3/join/\(room.urlPathEncoded)", token: bob.token, json: [:])
        #expect(join.status == 200)
        let since = try #require(try await server.sync(bob)["next_batch"]?.stringValue)

        // A long-polling sync wakes when Alice sends. How fast it wakes is measured by
        // Scripts/compare-synapse.sh; here it only has to wake well before its 30 s timeout
        // (under CI load one request can take seconds, so a tight bound would be flaky).
        async let woken = server.sync(bob, since: since, timeout: 30_000)
        try await Task.sleep(for: .milliseconds(300))
        let started = ContinuousClock.now
        let eventID = try await server.send(alice, room, body: "welcome, bob")
        let result = try await woken
        #expect(ContinuousClock.now - started < .seconds(15))
        let timeline = result["rooms"]?["join"]?[room]?["timeline"]?["events"]?.arrayValue ?? []
        #expect(timeline.contains { $0["event_id"]?.stringValue == eventID })

        // Typing and receipts reach the other user.
        _ = try await server.request("PUT", "/_matrix/client/v3/rooms/\(room.urlPathEncoded)/typing/\(alice.userID.urlPathEncoded)",
                                     token: alice.token, json: ["typing": true, "timeout": 10_000])
        _ = try await server.request("POST", "/_matrix/client/v3/rooms/\(room.urlPathEncoded)/receipt/m.read/\(eventID.urlPathEncoded)",
                                     token: bob.token, json: [:])
        let next = try #require(result["next_batch"]?.stringValue)
        let ephemeralSync = try await server.sync(alice, since: nil)
        let ephemeral = ephemeralSync["rooms"]?["join"]?[room]?["ephemeral"]?["events"]?.arrayValue ?? []
        #expect(ephemeral.contains { $0["type"] == "m.typing" && $0["content"]?["user_ids"] == [.string(alice.userID)] })
        #expect(ephemeral.contains { $0["type"] == "m.receipt" && $0["content"]?[eventID]?["m.read"]?[bob.userID] != nil })
        _ = next
    }

    @Test func paginatingBackFindsEveryEventOnce() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        var sent: [String] = []
        for i in 0..<37 { sent.append(try await server.send(alice, room, body: "m\(i)")) }
        var seen: [String] = []
        var from: String? = nil
        for _ in 0..<20 {
            var path = "/_matrix/client/v3/rooms/\(room.urlPathEncoded)/messages?dir=b&limit=5"
            if let from { path += "&from=\(from.urlQueryEncoded)" }
            let page = try await server.request("GET", path, token: alice.token)
            let chunk = page.json["chunk"]?.arrayValue ?? []
            seen += chunk.filter { $0["type"] == "m.room.message" }.compactMap { $0["event_id"]?.stringValue }
            guard let end = page.json["end"]?.stringValue, !chunk.isEmpty else { break }
            from = end
        }
        #expect(seen == sent.reversed())
        #expect(Set(seen).count == seen.count)
    }
}
