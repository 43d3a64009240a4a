public import HearthCore

/// Identifies an immutable state snapshot. Snapshots are stored as a delta on a parent, so
/// the state at every event costs only what changed.
public typealias StateGroupID = Int64

/// A position in the server-wide stream that orders everything /sync reports (events,
/// account data, receipts…). Every write gets the next position; one integer is a complete
/// sync token for persisted data.
public typealias StreamPosition = Int64

public struct RoomRecord: Sendable, Equatable {
    public var roomID: RoomID
    public var version: RoomVersion
    public var creator: UserID
    public var createdAt: Milliseconds
    /// Listed in the public room directory.
    public var isPublic: Bool
    /// The state the room is in now, as this server sees it.
    public var currentStateGroup: StateGroupID?
    public var forwardExtremities: [EventID]

    public init(roomID: RoomID, version: RoomVersion, creator: UserID, createdAt: Milliseconds, isPublic: Bool = false,
                currentStateGroup: StateGroupID? = nil, forwardExtremities: [EventID] = []) {
        self.roomID = roomID
        self.version = version
        self.creator = creator
        self.createdAt = createdAt
        self.isPublic = isPublic
        self.currentStateGroup = currentStateGroup
        self.forwardExtremities = forwardExtremities
    }
}

public struct StoredEvent: Sendable {
    /// The event as stored: after a redaction, its redacted form.
    public var pdu: PDU
    public var stream: StreamPosition
    /// The state before this event.
    public var stateGroupBefore: StateGroupID?
    public var rejectionReason: String?
    public var softFailed: Bool
    public var redactedBy: EventID?
    /// Set when the sender's client sent this event with a transaction ID (echoed in `unsigned`).
    public var transactionID: String?
    public var senderDeviceID: String?
    /// Known for its own sake (an auth event, state from a join, a remote invite), without a
    /// computed state or a place in the timeline.
    public var outlier: Bool

    public init(pdu: PDU, stream: StreamPosition, stateGroupBefore: StateGroupID?, rejectionReason: String? = nil,
                softFailed: Bool = false, redactedBy: EventID? = nil, transactionID: String? = nil,
                senderDeviceID: String? = nil, outlier: Bool = false) {
        self.pdu = pdu
        self.stream = stream
        self.stateGroupBefore = stateGroupBefore
        self.rejectionReason = rejectionReason
        self.softFailed = softFailed
        self.redactedBy = redactedBy
        self.transactionID = transactionID
        self.senderDeviceID = senderDeviceID
        self.outlier = outlier
    }

    /// Visible in the room's timeline (not rejected, not soft-failed, not an outlier).
    public var isVisible: Bool { rejectionReason == nil && !softFailed && !outlier }
}

/// An event ready to be written, with the state facts the pipeline computed for it.
public struct EventToPersist: Sendable {
    public var pdu: PDU
    public var stateGroupBefore: StateGroupID?
    /// For an accepted state event: the state after it, as a change to `stateGroupBefore`.
    public var stateChange: StateKey?
    public var rejectionReason: String?
    public var softFailed: Bool
    /// If this event becomes the room's new head (local events and events that extend the
    /// current state), the new forward extremities; nil leaves the room's head alone.
    public var newForwardExtremities: [EventID]?
    /// The client transaction that created this event, for idempotent retries.
    public var transaction: ClientTransaction?
    /// Stored without state and outside the timeline (see `StoredEvent.outlier`).
    public var outlier: Bool
    /// With `newForwardExtremities`: the room's current state when it is not the state after
    /// this event (several forward extremities whose states were resolved). Memberships follow
    /// whatever changed between the old and the new current state.
    public var currentStateGroup: StateGroupID?
    /// A membership of a user in a room this server does not take part in (a remote invite, a
    /// knock, a rejected invite): recorded in the user's memberships without touching the room.
    public var recordsMembershipOutsideRoom: Bool
    /// Old history fetched from another server (backfill): it takes a stream position below
    /// every other, so /sync never reports it as new; /messages finds it by depth.
    public var backfilled: Bool
    /// The event's JSON text (`pdu.json.encodedString()`), when the caller has encoded it
    /// already: encoding it is then no part of the store's serial write.
    public var encodedJSON: String?

    public init(pdu: PDU, stateGroupBefore: StateGroupID?, stateChange: StateKey?, rejectionReason: String? = nil,
                softFailed: Bool = false, newForwardExtremities: [EventID]?, transaction: ClientTransaction? = nil,
                outlier: Bool = false, currentStateGroup: StateGroupID? = nil, recordsMembershipOutsideRoom: Bool = false,
                backfilled: Bool = false) {
        self.backfilled = backfilled
        self.pdu = pdu
        self.stateGroupBefore = stateGroupBefore
        self.stateChange = stateChange
        self.rejectionReason = rejectionReason
        self.softFailed = softFailed
        self.newForwardExtremities = newForwardExtremities
        self.transaction = transaction
        self.outlier = outlier
        self.currentStateGroup = currentStateGroup
        self.recordsMembershipOutsideRoom = recordsMembershipOutsideRoom
    }

