public import HearthCore

/// An `m.device_list_update` or `m.signing_key_update` EDU a remote server sent about one of
/// its users, kept for end-to-end encryption.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#device-management
public struct RemoteDeviceListUpdate: Sendable, Equatable {
    public var userID: UserID
    /// `m.device_list_update` or `m.signing_key_update`.
    public var eduType: String
    public var deviceID: String?
    public var streamID: Int64?
    /// The EDU's content as received.
    public var content: JSONObject
    public var receivedAt: Milliseconds
    /// Position in the server-wide stream, assigned when stored.
    public var stream: StreamPosition

    public init(userID: UserID, eduType: String, deviceID: String?, streamID: Int64?, content: JSONObject,
                receivedAt: Milliseconds, stream: StreamPosition = 0) {
        self.userID = userID
        self.eduType = eduType
        self.deviceID = deviceID
        self.streamID = streamID
        self.content = content
        self.receivedAt = receivedAt
        self.stream = stream
    }
}

/// A to-device message waiting for one local device.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#send-to-device-messaging
public struct ToDeviceMessage: Sendable, Equatable {
    public var recipient: UserID
    public var deviceID: String
    public var sender: UserID
    public var type: String
    public var content: JSONObject
    /// The server it came from (nil for a local sender).
    public var origin: ServerName?
    public var messageID: String?
    public var stream: StreamPosition

    public init(recipient: UserID, deviceID: String, sender: UserID, type: String, content: JSONObject,
                origin: ServerName?, messageID: String?, stream: StreamPosition = 0) {
        self.recipient = recipient
        self.deviceID = deviceID
        self.sender = sender
        self.type = type
        self.content = content
        self.origin = origin
        self.messageID = messageID
        self.stream = stream
    }
}

/// What inbound federation keeps apart from room events: the answers to transactions already
/// processed, and the EDUs that end-to-end encryption consumes.
public protocol FederationInboxStore: Sendable {
    /// The response given to transaction `transactionID` from `origin`, if it was processed.
    func transactionResponse(origin: ServerName, transactionID: String) async throws -> JSONObject?
    func saveTransactionResponse(origin: ServerName, transactionID: String, response: JSONObject,
                                 at: Milliseconds) async throws

    @discardableResult
    func saveDeviceListUpdate(_ update: RemoteDeviceListUpdate) async throws -> StreamPosition
    /// Updates about `userID`'s devices, oldest first.
    func deviceListUpdates(of userID: UserID) async throws -> [RemoteDeviceListUpdate]

}
