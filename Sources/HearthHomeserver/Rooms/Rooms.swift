public import HearthCore
public import HearthStorage
import Logging
import Synchronization

/// Rooms as this server holds them: creating events, keeping each room's head (forward
/// extremities, current state) and answering questions about state and membership.
///
/// Every new local event goes through `send`: build on the room's head, authorize against the
/// current state, persist durably, then advance the head and wake /sync.
public final class Rooms: Sendable {
    let settings: HomeserverSettings
    let store: any RoomStore
    let accounts: any AccountStore
    let privacy: any PrivacyStore
    let signingKey: SigningKey
    let clock: any WallClock
    let notifier: StreamNotifier
    let logger: Logger
    let locks = KeyedLocks<RoomID>()
    let heads = Mutex<[RoomID: RoomHead]>([:])
    let eventCache = EventCache()
    /// Content was redacted or erased since the database's freed space was last scrubbed.
    let scrubPending = Mutex(false)
    /// Sees every new local event after it is stored (the pseudonym relay listens here).
    let localEventObserver = Mutex<LocalEventObserver?>(nil)
    /// Set once by `Homeserver`: remote joins, invites and leaves, and handing new events to
    /// the servers in the room.
    let federation = Mutex<RoomFederation?>(nil)

    init(settings: HomeserverSettings, store: any RoomStore, accounts: any AccountStore, privacy: any PrivacyStore,
         signingKey: SigningKey, clock: any WallClock, notifier: StreamNotifier, logger: Logger) {
        self.settings = settings
        self.store = store
        self.accounts = accounts
        self.privacy = privacy
        self.signingKey = signingKey
        self.clock = clock
        self.notifier = notifier
        self.logger = logger
    }

    /// The in-memory summary of a room's present.
    struct RoomHead: Sendable {
        var record: RoomRecord
        var state: [StateKey: EventID]
        var maxDepth: Int64
    }

    // MARK: Heads

    func head(_ roomID: RoomID) async throws -> RoomHead {
        if let head = heads.withLock({ $0[roomID] }) { return head }
        guard let record = try await store.room(roomID) else { throw MatrixError.notFound("Unknown room \(roomID)") }
        let state: [StateKey: EventID] = if let group = record.currentStateGroup { try await store.state(group) } else { [:] }
        let tips = try await store.events(record.forwardExtremities)
        let head = RoomHead(record: record, state: state, maxDepth: tips.values.map(\.pdu.depth).max() ?? 0)
        heads.withLock { $0[roomID] = head }
        return head
    }

    public func exists(_ roomID: RoomID) async throws -> Bool {
        if heads.withLock({ $0[roomID] }) != nil { return true }
        return try await store.room(roomID) != nil
    }

    public func version(of roomID: RoomID) async throws -> RoomVersion { try await head(roomID).record.version }

    /// The current state, as event IDs.
    public func currentState(_ roomID: RoomID) async throws -> [StateKey: EventID] { try await head(roomID).state }

    /// Loads events, from the cache when possible.
    public func pdus(_ ids: some Collection<EventID>) async throws -> [EventID: PDU] {
        try await load(ids, acceptedOnly: false)
    }

    /// Loads the accepted events among `ids` (a rejected or unknown one is left out), from the
    /// cache when possible: what authorization reads on every event a room receives.
    public func acceptedPDUs(_ ids: some Collection<EventID>) async throws -> [EventID: PDU] {
        try await load(ids, acceptedOnly: true)
    }

    private func load(_ ids: some Collection<EventID>, acceptedOnly: Bool) async throws -> [EventID: PDU] {
        var found: [EventID: PDU] = [:]
        var missing: [EventID] = []
        for id in ids {
            if acceptedOnly, let known = eventCache.withAcceptance(id) {
                if known.accepted { found[id] = known.pdu }
            } else if !acceptedOnly, let pdu = eventCache.get(id) {
                found[id] = pdu
            } else {
                missing.append(id)
            }
        }
        if !missing.isEmpty {
            for (id, stored) in try await store.events(missing) {
                let accepted = stored.rejectionReason == nil
                eventCache.put(stored.pdu, accepted: accepted)
                if accepted || !acceptedOnly { found[id] = stored.pdu }
            }
        }
        return found
    }

    /// The current state event for `key`, if any.
    public func currentStateEvent(_ roomID: RoomID, _ key: StateKey) async throws -> PDU? {
        guard let id = try await head(roomID).state[key] else { return nil }
        return try await pdus([id])[id]
    }

