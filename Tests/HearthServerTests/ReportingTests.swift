import Foundation
import HearthCore
import Testing

/// Reporting events, rooms and users.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#reporting-content
@Suite(.serialized) struct ReportingTests {
    @Test func reports() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.publicRoom(alice, with: bob)
        let abuse = try await server.send(alice, room, body: "abusive")
        try await server.post(TestServer.room(room, "/report/\(abuse.urlPathEncoded)"), bob, ["reason": "rude", "score": -100]).expectOK()
        try await server.post(TestServer.room(room, "/report"), bob, ["reason": "spam room"]).expectOK()
        try await server.post(TestServer.v3("/users/\(alice.userID.urlPathEncoded)/report"), bob, ["reason": "harasser"]).expectOK()
        let reports = try await server.homeserver.storage.userData.reports()
        #expect(reports.count == 3)
        #expect(reports.contains { $0.eventID?.rawValue == abuse && $0.reason == "rude" && $0.score == -100 })
        #expect(reports.contains { $0.eventID == nil && $0.roomID?.rawValue == room && $0.reason == "spam room" })
        #expect(reports.contains { $0.userID?.rawValue == alice.userID && $0.reporter.rawValue == bob.userID })
        // What the reporter cannot see or what does not exist is not found.
        let carol = try await server.register("carol")
        let secret = try await server.createRoom(alice)
        let hidden = try await server.send(alice, secret, body: "private")
        try await server.post(TestServer.room(secret, "/report/\(hidden.urlPathEncoded)"), carol, ["reason": "x"]).expectError(404, "M_NOT_FOUND")
        try await server.post(TestServer.room(room, "/report/%24missing"), bob, [:]).expectError(404, "M_NOT_FOUND")
        try await server.post(TestServer.room("!nope:hearth.test", "/report"), bob, [:]).expectError(404, "M_NOT_FOUND")
        try await server.post(TestServer.v3("/users/@ghost:hearth.test/report"), bob, [:]).expectError(404, "M_NOT_FOUND")
        try await server.post(TestServer.room(room, "/report/\(abuse.urlPathEncoded)"), bob, ["score": "bad"]).expectError(400, "M_BAD_JSON")
        try await server.post(TestServer.room(room, "/report"), nil, [:]).expectError(401, "M_MISSING_TOKEN")
        #expect(try await server.homeserver.storage.userData.reports().count == 3)
    }
}
