import Crypto
import HearthCore
import NIOHTTP1

/// A registered account the load runs as.
struct LoadUser: Sendable {
    var userID: String
    var token: String
}

struct MatrixCallError: Error, CustomStringConvertible {
    var description: String
}

/// The handful of client-server API calls the load tool makes (spec v1.19, client-server API),
/// with nothing server-specific, so the same run can be pointed at Hearth, Synapse or any other
/// homeserver.
enum MatrixCalls {
    static let v3 = "/_matrix/client/v3"

    /// Percent-encodes a path segment (room IDs contain `!`, `:`, and in v12 `-`/`_`).
    static func segment(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 15, radix: 16, uppercase: true)
            }
        }
        return out
    }

    static func call(_ connection: HTTPConnection, _ method: HTTPMethod, _ path: String, token: String? = nil,
                     json: JSONValue? = nil) async throws -> JSONValue {
        let response = try await connection.request(method, path, token: token, body: json?.encoded())
        let parsed = try? JSONValue.parse(response.body)
        guard response.status == 200, let parsed else {
            throw MatrixCallError(description: "\(method) \(path): HTTP \(response.status) \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        return parsed
    }

    /// Open registration with the m.login.dummy stage (spec: Client-Server API, "Dummy Auth").
    static func registerDummy(_ c: HTTPConnection, localpart: String, password: String) async throws -> LoadUser {
        let reply = try await call(c, .POST, v3 + "/register", json: [
            "username": .string(localpart), "password": .string(password), "auth": ["type": "m.login.dummy"],
            "initial_device_display_name": "hearth-load",
        ])
        return try user(from: reply)
    }

    /// Shared-secret registration at /_synapse/admin/v1/register, which Synapse and Hearth both
    /// serve: HMAC-SHA1 over nonce, user, password and admin flag, NUL-separated.
    static func registerSharedSecret(_ c: HTTPConnection, secret: String, localpart: String,
                                     password: String) async throws -> LoadUser {
        let nonceReply = try await call(c, .GET, "/_synapse/admin/v1/register")
        guard let nonce = nonceReply["nonce"]?.stringValue else { throw MatrixCallError(description: "no nonce") }
        let message = Array("\(nonce)\u{0}\(localpart)\u{0}\(password)\u{0}notadmin".utf8)
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
        let digits = Array("0123456789abcdef")
        let hex = String(mac.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
        let reply = try await call(c, .POST, "/_synapse/admin/v1/register", json: [
            "nonce": .string(nonce), "username": .string(localpart), "password": .string(password),
            "admin": false, "mac": .string(hex),
        ])
        return try user(from: reply)
    }

    private static func user(from reply: JSONValue) throws -> LoadUser {
        guard let id = reply["user_id"]?.stringValue, let token = reply["access_token"]?.stringValue else {
            throw MatrixCallError(description: "registration reply without user_id/access_token: \(reply.encodedString())")
        }
        return LoadUser(userID: id, token: token)
    }

    static func createRoom(_ c: HTTPConnection, _ user: LoadUser, name: String) async throws -> String {
        let reply = try await call(c, .POST, v3 + "/createRoom", token: user.token,
                                   json: ["preset": "public_chat", "name": .string(name)])
        guard let roomID = reply["room_id"]?.stringValue else { throw MatrixCallError(description: "createRoom without room_id") }
        return roomID
    }

    static func join(_ c: HTTPConnection, _ user: LoadUser, roomID: String) async throws {
        _ = try await call(c, .POST, v3 + "/join/" + segment(roomID), token: user.token, json: [:])
    }

    /// PUT /rooms/{roomId}/send/m.room.message/{txnId}; the event ID the server acknowledged.
    static func send(_ c: HTTPConnection, _ user: LoadUser, roomID: String, txnID: String, body: String) async throws -> String {
        let reply = try await call(c, .PUT, v3 + "/rooms/\(segment(roomID))/send/m.room.message/\(segment(txnID))",
                                   token: user.token, json: ["msgtype": "m.text", "body": .string(body)])
        guard let eventID = reply["event_id"]?.stringValue else { throw MatrixCallError(description: "send without event_id") }
        return eventID
    }

    /// The filter every syncing user applies, the same for every server: a timeline window
    /// large enough that a burst is not cut into a gap, and no presence.
    static let syncFilter: JSONValue = ["room": ["timeline": ["limit": 200]], "presence": ["not_types": ["*"]]]

    static func sync(_ c: HTTPConnection, _ user: LoadUser, since: String?, timeoutMs: Int) async throws -> JSONValue {
        var path = v3 + "/sync?timeout=\(timeoutMs)&filter=" + segment(syncFilter.encodedString())
        if let since { path += "&since=" + segment(since) }
        return try await call(c, .GET, path, token: user.token)
    }
}
