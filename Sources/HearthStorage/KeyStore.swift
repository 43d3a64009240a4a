public import HearthCore

/// A one-time or fallback key as uploaded: `algorithm:key_id` and its value (usually a signed
/// object, a bare string for unsigned algorithms).
public struct UploadedKey: Sendable, Equatable {
    public var algorithm: String
    public var keyID: String
    public var key: JSONValue

    public init(algorithm: String, keyID: String, key: JSONValue) {
        self.algorithm = algorithm
        self.keyID = keyID
        self.key = key
    }
}

/// A message from one device to another, waiting for its recipient's next /sync.
public struct ToDeviceMessage: Sendable, Equatable {
    public var stream: StreamPosition
    public var sender: UserID
    public var type: String
    public var content: JSONObject

    public init(stream: StreamPosition, sender: UserID, type: String, content: JSONObject) {
        self.stream = stream
        self.sender = sender
        self.type = type
        self.content = content
    }
}

/// End-to-end encryption data: devices' identity, one-time and fallback keys, cross-signing
/// keys, the device-list change stream, and to-device messages. The server only stores and
/// relays these; it never holds a private key.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#end-to-end-encryption
public protocol KeyStore: Sendable {
    /// Stores a device's identity keys; a change is recorded in the device-list stream.
    func setDeviceKeys(_ user: UserID, device: String, keys: JSONObject) async throws
    /// Identity keys of every device of `users` that uploaded some.
    func deviceKeys(of users: [UserID]) async throws -> [UserID: [String: JSONObject]]
    /// Adds one-time keys. Re-uploading a key ID with other content throws `StorageError.conflict`.
    func addOneTimeKeys(_ user: UserID, device: String, keys: [UploadedKey]) async throws
    func oneTimeKeyCounts(_ user: UserID, device: String) async throws -> [String: Int]
    /// Replaces the device's fallback key of each algorithm given (as unused).
    func setFallbackKeys(_ user: UserID, device: String, keys: [UploadedKey]) async throws
    func unusedFallbackKeyAlgorithms(_ user: UserID, device: String) async throws -> [String]
    /// Takes a one-time key of `algorithm` (removing it), or else the fallback key (marking it used).
    func claimKey(_ user: UserID, device: String, algorithm: String) async throws -> UploadedKey?
    /// Stores a cross-signing key (`master`, `self_signing`, `user_signing`); recorded as a
    /// device-list change.
    func setCrossSigningKey(_ user: UserID, type: String, key: JSONObject) async throws
    func crossSigningKeys(of users: [UserID]) async throws -> [UserID: [String: JSONObject]]
    /// Users whose devices or cross-signing keys changed in `(after, upTo]`.
    func deviceListChanges(after: StreamPosition, upTo: StreamPosition) async throws -> Set<UserID>
    /// Queues messages for devices (`*` for all of a user's devices, expanded by the caller).
    /// With a transaction, a repeat of it queues nothing and returns false.
    @discardableResult
    func queueToDevice(_ messages: [(user: UserID, device: String, content: JSONObject)], type: String, sender: UserID,
                       transaction: ClientTransaction?) async throws -> Bool
    /// Messages for a device with stream position in `(after, ...]`, oldest first.
    func toDeviceMessages(_ user: UserID, device: String, after: StreamPosition, limit: Int) async throws -> [ToDeviceMessage]
    /// Deletes the messages a device has acknowledged (position ≤ `upTo`).
    func deleteToDeviceMessages(_ user: UserID, device: String, upTo: StreamPosition) async throws
}
