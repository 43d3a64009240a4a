public import HearthCore
import HearthStorage

/// What other servers ask about this server's users' keys.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#end-to-end-encryption and
/// https://spec.matrix.org/v1.19/server-server-api/#device-management
extension EndToEndKeys {
    /// `POST /_matrix/federation/v1/user/keys/query`: device and cross-signing keys of this
    /// server's users (anyone else in the request is left out).
    public func queryForServer(_ body: JSONObject) async throws -> JSONObject {
        guard let requested = body["device_keys"]?.objectValue else { throw MatrixError.badJSON("device_keys must be an object") }
        var request: [UserID: [String]] = [:]
        for member in requested {
            guard let user = UserID(member.key), user.server == settings.serverName else { continue }
            request[user] = member.value.arrayValue?.compactMap(\.stringValue) ?? []
        }
        var answer = try await query(nil, deviceKeys: request)
        answer["failures"] = nil
        answer["user_signing_keys"] = nil
        return answer
    }

    /// `POST /_matrix/federation/v1/user/keys/claim`: one one-time key per device asked for.
    public func claimForServer(_ body: JSONObject) async throws -> JSONObject {
        guard let requested = body["one_time_keys"]?.objectValue else { throw MatrixError.badJSON("one_time_keys must be an object") }
        var request: [UserID: [String: String]] = [:]
        for member in requested {
            guard let user = UserID(member.key), user.server == settings.serverName, let devices = member.value.objectValue else { continue }
            for device in devices { if let algorithm = device.value.stringValue { request[user, default: [:]][device.key] = algorithm } }
        }
        var answer = try await claim(request)
        answer["failures"] = nil
        return answer
    }

    /// `GET /_matrix/federation/v1/user/devices/{userId}`: a local user's devices with their
    /// keys, and the cross-signing keys. `stream_id` is the position of the last change.
    public func devicesForServer(_ user: UserID) async throws -> JSONObject {
        guard user.server == settings.serverName, try await accounts.account(user) != nil else {
            throw MatrixError.notFound("Unknown user \(user)")
        }
        let stored = try await store.deviceKeys(user)
        var devices: [JSONValue] = []
        for device in try await accounts.devices(of: user).sorted(by: { $0.deviceID < $1.deviceID }) {
            var entry: JSONObject = ["device_id": .string(device.deviceID), "keys": .object(stored[device.deviceID] ?? [:])]
            if let name = device.displayName { entry["device_display_name"] = .string(name) }
            devices.append(.object(entry))
        }
        var answer: JSONObject = ["user_id": .string(user.rawValue), "stream_id": .int(try await rooms.store.currentStreamPosition()),
                                  "devices": .array(devices)]
        let crossSigning = try await store.crossSigningKeys(user)
        if let master = crossSigning["master"] { answer["master_key"] = .object(master) }
        if let selfSigning = crossSigning["self_signing"] { answer["self_signing_key"] = .object(selfSigning) }
        return answer
    }
}