    /// The state map with events, for the given keys only.
    func stateEvents(_ state: [StateKey: EventID], keys: some Sequence<StateKey>) async throws -> [StateKey: PDU] {
        var ids: [StateKey: EventID] = [:]
        for key in keys { if let id = state[key] { ids[key] = id } }
        let events = try await pdus(ids.values)
        return ids.compactMapValues { events[$0] }
    }

    public func membership(of userID: UserID, in roomID: RoomID) async throws -> String? {
        try await currentStateEvent(roomID, .member(userID))?.content["membership"]?.stringValue
    }

    public func powerLevels(_ roomID: RoomID) async throws -> PowerLevels {
        let head = try await head(roomID)
        let events = try await stateEvents(head.state, keys: [.create, .powerLevels])
        let creators = events[.create].map(RoomCreators.of) ?? []
        return PowerLevels(content: events[.powerLevels]?.content, version: head.record.version, creators: creators)
    }

    // MARK: Sending

    /// Creates, authorizes and persists a new event from a local user. A repeated client
    /// transaction returns the event it created the first time.
    @discardableResult
    public func send(_ roomID: RoomID, sender: UserID, type: String, stateKey: String? = nil, content: JSONObject,
                     redacts: EventID? = nil, transaction: ClientTransaction? = nil) async throws -> EventID {
        if let transaction, let existing = try await store.eventForTransaction(transaction) { return existing }
        try await requireAgreement(roomID, sender: sender, type: type, stateKey: stateKey, content: content)
        if type == "m.room.member", sender.server == settings.serverName,
           let name = content["displayname"]?.stringValue, name.contains(Self.verifiedMark) {
            // The mark is the server's to give: only the decorated name of a verified role.
            guard let role = try await verifiedRole(of: sender), name.hasSuffix("(\(Self.verifiedMark) \(role.label))") else {
                throw MatrixError.invalidParam("\(Self.verifiedMark) is reserved for roles this server has verified")
            }
        }
        let (pdu, persisted) = try await locks.withLock(roomID) { () async throws -> (PDU, PersistedEvent) in
            if let transaction, let existing = try await store.eventForTransaction(transaction),
               let pdu = try await pdus([existing])[existing] {
                return (pdu, PersistedEvent(stream: 0, stateGroupAfter: nil))
            }
            var head = try await head(roomID)
            let pdu = try await build(in: head, sender: sender, type: type, stateKey: stateKey, content: content, redacts: redacts)
            let persisted = try await persistLocal(pdu, head: &head, transaction: transaction)
            return (pdu, persisted)
        }
        if persisted.stream > 0 {
            try await afterPersist(pdu)
            await federation.withLock({ $0 })?.broadcast(pdu)
            // Whoever sets a room's agreement has accepted that version.
            if type == Self.agreementType, sender.server == settings.serverName, let version = content["version"]?.stringValue {
                try await privacy.recordAgreementAcceptance(AgreementAcceptance(roomID: roomID, userID: sender, version: version,
                                                                                     acceptedAt: clock.now()))
            }
        }
        return pdu.eventID
    }

    /// Builds and authorizes an event on top of the room's head.
    func build(in head: RoomHead, sender: UserID, type: String, stateKey: String?, content: JSONObject,
               redacts: EventID? = nil) async throws -> PDU {
        let (builder, authState) = try await builder(in: head, sender: sender, type: type, stateKey: stateKey, content: content,
                                                     redacts: redacts)
        let pdu = try buildSigned(builder)
        try EventAuthorization.authorize(pdu, state: authState)
        return pdu
    }

    /// An unsigned event on top of the room's head (prev events, auth events, depth), and the
    /// state its authorization consults.
    func builder(in head: RoomHead, sender: UserID, type: String, stateKey: String?, content: JSONObject,
                 redacts: EventID? = nil) async throws -> (EventBuilder, [StateKey: PDU]) {
        let version = head.record.version
        let authKeys = EventAuthorization.authEventKeys(type: type, stateKey: stateKey, sender: sender, content: content,
                                                        version: version)
        let authState = try await stateEvents(head.state, keys: authKeys + [.create])
        let builder = EventBuilder(
            roomVersion: version, roomID: head.record.roomID, type: type, stateKey: stateKey, sender: sender,
            content: content, prevEvents: Array(head.record.forwardExtremities.prefix(20)),
            authEvents: authKeys.compactMap { authState[$0]?.eventID }, depth: min(head.maxDepth + 1, JSONValue.maxSafeInteger),
            originServerTS: clock.now(), redacts: redacts)
        return (builder, authState)
    }

