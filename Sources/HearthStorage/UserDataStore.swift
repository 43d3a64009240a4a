public import HearthCore

public struct AccountDataEntry: Sendable, Equatable {
    public var roomID: RoomID?
    public var type: String
    public var content: JSONObject
    public var stream: StreamPosition
    public init(roomID: RoomID?, type: String, content: JSONObject, stream: StreamPosition) {
        self.roomID = roomID
        self.type = type
        self.content = content
        self.stream = stream
    }
}

public struct Receipt: Sendable, Equatable {
    public var roomID: RoomID
    public var userID: UserID
    /// `m.read`, `m.read.private` or `m.fully_read` (the read marker, kept as room account data).
    public var type: String
    public var eventID: EventID
    /// `main`, a thread root's event ID, or nil for an unthreaded receipt.
    public var threadID: String?
    public var timestamp: Milliseconds
    public var stream: StreamPosition

    public init(roomID: RoomID, userID: UserID, type: String, eventID: EventID, threadID: String?,
                timestamp: Milliseconds, stream: StreamPosition) {
        self.roomID = roomID
        self.userID = userID
        self.type = type
        self.eventID = eventID
        self.threadID = threadID
        self.timestamp = timestamp
        self.stream = stream
    }
}

public protocol UserDataStore: Sendable {
    /// Global account data when `roomID` is nil. Returns the stream position of the change.
    @discardableResult
    func setAccountData(_ userID: UserID, roomID: RoomID?, type: String, content: JSONObject) async throws -> StreamPosition
    func accountData(_ userID: UserID, roomID: RoomID?, type: String) async throws -> JSONObject?
    /// Account data changed after `after` (everything for 0).
    func accountData(_ userID: UserID, changedAfter after: StreamPosition) async throws -> [AccountDataEntry]

    /// Stores a receipt, replacing the user's previous one of the same type and thread.
    @discardableResult
    func setReceipt(_ receipt: Receipt) async throws -> StreamPosition
    /// Receipts in `rooms` changed after `after`.
    func receipts(in rooms: [RoomID], changedAfter after: StreamPosition) async throws -> [Receipt]
    func receipt(of userID: UserID, in roomID: RoomID, type: String) async throws -> Receipt?

    func saveFilter(_ userID: UserID, _ filter: JSONObject) async throws -> String
    func filter(_ userID: UserID, id: String) async throws -> JSONObject?

    /// Reports of events, rooms and users, for moderators.
    func saveReport(reporter: UserID, roomID: RoomID?, eventID: EventID?, userID: UserID?, reason: String?,
                    score: Int64?, at: Milliseconds) async throws
    /// Every report, oldest first (for moderators' tools).
    func reports() async throws -> [ContentReport]
    /// Marks a report resolved; false when there is no such report or it was resolved already.
    func resolveReport(id: Int64, by moderator: UserID, resolution: String, at: Milliseconds) async throws -> Bool
}

/// A user's report of an event, a room or another user.
public struct ContentReport: Sendable, Equatable {
    /// Assigned by the store.
    public var id: Int64 = 0
    public var reporter: UserID
    public var roomID: RoomID?
    public var eventID: EventID?
    public var userID: UserID?
    public var reason: String?
    public var score: Int64?
    public var createdAt: Milliseconds
    /// Set when a moderator resolved it: when, who, and what they decided (`removed`, `dismissed`…).
    public var resolvedAt: Milliseconds? = nil
    public var resolvedBy: UserID? = nil
    public var resolution: String? = nil

    public init(reporter: UserID, roomID: RoomID?, eventID: EventID?, userID: UserID?, reason: String?, score: Int64?,
                createdAt: Milliseconds) {
        self.reporter = reporter
        self.roomID = roomID
        self.eventID = eventID
        self.userID = userID
        self.reason = reason
        self.score = score
        self.createdAt = createdAt
    }
}

public struct MediaRecord: Sendable, Equatable {
    public var mediaID: String
    public var uploader: UserID?
    public var contentType: String
    public var fileName: String?
    public var size: Int64
    public var createdAt: Milliseconds
    /// Hex SHA-256 of the bytes (also the name of the file that holds them).
    public var sha256: String

    public init(mediaID: String, uploader: UserID?, contentType: String, fileName: String?, size: Int64,
                createdAt: Milliseconds, sha256: String) {
        self.mediaID = mediaID
        self.uploader = uploader
        self.contentType = contentType
        self.fileName = fileName
        self.size = size
        self.createdAt = createdAt
        self.sha256 = sha256
    }
}

public protocol MediaStore: Sendable {
    func saveMedia(_ record: MediaRecord) async throws
    func media(_ mediaID: String) async throws -> MediaRecord?
    func deleteMedia(_ mediaID: String) async throws
    /// Whether any media record still refers to the file with this digest.
    func isReferenced(sha256: String) async throws -> Bool
}
