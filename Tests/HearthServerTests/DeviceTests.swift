import Foundation
import HearthCore
import Testing

/// Device management.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#device-management
@Suite(.serialized) struct DeviceTests {
    @Test func listGetRename() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let phone = try await server.login("alice", password: "pw", deviceID: "PHONE")
        let list = try await server.get(TestServer.v3("/devices"), alice)
        let ids = Set(list.json["devices"]?.arrayValue?.compactMap { $0["device_id"]?.stringValue } ?? [])
        #expect(ids == [alice.deviceID, "PHONE"])
        #expect(list.json["devices"]?.arrayValue?.allSatisfy { $0["last_seen_ts"]?.intValue != nil } == true)
        try await server.put(TestServer.v3("/devices/PHONE"), alice, ["display_name": "Alice's phone"]).expectOK()
        let device = try await server.get(TestServer.v3("/devices/PHONE"), phone)
        #expect(device.json["device_id"] == "PHONE" && device.json["display_name"] == "Alice's phone")
        try await server.get(TestServer.v3("/devices/NOPE"), alice).expectError(404, "M_NOT_FOUND")
        try await server.put(TestServer.v3("/devices/NOPE"), alice, ["display_name": "x"]).expectError(404, "M_NOT_FOUND")
        try await server.put(TestServer.v3("/devices/PHONE"), alice, ["display_name": 5]).expectError(400, "M_BAD_JSON")
        // Another user's device is not found, not revealed.
        let bob = try await server.register("bob")
        try await server.get(TestServer.v3("/devices/PHONE"), bob).expectError(404, "M_NOT_FOUND")
    }

    @Test func deleteNeedsUserInteractiveAuth() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let phone = try await server.login("alice", password: "pw", deviceID: "PHONE")
        let challenge = try await server.delete(TestServer.v3("/devices/PHONE"), alice)
        #expect(challenge.status == 401)
        #expect(challenge.json["flows"]?.arrayValue?.first?["stages"] == ["m.login.password"])
        // Still there until the password is given.
        try await server.get(TestServer.v3("/account/whoami"), phone).expectOK()
        try await AccountTests.withPassword(server, "DELETE", TestServer.v3("/devices/PHONE"), alice, password: "pw").expectOK()
        try await server.get(TestServer.v3("/account/whoami"), phone).expectError(401, "M_UNKNOWN_TOKEN")
        try await server.get(TestServer.v3("/devices/PHONE"), alice).expectError(404, "M_NOT_FOUND")
        // A UIA session for deleting one device cannot be spent on another request.
        _ = try await server.login("alice", password: "pw", deviceID: "TABLET")
        let first = try await server.delete(TestServer.v3("/devices/TABLET"), alice)
        let session = try #require(first.json["session"]?.stringValue)
        let misuse = try await server.post(TestServer.v3("/account/password"), alice, [
            "new_password": "x", "auth": ["type": "m.login.dummy", "session": .string(session)],
        ])
        #expect(misuse.status == 401 && misuse.json["session"]?.stringValue != session)
    }

    @Test func deleteSeveralDevices() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice", password: "pw")
        let a = try await server.login("alice", password: "pw", deviceID: "A")
        let b = try await server.login("alice", password: "pw", deviceID: "B")
        try await server.post(TestServer.v3("/delete_devices"), alice, [:]).expectError(400, "M_MISSING_PARAM")
        try await AccountTests.withPassword(server, "POST", TestServer.v3("/delete_devices"), alice, password: "pw",
                                            body: ["devices": ["A", "B", "UNKNOWN"]]).expectOK()
        for session in [a, b] { try await server.get(TestServer.v3("/account/whoami"), session).expectError(401, "M_UNKNOWN_TOKEN") }
        try await server.get(TestServer.v3("/account/whoami"), alice).expectOK()
    }
}