    /// An event known for its own sake, outside the timeline (see `StoredEvent.outlier`).
    public static func outlier(_ pdu: PDU, rejectionReason: String? = nil) -> EventToPersist {
        EventToPersist(pdu: pdu, stateGroupBefore: nil, stateChange: nil, rejectionReason: rejectionReason,
                       newForwardExtremities: nil, outlier: true)
    }
}

public struct ClientTransaction: Sendable, Hashable {
    public var userID: UserID
    public var deviceID: String
    public var transactionID: String
    public init(userID: UserID, deviceID: String, transactionID: String) {
        self.userID = userID
        self.deviceID = deviceID
        self.transactionID = transactionID
    }
}

public struct PersistedEvent: Sendable {
    public var stream: StreamPosition
    /// The state after the event (equal to the state before for non-state events).
    public var stateGroupAfter: StateGroupID?
    public init(stream: StreamPosition, stateGroupAfter: StateGroupID?) {
        self.stream = stream
        self.stateGroupAfter = stateGroupAfter
    }
}

/// A user's membership in a room, from the room's current state.
public struct Membership: Sendable, Equatable {
    public var roomID: RoomID
    public var userID: UserID
    public var membership: String
    public var eventID: EventID
    public var stream: StreamPosition
    /// The user chose to forget the room after leaving it.
    public var forgotten: Bool

    public init(roomID: RoomID, userID: UserID, membership: String, eventID: EventID, stream: StreamPosition,
                forgotten: Bool = false) {
        self.roomID = roomID
        self.userID = userID
        self.membership = membership
        self.eventID = eventID
        self.stream = stream
        self.forgotten = forgotten
    }
}

/// Where a /messages page starts: a topological position (depth, then stream).
public struct TopologicalPosition: Sendable, Hashable, Comparable {
    public var depth: Int64
    public var stream: StreamPosition
    public init(depth: Int64, stream: StreamPosition) {
        self.depth = depth
        self.stream = stream
    }
    public static func < (a: Self, b: Self) -> Bool { (a.depth, a.stream) < (b.depth, b.stream) }
}

public protocol RoomStore: Sendable {
    func createRoom(_ room: RoomRecord) async throws
    func room(_ roomID: RoomID) async throws -> RoomRecord?
    func setPublic(_ roomID: RoomID, _ isPublic: Bool) async throws
    func publicRooms() async throws -> [RoomID]

    /// Writes an event, its state snapshot and (if asked) the room's new head and current
    /// state in one transaction. A client transaction ID already used, or an event already
    /// stored, throws `StorageError.conflict`, except that an outlier persisted again as a
    /// non-outlier takes its place in the room (new stream position, state, head).
    func persist(_ event: EventToPersist) async throws -> PersistedEvent
    /// Writes several events, in order, in one transaction (each as `persist` would): all of
    /// them or, on an error, none.
    func persist(batch events: [EventToPersist]) async throws -> [PersistedEvent]
    /// Writes many outliers (`EventToPersist.outlier`) in one transaction: an auth chain and
    /// state fetched from another server. Events already stored are left as they are.
    func persistOutliers(_ events: [EventToPersist]) async throws
    /// Writes a state snapshot for a state map computed elsewhere (state resolution, state
    /// fetched from another server), as a change to `base` when one is given.
    func createStateGroup(_ roomID: RoomID, state: [StateKey: EventID], base: StateGroupID?) async throws -> StateGroupID
    /// Every event reachable from `eventIDs` along `auth_events` edges, the starting events
    /// excluded unless reachable from another; only events this server stores.
    func authChain(of eventIDs: [EventID]) async throws -> Set<EventID>
    /// The prev events of a room's non-outlier events that this server does not hold (or holds
    /// as outliers only): where its known history stops, for backfill.
    func backwardExtremities(in roomID: RoomID) async throws -> [EventID]
    /// Replaces a stored event's JSON with its redacted form and records who redacted it.
    func applyRedaction(of eventID: EventID, redactedJSON: JSONObject, by redaction: EventID) async throws

    func event(_ eventID: EventID) async throws -> StoredEvent?
    /// Of `eventIDs`, those stored in the room's timeline (not outliers), each with its state
    /// snapshot after it: what an arriving event's prev events are checked for, without
    /// loading the events themselves.
    func timelineStateGroups(_ eventIDs: [EventID]) async throws -> [EventID: StateGroupID?]
    func events(_ eventIDs: [EventID]) async throws -> [EventID: StoredEvent]
    func eventForTransaction(_ transaction: ClientTransaction) async throws -> EventID?

    /// The full state map of a snapshot.
    func state(_ group: StateGroupID) async throws -> [StateKey: EventID]

