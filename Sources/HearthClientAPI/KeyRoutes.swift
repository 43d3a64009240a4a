import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// End-to-end encryption: device keys, one-time keys, cross-signing, to-device messages.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#end-to-end-encryption
enum KeyRoutes {
    static func userMap<T>(_ object: JSONObject?, _ name: String,
                           _ value: (JSONValue) throws(MatrixError) -> T) throws(MatrixError) -> [UserID: T] {
        guard let object else { throw MatrixError.missingParam("Missing \(name)") }
        var result: [UserID: T] = [:]
        for member in object {
            guard let user = UserID(member.key) else { throw MatrixError.invalidParam("Invalid user ID \(member.key) in \(name)") }
            result[user] = try value(member.value)
        }
        return result
    }

    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            e.authed(.post, ClientEndpoint.client("/keys/upload"), rateLimited: true) { request, requester in
                let counts = try await hs.keys.upload(try request.jsonBody(), for: requester)
                var json = JSONObject()
                for (algorithm, count) in counts { json[algorithm] = .int(Int64(count)) }
                if json["signed_curve25519"] == nil { json["signed_curve25519"] = 0 }
                return MatrixResponse(json: ["one_time_key_counts": .object(json)])
            },
            e.authed(.post, ClientEndpoint.client("/keys/query")) { request, requester in
                let wanted = try userMap(try request.jsonBody().optionalObject("device_keys"), "device_keys") { value throws(MatrixError) in
                    guard let devices = value.arrayValue?.compactMap(\.stringValue) else { throw .badJSON("device lists must be arrays") }
                    return devices
                }
                return MatrixResponse(json: try await hs.keys.query(wanted, for: requester))
            },
            e.authed(.post, ClientEndpoint.client("/keys/claim"), rateLimited: true) { request, _ in
                let wanted = try userMap(try request.jsonBody().optionalObject("one_time_keys"), "one_time_keys") { value throws(MatrixError) in
                    guard let devices = value.objectValue else { throw .badJSON("one_time_keys entries must be objects") }
                    var result: [String: String] = [:]
                    for device in devices {
                        guard let algorithm = device.value.stringValue else { throw .badJSON("algorithms must be strings") }
                        result[device.key] = algorithm
                    }
                    return result
                }
                return MatrixResponse(json: try await hs.keys.claim(wanted))
            },
            e.authed(.get, ClientEndpoint.client("/keys/changes")) { request, requester in
                func token(_ name: String) throws -> SyncToken {
                    guard let text = request.query(name) else { throw MatrixError.missingParam("Missing \(name)") }
                    guard let token = SyncToken(text) else { throw MatrixError.invalidParam("Invalid \(name) token") }
                    return token
                }
                let changed = try await hs.keys.changes(from: try token("from"), to: try token("to"), for: requester.userID)
                return MatrixResponse(json: ["changed": JSONValue(changed.map(\.rawValue)), "left": []])
            },
            e.authed(.post, ClientEndpoint.client("/keys/device_signing/upload"), rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                if try await hs.keys.crossSigningUploadNeedsAuth(body, for: requester.userID) {
                    try await hs.accounts.requirePassword(body.optionalObject("auth"), for: requester, purpose: "cross-signing")
                }
                try await hs.keys.uploadCrossSigningKeys(body, for: requester.userID)
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/keys/signatures/upload"), rateLimited: true) { request, requester in
                MatrixResponse(json: try await hs.keys.uploadSignatures(try request.jsonBody(), for: requester))
            },
            e.authed(.put, ClientEndpoint.client("/sendToDevice/{eventType}/{txnId}"), rateLimited: true) { request, requester in
                let messages = try userMap(try request.jsonBody().optionalObject("messages"), "messages") { value throws(MatrixError) in
                    guard let devices = value.objectValue else { throw .badJSON("messages entries must be objects") }
                    var result: [String: JSONObject] = [:]
                    for device in devices {
                        guard let content = device.value.objectValue else { throw .badJSON("message contents must be objects") }
                        result[device.key] = content
                    }
                    return result
                }
                try await hs.keys.sendToDevice(messages, type: try request.path("eventType"), from: requester,
                                               transactionID: try request.path("txnId"))
                return .empty
            },
        ]
    }
}
