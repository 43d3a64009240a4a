public import HearthCore
public import HearthStorage

/// Reaches other servers for keys and to-device messages of their users. Implemented over
/// federation; nil when the server does not federate.
public protocol RemoteKeyService: Sendable {
    func queryKeys(_ request: [UserID: [String]], from server: ServerName) async throws -> JSONObject
    func claimKeys(_ request: [UserID: [String: String]], from server: ServerName) async throws -> JSONObject
    func sendToDevice(type: String, sender: UserID, messages: [UserID: [String: JSONObject]], to server: ServerName) async throws
    /// A local user's devices or cross-signing keys changed: servers sharing a room are told.
    func announceDeviceListChange(of user: UserID) async
}

extension RemoteKeyService {
    public func announceDeviceListChange(of user: UserID) async {}
}

/// The server side of end-to-end encryption: it stores and relays keys and to-device messages
/// and never sees plaintext.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#end-to-end-encryption
public final class EndToEndKeys: Sendable {
    let settings: HomeserverSettings
    let store: any KeyStore
    let rooms: Rooms
    let notifier: StreamNotifier
    let accounts: any AccountStore
    let remote: (any RemoteKeyService)?

    init(settings: HomeserverSettings, store: any KeyStore, rooms: Rooms, accounts: any AccountStore, notifier: StreamNotifier,
         remote: (any RemoteKeyService)?) {
        self.settings = settings
        self.store = store
        self.rooms = rooms
        self.accounts = accounts
        self.notifier = notifier
        self.remote = remote
    }

    // MARK: Upload

    /// `POST /keys/upload`. Returns the one-time key counts.
    public func upload(_ requester: Requester, body: JSONObject) async throws -> [String: Int] {
        if let deviceKeys = body["device_keys"]?.objectValue {
            guard deviceKeys["user_id"]?.stringValue == requester.userID.rawValue,
                  deviceKeys["device_id"]?.stringValue == requester.deviceID
            else { throw MatrixError.invalidParam("device_keys must be for the requesting user and device") }
            guard deviceKeys["keys"]?.objectValue != nil, deviceKeys["algorithms"]?.arrayValue != nil else {
                throw MatrixError.badJSON("device_keys needs keys and algorithms")
            }
            let existing = try await store.deviceKeys(requester.userID)[requester.deviceID]
            if existing != deviceKeys {
                try await store.setDeviceKeys(requester.userID, requester.deviceID, keys: deviceKeys)
                await notifyDeviceListChange(requester.userID)
            }
        }
        if let oneTime = body["one_time_keys"]?.objectValue {
            try await store.addOneTimeKeys(requester.userID, requester.deviceID, keys: try Self.keyList(oneTime))
        }
        for field in ["fallback_keys", "org.matrix.msc2732.fallback_keys"] {
            if let fallback = body[field]?.objectValue, !fallback.isEmpty {
                try await store.setFallbackKeys(requester.userID, requester.deviceID, keys: try Self.keyList(fallback))
            }
        }
        var counts = try await store.oneTimeKeyCounts(requester.userID, requester.deviceID)
        if counts["signed_curve25519"] == nil { counts["signed_curve25519"] = 0 }
        return counts
    }

    static func keyList(_ object: JSONObject) throws(MatrixError) -> [(keyID: String, key: JSONValue)] {
        try object.members.map { member throws(MatrixError) in
            guard member.key.contains(":") else { throw MatrixError.badJSON("Key IDs look like algorithm:id") }
            return (member.key, member.value)
        }
    }

    /// Wakes the syncs of everyone who shares a room with `user` (their clients track its devices).
    func notifyDeviceListChange(_ user: UserID) async {
        let memberships = (try? await rooms.memberships(of: user)) ?? []
        notifier.notify(rooms: memberships.filter { $0.membership == "join" }.map(\.roomID.rawValue), users: [user.rawValue])
        if user.server == settings.serverName { await remote?.announceDeviceListChange(of: user) }
    }

    // MARK: Query and claim

