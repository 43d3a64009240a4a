import Foundation
import HearthCore
import Testing

/// Rate limits, body limits and the error responses shared by every endpoint.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#standard-error-response
@Suite(.serialized) struct LimitsAndErrorsTests {
    @Test func rateLimitedEndpointsAnswer429WithRetryAfter() async throws {
        let server = try await TestServer.start {
            $0.rateLimitPerSecond = 0.5
            $0.rateLimitBurst = 3
        }
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        var limited: TestServer.Response? = nil
        for i in 0..<10 {
            let response = try await server.put(TestServer.room(room, "/send/m.room.message/rl\(i)"), alice, ["body": "x"])
            if response.status == 429 { limited = response; break }
        }
        let response = try #require(limited)
        response.expectError(429, "M_LIMIT_EXCEEDED")
        let retry = try #require(response.json["retry_after_ms"]?.intValue)
        #expect(retry > 0 && retry <= 2000)
        #expect(response.headers["retry-after"] != nil)
        // Limits are per user: Bob is not affected by Alice's burst.
        let bob = try TestServer.User(userID: "@bob:hearth.test", token: try await server.homeserver.accounts.createAccount(
            userID: UserID("@bob:hearth.test")!, password: "pw")!.accessToken, deviceID: "")
        try await server.post(TestServer.v3("/createRoom"), bob).expectOK()
        // After the wait, Alice may send again.
        try await Task.sleep(for: .milliseconds(Int(retry) + 50))
        try await server.put(TestServer.room(room, "/send/m.room.message/after"), alice, ["body": "x"]).expectOK()
    }

    @Test func bodiesOverTheLimitAreRefused() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let huge = Array("{\"body\":\"".utf8) + Array(repeating: UInt8(ascii: "x"), count: 2 << 20) + Array("\"}".utf8)
        let response = try await server.request("PUT", TestServer.v3("/user/\(alice.userID.urlPathEncoded)/account_data/big"), token: alice.token,
                                                 body: huge, contentType: "application/json")
        response.expectError(413, "M_TOO_LARGE")
        try await server.get(TestServer.v3("/user/\(alice.userID.urlPathEncoded)/account_data/big"), alice).expectError(404, "M_NOT_FOUND")
    }

    @Test func commonErrors() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        try await server.get(TestServer.v3("/nothing/here")).expectError(404, "M_UNRECOGNIZED")
        try await server.get("/_matrix/client/v4/sync").expectError(404, "M_UNRECOGNIZED")
        try await server.delete(TestServer.v3("/createRoom"), alice).expectError(405, "M_UNRECOGNIZED")
        try await server.request("GET", TestServer.v3("/account/whoami"), token: "hth_forged").expectError(401, "M_UNKNOWN_TOKEN")
        let notJSON = try await server.request("POST", TestServer.v3("/createRoom"), token: alice.token, body: Array("nope".utf8),
                                               contentType: "application/json")
        notJSON.expectError(400, "M_NOT_JSON")
        try await server.post(TestServer.v3("/createRoom"), alice, ["name": 5]).expectError(400, "M_BAD_JSON")
        // A HEAD request is answered like GET.
        #expect(try await server.request("HEAD", "/_matrix/client/versions").status == 200)
        // The legacy r0 prefix serves the same endpoints.
        #expect(try await server.get("/_matrix/client/r0/account/whoami", alice).json["user_id"]?.stringValue == alice.userID)
    }
}
