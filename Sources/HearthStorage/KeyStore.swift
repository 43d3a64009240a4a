public import HearthCore

/// End-to-end encryption material the server relays but never reads: device keys, one-time and
/// fallback keys, cross-signing keys, to-device messages and server-side key backups.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#end-to-end-encryption
public protocol KeyStore: Sendable {
    /// Stores a device's identity keys and records a device-list change for the user.
    @discardableResult
    func setDeviceKeys(_ userID: UserID, _ deviceID: String, keys: JSONObject) async throws -> StreamPosition
    func deviceKeys(_ userID: UserID) async throws -> [String: JSONObject]
    /// Removes a device's keys (device deleted) and records a device-list change.
    func deleteDeviceKeys(_ userID: UserID, _ deviceID: String) async throws

    /// Adds one-time keys; a key ID already stored for the device is kept, not replaced.
    func addOneTimeKeys(_ userID: UserID, _ deviceID: String, keys: [(keyID: String, key: JSONValue)]) async throws
    /// Unclaimed one-time keys per algorithm.
    func oneTimeKeyCounts(_ userID: UserID, _ deviceID: String) async throws -> [String: Int]
    /// Removes and returns one unclaimed one-time key of `algorithm`, atomically: two claims never
    /// receive the same key. Falls back to the device's fallback key (marking it used).
    func claimKey(_ userID: UserID, _ deviceID: String, algorithm: String) async throws -> (keyID: String, key: JSONValue)?
    /// Replaces the device's fallback key for each algorithm.
    func setFallbackKeys(_ userID: UserID, _ deviceID: String, keys: [(keyID: String, key: JSONValue)]) async throws
    /// Algorithms with a fallback key that has not been handed out yet.
    func unusedFallbackKeyAlgorithms(_ userID: UserID, _ deviceID: String) async throws -> [String]

    /// `master`, `self_signing` or `user_signing`.
    @discardableResult
    func setCrossSigningKey(_ userID: UserID, type: String, key: JSONObject) async throws -> StreamPosition
    func crossSigningKeys(_ userID: UserID) async throws -> [String: JSONObject]
    /// Records that a user's keys changed (device list update for everyone sharing a room).
    @discardableResult
    func markDeviceListChanged(_ userID: UserID) async throws -> StreamPosition
    /// Users whose device lists changed in `(after, upTo]`.
    func deviceListChanges(after: StreamPosition, upTo: StreamPosition) async throws -> Set<UserID>

    /// Queues to-device messages. Returns false if the sender already used this transaction ID.
    func queueToDevice(sender: UserID, senderDevice: String, transactionID: String?, type: String,
                       messages: [(userID: UserID, deviceID: String, content: JSONObject)]) async throws -> Bool
    /// Messages for a device after `after` (oldest first, at most `limit`), with their positions.
    func toDeviceMessages(_ userID: UserID, _ deviceID: String, after: StreamPosition, limit: Int) async throws
        -> [(stream: StreamPosition, sender: UserID, type: String, content: JSONObject)]
    /// Deletes messages the device has acknowledged (everything up to `upTo`).
    func acknowledgeToDevice(_ userID: UserID, _ deviceID: String, upTo: StreamPosition) async throws

    // Key backup (https://spec.matrix.org/v1.19/client-server-api/#server-side-key-backups)
    func createBackupVersion(_ userID: UserID, algorithm: String, authData: JSONObject) async throws -> String
    func backupVersion(_ userID: UserID, version: String?) async throws -> BackupVersion?
    func updateBackupVersion(_ userID: UserID, version: String, authData: JSONObject) async throws
    func deleteBackupVersion(_ userID: UserID, version: String) async throws
    /// Stores a session's backup if it is better than the stored one (spec's replacement rules).
    func putBackupKey(_ userID: UserID, version: String, roomID: String, sessionID: String, key: JSONObject) async throws
    func backupKeys(_ userID: UserID, version: String, roomID: String?, sessionID: String?) async throws
        -> [(roomID: String, sessionID: String, key: JSONObject)]
    func deleteBackupKeys(_ userID: UserID, version: String, roomID: String?, sessionID: String?) async throws
}

public struct BackupVersion: Sendable, Equatable {
    public var version: String
    public var algorithm: String
    public var authData: JSONObject
    public var etag: String
    public var count: Int
    public init(version: String, algorithm: String, authData: JSONObject, etag: String, count: Int) {
        self.version = version
        self.algorithm = algorithm
        self.authData = authData
        self.etag = etag
        self.count = count
    }
}