    func buildSigned(_ builder: EventBuilder) throws -> PDU {
        let legacyID = builder.roomVersion.eventIDFormat == .serverScoped
            ? EventID("$" + Tokens.random(bytes: 12) + ":" + settings.serverName.rawValue) : nil
        let json = builder.unsignedJSON(eventIDForLegacyVersions: legacyID)
        let size: Int
        do { size = try json.canonicalBytes().count } catch { throw error.matrixError }
        // Leave room for the hashes and signature the server adds.
        if size + 200 > PDU.maxSize { throw MatrixError.tooLarge("Event too large") }
        do {
            return try builder.build(server: settings.serverName, key: signingKey, legacyEventID: legacyID)
        } catch let error as any MatrixErrorConvertible {
            throw error.matrixError
        }
    }

    /// Persists an accepted local event as the room's new head.
    func persistLocal(_ pdu: PDU, head: inout RoomHead, transaction: ClientTransaction?) async throws -> PersistedEvent {
        let persisted: PersistedEvent
        do {
            persisted = try await store.persist(EventToPersist(
                pdu: pdu, stateGroupBefore: head.record.currentStateGroup, stateChange: pdu.stateTuple,
                newForwardExtremities: [pdu.eventID], transaction: transaction))
        } catch StorageError.conflict(let message) {
            throw MatrixError(.unknown, status: 409, "Conflicting write: \(message)")
        }
        eventCache.put(pdu)
        head.record.currentStateGroup = persisted.stateGroupAfter
        head.record.forwardExtremities = [pdu.eventID]
        head.maxDepth = pdu.depth
        if let key = pdu.stateTuple { head.state[key] = pdu.eventID }
        let updated = head
        heads.withLock { $0[pdu.roomID] = updated }
        // Every stored local event, room creation's included (the observer does not block).
        localEventObserver.withLock { $0 }?.observe(pdu)
        return persisted
    }

    /// What follows a new event: redactions take effect, /sync wakes.
    func afterPersist(_ pdu: PDU) async throws {
        if pdu.type == "m.room.redaction", let target = pdu.redacts {
            try await applyRedaction(pdu, target: target)
        }
        var users: [String] = []
        if pdu.type == "m.room.member", let target = pdu.stateKey { users.append(target) }
        notifier.notify(rooms: [pdu.roomID.rawValue], users: users)
    }

    /// Replaces the redacted event's stored JSON with its redacted form. The content is gone
    /// from the database afterwards, not only hidden.
    func applyRedaction(_ redaction: PDU, target: EventID) async throws {
        guard let stored = try await store.event(target), stored.pdu.roomID == redaction.roomID,
              stored.redactedBy == nil
        else { return }
        let redacted = stored.pdu.redacted()
        try await store.applyRedaction(of: target, redactedJSON: redacted.json, by: redaction.eventID)
        eventCache.put(redacted)
        scrubPending.withLock { $0 = true }
    }
}

/// The closure `Rooms.localEventObserver` calls, boxed in a class. Read out of a `Mutex` as a
/// bare closure, it came back wrapped in one more reabstraction thunk on every read (the inout
/// access writes the converted closure back); after some ten thousand local messages, calling
/// it overflowed the stack. A class reference is read as it is.
final class LocalEventObserver: Sendable {
    let observe: @Sendable (PDU) -> Void

    init(_ observe: @escaping @Sendable (PDU) -> Void) { self.observe = observe }
}

/// A bounded cache of decoded events, with whether each was accepted (passed authorization)
/// or rejected when the caller knew it.
final class EventCache: Sendable {
    private struct Entry {
        var pdu: PDU
        /// nil: not known here (the caller had the event only).
        var accepted: Bool?
    }
    private let events = Mutex<[EventID: Entry]>([:])
    private static let limit = 50_000

    func get(_ id: EventID) -> PDU? { events.withLock { $0[id]?.pdu } }

    /// The event and whether it was accepted, if both are known here.
    func withAcceptance(_ id: EventID) -> (pdu: PDU, accepted: Bool)? {
        events.withLock { events in
            guard let entry = events[id], let accepted = entry.accepted else { return nil }
            return (entry.pdu, accepted)
        }
    }

    func remove(_ ids: some Sequence<EventID>) {
        events.withLock { events in for id in ids { events[id] = nil } }
    }

    /// Caches `pdu`; `accepted` nil keeps what was known of the event's acceptance (a redacted
    /// copy replacing the original).
    func put(_ pdu: PDU, accepted: Bool? = nil) {
        events.withLock { events in
            if events.count >= Self.limit { events.removeAll(keepingCapacity: true) }
            events[pdu.eventID] = Entry(pdu: pdu, accepted: accepted ?? events[pdu.eventID]?.accepted)
        }
    }
}
