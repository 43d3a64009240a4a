import Foundation
import HearthCore
import Testing

/// Guest accounts, when the server allows them.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#guest-access
@Suite(.serialized) struct GuestAccessTests {
    static func guest(_ server: TestServer) async throws -> TestServer.User {
        let response = try await server.post(TestServer.v3("/register?kind=guest"), nil, [:])
        guard let token = response.json["access_token"]?.stringValue, let user = response.json["user_id"]?.stringValue else {
            throw TestError("guest registration failed: \(response.json.encodedString())")
        }
        return TestServer.User(userID: user, token: token, deviceID: response.json["device_id"]?.stringValue ?? "")
    }

    @Test func guestsJoinOnlyWhereGuestAccessAllows() async throws {
        let server = try await TestServer.start { $0.allowGuestAccess = true }
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let guest = try await Self.guest(server)
        let welcoming = try await server.createRoom(alice, ["preset": "public_chat", "initial_state": [
            ["type": "m.room.guest_access", "content": ["guest_access": "can_join"]],
        ]])
        let closed = try await server.createRoom(alice, ["preset": "public_chat"])
        try await server.post(TestServer.room(closed, "/join"), guest).expectError(403, "M_GUEST_ACCESS_FORBIDDEN")
        try await server.join(guest, welcoming)
        let message = try await server.send(guest, welcoming, body: "hello from a guest")
        let seen = try await server.sync(alice).joinedRoom(welcoming)?["timeline"]?.events.eventIDs() ?? []
        #expect(seen.contains(message))
        // What guests may not do.
        try await server.post(TestServer.v3("/createRoom"), guest, [:]).expectError(403, "M_GUEST_ACCESS_FORBIDDEN")
        try await server.post(TestServer.room(welcoming, "/invite"), guest, ["user_id": .string(alice.userID)])
            .expectError(403, "M_GUEST_ACCESS_FORBIDDEN")
        try await server.request("POST", "/_matrix/media/v3/upload", token: guest.token, body: [1], contentType: "text/plain")
            .expectError(403, "M_GUEST_ACCESS_FORBIDDEN")
        try await server.post(TestServer.v3("/knock/\(closed.urlPathEncoded)"), guest).expectError(403, "M_GUEST_ACCESS_FORBIDDEN")
        try await server.put(TestServer.v3("/directory/room/%23g:hearth.test"), guest, ["room_id": .string(welcoming)])
            .expectError(403, "M_GUEST_ACCESS_FORBIDDEN")
        // Guests can leave.
        try await server.post(TestServer.room(welcoming, "/leave"), guest).expectOK()
        // Guests do not appear in the user directory.
        let search = try await server.post(TestServer.v3("/user_directory/search"), alice, ["search_term": .string(String(guest.userID.dropFirst().prefix(4)))])
        #expect(search.json["results"]?.arrayValue?.contains { $0["user_id"]?.stringValue == guest.userID } == false)
    }
}