    /// `POST /keys/query`.
    /// A server asking on its users' behalf (no requester) never gets user-signing keys.
    public func query(_ requester: Requester?, deviceKeys request: [UserID: [String]]) async throws -> JSONObject {
        var deviceKeys = JSONObject()
        var masterKeys = JSONObject()
        var selfSigningKeys = JSONObject()
        var userSigningKeys = JSONObject()
        var failures = JSONObject()
        var remoteRequests: [ServerName: [UserID: [String]]] = [:]
        for (user, devices) in request {
            guard user.server == settings.serverName else {
                remoteRequests[user.server, default: [:]][user] = devices
                continue
            }
            let stored = try await store.deviceKeys(user)
            let names = Dictionary(try await accounts.devices(of: user).map { ($0.deviceID, $0.displayName) }, uniquingKeysWith: { a, _ in a })
            var result = JSONObject()
            for (deviceID, keys) in stored where devices.isEmpty || devices.contains(deviceID) {
                var keys = keys
                if let name = names[deviceID] ?? nil { keys["unsigned"] = ["device_display_name": .string(name)] }
                result[deviceID] = .object(keys)
            }
            deviceKeys[user.rawValue] = .object(result)
            let crossSigning = try await store.crossSigningKeys(user)
            if let master = crossSigning["master"] { masterKeys[user.rawValue] = .object(master) }
            if let selfSigning = crossSigning["self_signing"] { selfSigningKeys[user.rawValue] = .object(selfSigning) }
            if user == requester?.userID, let userSigning = crossSigning["user_signing"] { userSigningKeys[user.rawValue] = .object(userSigning) }
        }
        for (server, users) in remoteRequests {
            guard let remote else {
                failures[server.rawValue] = ["errcode": "M_FORBIDDEN", "error": "This server does not federate"]
                continue
            }
            do {
                let answer = try await remote.queryKeys(users, from: server)
                for section in ["device_keys", "master_keys", "self_signing_keys"] {
                    for member in answer[section]?.objectValue ?? [:] {
                        guard let user = UserID(member.key), user.server == server else { continue }
                        switch section {
                        case "device_keys": deviceKeys[member.key] = member.value
                        case "master_keys": masterKeys[member.key] = member.value
                        default: selfSigningKeys[member.key] = member.value
                        }
                    }
                }
            } catch {
                failures[server.rawValue] = ["errcode": "M_UNKNOWN", "error": .string("Could not reach \(server)")]
            }
        }
        return ["device_keys": .object(deviceKeys), "master_keys": .object(masterKeys), "self_signing_keys": .object(selfSigningKeys),
                "user_signing_keys": .object(userSigningKeys), "failures": .object(failures)]
    }

    /// `POST /keys/claim`: one one-time key per device, never the same key twice.
    public func claim(_ request: [UserID: [String: String]]) async throws -> JSONObject {
        var result = JSONObject()
        var failures = JSONObject()
        var remoteRequests: [ServerName: [UserID: [String: String]]] = [:]
        for (user, devices) in request {
            guard user.server == settings.serverName else {
                remoteRequests[user.server, default: [:]][user] = devices
                continue
            }
            var perDevice = JSONObject()
            for (deviceID, algorithm) in devices {
                if let (keyID, key) = try await store.claimKey(user, deviceID, algorithm: algorithm) {
                    perDevice[deviceID] = [keyID: key]
                }
            }
            if !perDevice.isEmpty { result[user.rawValue] = .object(perDevice) }
        }
        for (server, users) in remoteRequests {
            guard let remote else {
                failures[server.rawValue] = ["errcode": "M_FORBIDDEN", "error": "This server does not federate"]
                continue
            }
            do {
                let answer = try await remote.claimKeys(users, from: server)
                for member in answer["one_time_keys"]?.objectValue ?? [:] where UserID(member.key)?.server == server {
                    result[member.key] = member.value
                }
            } catch {
                failures[server.rawValue] = ["errcode": "M_UNKNOWN", "error": .string("Could not reach \(server)")]
            }
        }
        return ["one_time_keys": .object(result), "failures": .object(failures)]
    }

    /// Users sharing a room with `user` (and the user), whose device lists changed in the range.
    public func changedDeviceLists(for user: UserID, after: StreamPosition, upTo: StreamPosition) async throws -> Set<UserID> {
        let changed = try await store.deviceListChanges(after: after, upTo: upTo)
        if changed.isEmpty { return [] }
        var shared: Set<UserID> = [user]
        for membership in try await rooms.memberships(of: user) where membership.membership == "join" {
            for member in try await rooms.members(of: membership.roomID) where member.membership == "join" {
                shared.insert(member.userID)
            }
        }
        return changed.intersection(shared)
    }

    public func deleteDevice(_ user: UserID, _ deviceID: String) async throws {
        try await store.deleteDeviceKeys(user, deviceID)
        await notifyDeviceListChange(user)
    }
}
