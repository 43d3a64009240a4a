import Foundation
import HearthCore
import Testing

/// Space hierarchies.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#spaces
@Suite(.serialized) struct SpaceTests {
    @Test func hierarchy() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let space = try await server.createRoom(alice, ["preset": "public_chat", "name": "Clinic", "creation_content": ["type": "m.space"]])
        let lobby = try await server.createRoom(alice, ["preset": "public_chat", "name": "Lobby"])
        let staff = try await server.createRoom(alice, ["name": "Staff only"])
        let wing = try await server.createRoom(alice, ["preset": "public_chat", "name": "East wing", "creation_content": ["type": "m.space"]])
        let ward = try await server.createRoom(alice, ["preset": "public_chat", "name": "Ward 3"])
        func link(_ parent: String, _ child: String, suggested: Bool = false) async throws {
            try await server.setState(alice, parent, "m.space.child", child, ["via": ["hearth.test"], "suggested": .bool(suggested)])
        }
        try await link(space, lobby, suggested: true)
        try await link(space, staff)
        try await link(space, wing)
        try await link(wing, ward)
        // A child without `via` is not a child.
        try await server.setState(alice, space, "m.space.child", "!gone:hearth.test", [:])
        let path = "/_matrix/client/v1/rooms/\(space.urlPathEncoded)/hierarchy"
        func names(_ response: TestServer.Response) -> [String] {
            (response.json["rooms"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        }
        // Depth first, in child order (state keys); Alice sees her private room, Bob does not.
        let full = try await server.get(path, alice)
        full.expectOK()
        #expect(Set(names(full)) == ["Clinic", "Lobby", "Staff only", "East wing", "Ward 3"] && names(full).first == "Clinic")
        #expect(names(full).firstIndex(of: "Ward 3")! == names(full).firstIndex(of: "East wing")! + 1)
        #expect(!names(try await server.get(path, bob)).contains("Staff only"))
        let root = try #require(full.json["rooms"]?.arrayValue?.first)
        #expect(root["room_type"] == "m.space" && root["children_state"]?.arrayValue?.count == 3)
        #expect(root["children_state"]?.arrayValue?.allSatisfy { $0["origin_server_ts"]?.intValue != nil && $0["event_id"] == nil } == true)
        // max_depth and suggested_only.
        #expect(names(try await server.get(path + "?max_depth=0", alice)) == ["Clinic"])
        #expect(!names(try await server.get(path + "?max_depth=1", alice)).contains("Ward 3"))
        #expect(names(try await server.get(path + "?suggested_only=true", alice)) == ["Clinic", "Lobby"])
        // Pages.
        let first = try await server.get(path + "?limit=2", alice)
        let next = try #require(first.json["next_batch"]?.stringValue)
        let rest = try await server.get(path + "?limit=10&from=\(next.urlQueryEncoded)", alice)
        #expect(names(first) + names(rest) == names(full) && rest.json["next_batch"] == nil)
        // A private space is closed to outsiders.
        try await server.get("/_matrix/client/v1/rooms/\(staff.urlPathEncoded)/hierarchy", bob).expectError(403, "M_FORBIDDEN")
        try await server.get(path + "?limit=0", alice).expectError(400, "M_INVALID_PARAM")
        try await server.get(path + "?from=bogus", alice).expectError(400, "M_INVALID_PARAM")
    }
}
