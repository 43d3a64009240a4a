import Foundation
import HearthCore
import Testing

/// Short forms for the client-server API tests: paths under `/_matrix/client/v3`, room paths
/// with the room ID percent-encoded, and the membership steps many tests need.
extension TestServer {
    /// `/_matrix/client/v3` + `path`.
    static func v3(_ path: String) -> String { "/_matrix/client/v3" + path }

    /// `/_matrix/client/v3/rooms/{roomId}` + `rest`.
    static func room(_ roomID: String, _ rest: String) -> String {
        "/_matrix/client/v3/rooms/\(roomID.urlPathEncoded)" + rest
    }

    func get(_ path: String, _ user: User? = nil) async throws -> Response {
        try await request("GET", path, token: user?.token)
    }

    func post(_ path: String, _ user: User? = nil, _ json: JSONValue = [:]) async throws -> Response {
        try await request("POST", path, token: user?.token, json: json)
    }

    func put(_ path: String, _ user: User? = nil, _ json: JSONValue = [:]) async throws -> Response {
        try await request("PUT", path, token: user?.token, json: json)
    }

    func delete(_ path: String, _ user: User? = nil, _ json: JSONValue? = nil) async throws -> Response {
        try await request("DELETE", path, token: user?.token, json: json)
    }

    /// A public room created by `creator` that `others` have joined.
    func publicRoom(_ creator: User, with others: User...) async throws -> String {
        let room = try await createRoom(creator, ["preset": "public_chat"])
        for user in others { try await join(user, room) }
        return room
    }

    /// Joins and fails the test if the join is refused.
    func join(_ user: User, _ roomIDOrAlias: String) async throws {
        let response = try await post(Self.v3("/join/\(roomIDOrAlias.urlPathEncoded)"), user)
        guard response.status == 200 else { throw TestError("join failed: \(response.status) \(response.json.encodedString())") }
    }

    func invite(_ inviter: User, _ roomID: String, _ invitee: User) async throws {
        let response = try await post(Self.room(roomID, "/invite"), inviter, ["user_id": .string(invitee.userID)])
        guard response.status == 200 else { throw TestError("invite failed: \(response.status) \(response.json.encodedString())") }
    }

    /// Sets a state event and returns its ID.
    @discardableResult
    func setState(_ user: User, _ roomID: String, _ type: String, _ stateKey: String = "", _ content: JSONValue) async throws -> String {
        let path = Self.room(roomID, "/state/\(type)" + (stateKey.isEmpty ? "" : "/\(stateKey.urlPathEncoded)"))
        let response = try await put(path, user, content)
        guard let id = response.json["event_id"]?.stringValue else {
            throw TestError("state failed: \(response.status) \(response.json.encodedString())")
        }
        return id
    }

    /// Sends any event type and returns its ID.
    @discardableResult
    func sendEvent(_ user: User, _ roomID: String, type: String, _ content: JSONValue, txn: String = UUID().uuidString) async throws -> String {
        let response = try await put(Self.room(roomID, "/send/\(type)/\(txn)"), user, content)
        guard let id = response.json["event_id"]?.stringValue else {
            throw TestError("send failed: \(response.status) \(response.json.encodedString())")
        }
        return id
    }

    /// Logs in with a password and returns the new session.
    func login(_ localpart: String, password: String = "correct horse battery", deviceID: String? = nil) async throws -> User {
        var body: JSONObject = ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": .string(localpart)],
                                "password": .string(password)]
        if let deviceID { body["device_id"] = .string(deviceID) }
        let response = try await post(Self.v3("/login"), nil, .object(body))
        guard let token = response.json["access_token"]?.stringValue, let user = response.json["user_id"]?.stringValue,
              let device = response.json["device_id"]?.stringValue
        else { throw TestError("login failed: \(response.status) \(response.json.encodedString())") }
        return User(userID: user, token: token, deviceID: device)
    }

    /// A page of `/messages`, as event IDs and the raw response.
    func messages(_ user: User, _ roomID: String, query: String) async throws -> Response {
        try await get(Self.room(roomID, "/messages?" + query), user)
    }
}

extension TestServer.Response {
    /// Asserts an error response: HTTP status and spec errcode.
    func expectError(_ status: Int, _ errcode: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(self.status == status && self.errcode == errcode,
                "expected \(status) \(errcode), got \(self.status) \(json.encodedString())", sourceLocation: sourceLocation)
    }

    func expectOK(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(status == 200, "expected 200, got \(status) \(json.encodedString())", sourceLocation: sourceLocation)
    }
}

extension JSONValue {
    /// The events of a sync section (`["events"]`) or a chunk, as an array.
    var events: [JSONValue] { self["events"]?.arrayValue ?? [] }

    /// A room's section of a sync response.
    func joinedRoom(_ roomID: String) -> JSONValue? { self["rooms"]?["join"]?[roomID] }

    func eventIDs() -> [String] { (arrayValue ?? []).compactMap { $0["event_id"]?.stringValue } }
}

extension Array where Element == JSONValue {
    func eventIDs() -> [String] { compactMap { $0["event_id"]?.stringValue } }
}
