public import HearthCore

/// A room's class under the organization policy, as assigned and stored.
public struct RoomClassRecord: Sendable, Equatable {
    public var roomID: RoomID
    /// `local_only`, `partners` or `open`.
    public var roomClass: String
    /// Partner servers of a `partners` room (empty: the policy's default partners).
    public var partners: [String]
    /// Who set it (nil: the server, at creation or from the policy's defaults).
    public var setBy: String?
    public var setAt: Milliseconds

    public init(roomID: RoomID, roomClass: String, partners: [String], setBy: String?, setAt: Milliseconds) {
        self.roomID = roomID
        self.roomClass = roomClass
        self.partners = partners
        self.setBy = setBy
        self.setAt = setAt
    }
}

/// What the organization policy and the support-group features keep and ask about: room
/// classes and where uploads were posted, message expiry, agreements, and a member's own data
/// for export and erasure.
public protocol PrivacyStore: Sendable {
    func roomClass(_ roomID: RoomID) async throws -> RoomClassRecord?
    func setRoomClass(_ record: RoomClassRecord) async throws
    /// Every room assigned this class (`local_only`, `partners`, `open`).
    func rooms(ofClass roomClass: String) async throws -> [RoomClassRecord]
    /// Rooms with an event whose content mentions `mxcURI` (an upload posted there).
    func roomsMentioningMedia(_ mxcURI: String) async throws -> [RoomID]

    // MARK: Expiry (retention and self-destructing messages)

    /// Every room this server holds.
    func allRooms() async throws -> [RoomID]
    /// Timeline events of the room (not state, not redactions) sent before `before` whose
    /// content has not been erased yet, oldest first.
    func eventsToExpire(in roomID: RoomID, sentBefore before: Milliseconds, limit: Int) async throws -> [EventID]
    /// Events whose sender set an expiry time (`m.self_destruct_after`) that has passed.
    func selfDestructsDue(at now: Milliseconds, limit: Int) async throws -> [EventID]
    /// Replaces the stored event with its redacted form (no redaction event: an expiry this
    /// server applies on its own) and forgets its expiry and relations.
    func eraseContent(of eventID: EventID, redactedJSON: JSONObject) async throws
    /// Whether any stored event still mentions `mxcURI`.
    func isMediaMentioned(_ mxcURI: String) async throws -> Bool
    // MARK: Agreements

    func hasAcceptedAgreement(_ roomID: RoomID, _ userID: UserID, version: String) async throws -> Bool
    func recordAgreementAcceptance(_ acceptance: AgreementAcceptance) async throws
    /// Every acceptance in the room, newest first.
    func agreementAcceptances(_ roomID: RoomID) async throws -> [AgreementAcceptance]

    // MARK: Pseudonyms

    /// The mask a member uses in a room, found by the keyed digest of (member, room).
    func pseudonymMask(memberDigest: String) async throws -> PseudonymMask?
    func pseudonymMask(_ maskID: UserID) async throws -> PseudonymMask?
    func savePseudonymMask(_ mask: PseudonymMask) async throws

    // MARK: A member's own data

    /// Events `userID` sent that still have content, oldest first (`timelineOnly`: not state).
    func eventsSent(by userID: UserID, timelineOnly: Bool, after: StreamPosition, limit: Int) async throws -> [StoredEvent]
    /// Media `userID` uploaded.
    func mediaUploaded(by userID: UserID) async throws -> [MediaRecord]
    /// Removes what the server keeps for the user beyond their account row: account data,
    /// filters, receipts, profile fields.
    func deletePersonalData(of userID: UserID) async throws

    /// Makes erased content unrecoverable from the database files: freed pages are zeroed
    /// (secure_delete) and the write-ahead log is checkpointed and truncated.
    func scrubFreedSpace() async throws
}

/// A member's acceptance of one version of a room's agreement.
public struct AgreementAcceptance: Sendable, Equatable {
    public var roomID: RoomID
    public var userID: UserID
    public var version: String
    public var acceptedAt: Milliseconds

    public init(roomID: RoomID, userID: UserID, version: String, acceptedAt: Milliseconds) {
        self.roomID = roomID
        self.userID = userID
        self.version = version
        self.acceptedAt = acceptedAt
    }
}

/// A room-scoped identity a member posts under. The member's ID is kept only sealed (and not
/// at all when the room says so); the digest lets the server find a member's mask without
/// storing who they are.
public struct PseudonymMask: Sendable, Equatable {
    public var maskID: UserID
    public var roomID: RoomID
    /// Keyed digest of (member, room); empty for a room's shared anonymous identity.
    public var memberDigest: String
    /// The member's user ID, sealed (AES-GCM under a key derived from the server's signing
    /// key); nil when no link is kept.
    public var sealedMember: [UInt8]?
    public var createdAt: Milliseconds

    public init(maskID: UserID, roomID: RoomID, memberDigest: String, sealedMember: [UInt8]?, createdAt: Milliseconds) {
        self.maskID = maskID
        self.roomID = roomID
        self.memberDigest = memberDigest
        self.sealedMember = sealedMember
        self.createdAt = createdAt
    }
}
