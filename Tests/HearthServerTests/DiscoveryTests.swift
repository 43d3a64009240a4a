import Foundation
import HearthCore
import Testing

/// Server discovery, versions and capabilities.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-discovery
@Suite(.serialized) struct DiscoveryTests {
    @Test func versionsListsStableVersionsWithoutAuth() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let versions = try await server.get("/_matrix/client/versions")
        versions.expectOK()
        let list = versions.json["versions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(list.contains("v1.19") && list.contains("v1.1") && list.contains("r0.6.1"))
        #expect(versions.json["unstable_features"]?.objectValue != nil)
        #expect(versions.headers["content-type"] == "application/json")
    }

    @Test func wellKnownNamesTheBaseURLOrIsNotFound() async throws {
        let server = try await TestServer.start { $0.publicBaseURL = "https://matrix.clinic.example/" }
        defer { Task { await server.destroy() } }
        let known = try await server.get("/.well-known/matrix/client")
        known.expectOK()
        #expect(known.json["m.homeserver"]?["base_url"] == "https://matrix.clinic.example/")

        let bare = try await TestServer.start { $0.publicBaseURL = nil }
        defer { Task { await bare.destroy() } }
        try await bare.get("/.well-known/matrix/client").expectError(404, "M_NOT_FOUND")
    }

    @Test func capabilitiesNeedAuthAndListEveryRoomVersion() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        try await server.get(TestServer.v3("/capabilities")).expectError(401, "M_MISSING_TOKEN")
        try await server.request("GET", TestServer.v3("/capabilities"), token: "nonsense").expectError(401, "M_UNKNOWN_TOKEN")
        let alice = try await server.register("alice")
        let response = try await server.get(TestServer.v3("/capabilities"), alice)
        response.expectOK()
        let capabilities = try #require(response.json["capabilities"])
        #expect(capabilities["m.room_versions"]?["default"] == "12")
        let available = capabilities["m.room_versions"]?["available"]?.objectValue
        for version in 1...12 { #expect(available?["\(version)"] == "stable", "room version \(version)") }
        #expect(capabilities["m.change_password"]?["enabled"] == true)
        #expect(capabilities["m.3pid_changes"]?["enabled"] == false)
        // The legacy r0 prefix serves the same endpoint.
        #expect(try await server.get("/_matrix/client/r0/capabilities", alice).status == 200)
    }

    @Test func corsPreflightIsAnswered() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let preflight = try await server.request("OPTIONS", TestServer.v3("/sync"))
        #expect(preflight.status == 200)
        #expect(preflight.headers["access-control-allow-origin"] == "*")
        #expect(preflight.headers["access-control-allow-headers"]?.contains("Authorization") == true)
    }
}