    /// Visible events of a room with stream position in `(after, upTo]`, newest first, at
    /// most `limit`.
    func recentEvents(in roomID: RoomID, after: StreamPosition, upTo: StreamPosition, limit: Int) async throws -> [StoredEvent]
    /// What may be unread for `user`: of the newest `window` visible events in `(after, upTo]`,
    /// those newer than the user's own latest one, newest first. Only those events are read in
    /// full.
    func eventsAfterOwnLatest(in roomID: RoomID, user: UserID, after: StreamPosition, upTo: StreamPosition,
                              window: Int) async throws -> [StoredEvent]
    /// Visible events before (backwards) or after (forwards) a topological position.
    func events(in roomID: RoomID, from: TopologicalPosition, backwards: Bool, limit: Int) async throws -> [StoredEvent]
    /// Every accepted event that set `key` in the room, oldest first (membership history).
    func stateHistory(in roomID: RoomID, key: StateKey) async throws -> [StoredEvent]
    /// The newest visible event of a room at or before a stream position.
    func latestEvent(in roomID: RoomID, atOrBefore: StreamPosition) async throws -> StoredEvent?
    /// The state after an event.
    func stateGroupAfter(_ eventID: EventID) async throws -> StateGroupID?
    /// The topological position of an event (for pagination tokens and /context).
    func topologicalPosition(of eventID: EventID) async throws -> TopologicalPosition?

    /// Current memberships of a user, any state, excluding forgotten rooms.
    func memberships(of userID: UserID) async throws -> [Membership]
    /// Current memberships in a room.
    func members(of roomID: RoomID) async throws -> [Membership]
    func forget(_ roomID: RoomID, userID: UserID) async throws

    /// The newest position in the server-wide stream.
    func currentStreamPosition() async throws -> StreamPosition

    func setAlias(_ alias: RoomAlias, to roomID: RoomID, creator: UserID) async throws
    func roomID(forAlias alias: RoomAlias) async throws -> RoomID?
    func aliases(of roomID: RoomID) async throws -> [RoomAlias]
    func aliasCreator(_ alias: RoomAlias) async throws -> UserID?
    func deleteAlias(_ alias: RoomAlias) async throws

    /// Visible events of a room sent at or after (`forwards`) or at or before a timestamp,
    /// nearest first.
    func events(in roomID: RoomID, nearTimestamp timestamp: Milliseconds, forwards: Bool, limit: Int) async throws -> [StoredEvent]

    /// Visible, unredacted events of `rooms` before `before` in which every term appears in one
    /// of the JSON paths `keys` (such as `content.body`), newest first.
    func search(in rooms: [RoomID], terms: [String], keys: [String], before: StreamPosition?, limit: Int) async throws -> [StoredEvent]
    /// How many events `search` would find in all.
    func searchCount(in rooms: [RoomID], terms: [String], keys: [String]) async throws -> Int

    // MARK: Relations

    /// Visible events relating to any of `parents` (optionally of one relation type and event
    /// type), before (backwards) or after a topological position.
    func relations(in roomID: RoomID, to parents: [EventID], relType: String?, eventType: String?, from: TopologicalPosition,
                   backwards: Bool, limit: Int) async throws -> [StoredEvent]
    /// Visible children of the given relation types (all types when nil), oldest first.
    func relationChildren(of parents: [EventID], relTypes: [String]?) async throws -> [RelationChild]
    /// For each thread root among `roots` that has replies: the reply count, the latest reply
    /// and whether `participant` replied.
    func threadSummaries(of roots: [EventID], participant: UserID?) async throws -> [EventID: ThreadSummary]
    /// A room's threads, most recently active first, with latest activity before `before`;
    /// with a participant, only threads they started or replied to.
    func threads(in roomID: RoomID, participant: UserID?, before: StreamPosition?, limit: Int) async throws -> [ThreadSummary]
}

/// An event that relates to another (`content.m.relates_to`).
public struct RelationChild: Sendable, Equatable {
    public var eventID: EventID
    public var parent: EventID
    public var relType: String
    public var type: String
    public var sender: UserID
    public var originServerTS: Milliseconds
    public var stream: StreamPosition

    public init(eventID: EventID, parent: EventID, relType: String, type: String, sender: UserID,
                originServerTS: Milliseconds, stream: StreamPosition) {
        self.eventID = eventID
        self.parent = parent
        self.relType = relType
        self.type = type
        self.sender = sender
        self.originServerTS = originServerTS
        self.stream = stream
    }
}

/// A thread: its root, how many replies, the latest one.
public struct ThreadSummary: Sendable, Equatable {
    public var root: EventID
    public var count: Int64
    public var latestEventID: EventID
    public var latestStream: StreamPosition
    public var participated: Bool

    public init(root: EventID, count: Int64, latestEventID: EventID, latestStream: StreamPosition, participated: Bool) {
        self.root = root
        self.count = count
        self.latestEventID = latestEventID
        self.latestStream = latestStream
        self.participated = participated
    }
}
