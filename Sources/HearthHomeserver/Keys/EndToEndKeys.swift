public import HearthCore
public import HearthStorage

/// The server's part in end-to-end encryption: publishing devices' keys, handing out
/// one-time keys, cross-signing, and relaying to-device messages. Private keys never reach it.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#end-to-end-encryption
public final class EndToEndKeys: Sendable {
    let settings: HomeserverSettings
    let store: any KeyStore
    let accounts: any AccountStore
    let rooms: Rooms
    let notifier: StreamNotifier

    init(settings: HomeserverSettings, store: any KeyStore, accounts: any AccountStore, rooms: Rooms, notifier: StreamNotifier) {
        self.settings = settings
        self.store = store
        self.accounts = accounts
        self.rooms = rooms
        self.notifier = notifier
    }

    /// Parses `{"algorithm:key_id": key}` maps of one-time and fallback keys.
    static func uploadedKeys(_ object: JSONObject?) throws(MatrixError) -> [UploadedKey] {
        var keys: [UploadedKey] = []
        for member in object ?? [:] {
            let parts = member.key.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw MatrixError.badJSON("Key IDs must be algorithm:key_id")
            }
            guard member.value.objectValue != nil || member.value.stringValue != nil else {
                throw MatrixError.badJSON("Keys must be objects or strings")
            }
            keys.append(UploadedKey(algorithm: String(parts[0]), keyID: String(parts[1]), key: member.value))
        }
        return keys
    }

    /// Wakes the /syncs of everyone who shares a room with `user` (and the user's own).
    func announceDeviceChange(of user: UserID) async throws {
        let joined = try await rooms.memberships(of: user).filter { $0.membership == "join" }.map(\.roomID.rawValue)
        notifier.notify(rooms: joined, users: [user.rawValue])
    }

    /// `POST /keys/upload`.
    public func upload(_ body: JSONObject, for requester: Requester) async throws -> [String: Int] {
        let user = requester.userID, device = requester.deviceID
        let oneTime = try Self.uploadedKeys(body["one_time_keys"]?.objectValue)
        let fallback = try Self.uploadedKeys(body["fallback_keys"]?.objectValue)
        if let keys = body["device_keys"] {
            guard let object = keys.objectValue else { throw MatrixError.badJSON("device_keys must be an object") }
            guard object["user_id"]?.stringValue == user.rawValue, object["device_id"]?.stringValue == device else {
                throw MatrixError.invalidParam("device_keys must be for the requesting user and device")
            }
            guard object["algorithms"]?.arrayValue != nil, object["keys"]?.objectValue != nil else {
                throw MatrixError.badJSON("device_keys needs algorithms and keys")
            }
            try await store.setDeviceKeys(user, device: device, keys: object)
            try await announceDeviceChange(of: user)
        }
        do {
            try await store.addOneTimeKeys(user, device: device, keys: oneTime)
        } catch StorageError.conflict(let message) {
            throw MatrixError.invalidParam(message)
        }
        try await store.setFallbackKeys(user, device: device, keys: fallback)
        return try await store.oneTimeKeyCounts(user, device: device)
    }

    /// `POST /keys/query`: devices and cross-signing keys of local users. Other servers'
    /// users are reported as failures until federation can fetch them.
    public func query(_ wanted: [UserID: [String]], for requester: Requester) async throws -> JSONObject {
        let local = wanted.keys.filter { $0.server == settings.serverName }
        let devices = try await store.deviceKeys(of: Array(local))
        let crossSigning = try await store.crossSigningKeys(of: Array(local))
        var deviceKeys = JSONObject(), masters = JSONObject(), selfSigning = JSONObject(), userSigning = JSONObject()
        var failures = JSONObject()
        for (user, requested) in wanted {
            guard user.server == settings.serverName else {
                failures[user.server.rawValue] = ["errcode": "M_UNAVAILABLE", "error": "Federation is not available"]
                continue
            }
            var entries = JSONObject()
            let names = try await accounts.devices(of: user).reduce(into: [String: String]()) { $0[$1.deviceID] = $1.displayName }
            for (deviceID, keys) in devices[user] ?? [:] where requested.isEmpty || requested.contains(deviceID) {
                var keys = keys
                if let name = names[deviceID] {
                    var unsigned = keys["unsigned"]?.objectValue ?? [:]
                    unsigned["device_display_name"] = .string(name)
                    keys["unsigned"] = .object(unsigned)
                }
                entries[deviceID] = .object(keys)
            }
            deviceKeys[user.rawValue] = .object(entries)
            if let key = crossSigning[user]?["master"] { masters[user.rawValue] = .object(key) }
            if let key = crossSigning[user]?["self_signing"] { selfSigning[user.rawValue] = .object(key) }
            if user == requester.userID, let key = crossSigning[user]?["user_signing"] { userSigning[user.rawValue] = .object(key) }
        }
        return ["device_keys": .object(deviceKeys), "master_keys": .object(masters), "self_signing_keys": .object(selfSigning),
                "user_signing_keys": .object(userSigning), "failures": .object(failures)]
    }

    /// `POST /keys/claim`: one key per device, a one-time key while any remain, then the fallback key.
    public func claim(_ wanted: [UserID: [String: String]]) async throws -> JSONObject {
        var result = JSONObject()
        var failures = JSONObject()
        for (user, devices) in wanted {
            guard user.server == settings.serverName else {
                failures[user.server.rawValue] = ["errcode": "M_UNAVAILABLE", "error": "Federation is not available"]
                continue
            }
            var byDevice = JSONObject()
            for (device, algorithm) in devices {
                if let key = try await store.claimKey(user, device: device, algorithm: algorithm) {
                    byDevice[device] = [key.algorithm + ":" + key.keyID: key.key]
                }
            }
            if !byDevice.isEmpty { result[user.rawValue] = .object(byDevice) }
        }
        return ["one_time_keys": .object(result), "failures": .object(failures)]
    }

    /// `PUT /sendToDevice/{eventType}/{txnId}`: `*` addresses all of a user's devices.
    public func sendToDevice(_ messages: [UserID: [String: JSONObject]], type: String, from requester: Requester,
                             transactionID: String) async throws {
        var queued: [(user: UserID, device: String, content: JSONObject)] = []
        for (user, devices) in messages {
            guard user.server == settings.serverName else { continue }
            let known = try await accounts.devices(of: user).map(\.deviceID)
            for (device, content) in devices {
                for target in device == "*" ? known : [device] where known.contains(target) {
                    queued.append((user, target, content))
                }
            }
        }
        let transaction = ClientTransaction(userID: requester.userID, deviceID: requester.deviceID, transactionID: transactionID)
        if try await store.queueToDevice(queued, type: type, sender: requester.userID, transaction: transaction) {
            notifier.notify(rooms: [], users: Array(Set(queued.map(\.user.rawValue))))
        }
    }
}
