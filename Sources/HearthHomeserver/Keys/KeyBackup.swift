public import HearthCore
public import HearthStorage

/// Server-side backup of room keys: versions whose `auth_data` clients define, holding
/// encrypted session keys the server cannot read.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-side-key-backups
extension EndToEndKeys {
    static let wrongRoomKeysVersion = ErrorCode(rawValue: "M_WRONG_ROOM_KEYS_VERSION")

    func existingVersion(_ user: UserID, _ text: String?) async throws -> BackupVersion {
        guard let text else { throw MatrixError.missingParam("Missing version") }
        guard let number = Int64(text), let version = try await store.backupVersion(user, version: number) else {
            throw MatrixError.notFound("Unknown backup version")
        }
        return version
    }

    static func json(_ version: BackupVersion) -> JSONObject {
        ["version": .string(String(version.version)), "algorithm": .string(version.algorithm), "auth_data": .object(version.authData),
         "count": .int(Int64(version.count)), "etag": .string(version.etag)]
    }

    static func json(_ key: BackupKey) -> JSONValue {
        ["first_message_index": .int(key.firstMessageIndex), "forwarded_count": .int(key.forwardedCount),
         "is_verified": .bool(key.isVerified), "session_data": .object(key.sessionData)]
    }

    public func createBackup(algorithm: String, authData: JSONObject, for user: UserID) async throws -> String {
        String(try await store.createBackupVersion(user, algorithm: algorithm, authData: authData))
    }

    /// The latest version when `version` is nil.
    public func backup(_ version: String?, for user: UserID) async throws -> JSONObject {
        if let version { return Self.json(try await existingVersion(user, version)) }
        guard let latest = try await store.backupVersion(user, version: nil) else { throw MatrixError.notFound("No current backup version") }
        return Self.json(latest)
    }

    public func updateBackup(_ version: String, algorithm: String, authData: JSONObject, for user: UserID) async throws {
        let existing = try await existingVersion(user, version)
        guard algorithm == existing.algorithm else { throw MatrixError.invalidParam("The algorithm of a backup version cannot change") }
        try await store.updateBackupVersion(user, version: existing.version, authData: authData)
    }

    public func deleteBackup(_ version: String, for user: UserID) async throws {
        let existing = try await existingVersion(user, version)
        try await store.deleteBackupVersion(user, version: existing.version)
    }

    /// Adds keys to the current version; other versions are refused with the current one named.
    public func putBackupKeys(_ keys: [BackupKey], version: String?, for user: UserID) async throws -> JSONObject {
        let target = try await existingVersion(user, version)
        if let current = try await store.backupVersion(user, version: nil), current.version != target.version {
            throw MatrixError(Self.wrongRoomKeysVersion, status: 403, "Not the current backup version",
                              extra: ["current_version": .string(String(current.version))])
        }
        let updated = try await store.putBackupKeys(user, version: target.version, keys: keys)
        return ["etag": .string(updated.etag), "count": .int(Int64(updated.count))]
    }

    public func backupKeys(version: String?, roomID: String?, sessionID: String?, for user: UserID) async throws -> JSONValue {
        let target = try await existingVersion(user, version)
        let keys = try await store.backupKeys(user, version: target.version, roomID: roomID, sessionID: sessionID)
        if let sessionID {
            guard let key = keys.first(where: { $0.sessionID == sessionID }) else { throw MatrixError.notFound("Key not found") }
            return Self.json(key)
        }
        var rooms = JSONObject()
        for key in keys {
            var sessions = rooms[key.roomID]?["sessions"]?.objectValue ?? [:]
            sessions[key.sessionID] = Self.json(key)
            rooms[key.roomID] = ["sessions": .object(sessions)]
        }
        if let roomID { return rooms[roomID] ?? ["sessions": [:]] }
        return ["rooms": .object(rooms)]
    }

    public func deleteBackupKeys(version: String?, roomID: String?, sessionID: String?, for user: UserID) async throws -> JSONObject {
        let target = try await existingVersion(user, version)
        let updated = try await store.deleteBackupKeys(user, version: target.version, roomID: roomID, sessionID: sessionID)
        return ["etag": .string(updated.etag), "count": .int(Int64(updated.count))]
    }
}
