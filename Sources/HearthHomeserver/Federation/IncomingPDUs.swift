public import HearthCore
public import HearthStorage
import Logging
import Synchronization

/// What became of a PDU another server sent.
public enum PDUOutcome: Sendable, Equatable {
    /// Passed every check; part of the room's current state and timeline.
    case accepted
    /// Passed the checks against its auth events and the state before it, failed against the
    /// current state: stored, kept out of the timeline and the forward extremities.
    case softFailed(String)
    /// Failed the authorization rules against its auth events or the state before it: stored
    /// as rejected, never shown or built upon.
    case rejected(String)
    /// Not a valid event, or not validly signed, or its context could not be had: not stored.
    case dropped(String)
    /// Already stored.
    case alreadyKnown

    /// The error to report for it in a /send response, if any.
    public var error: String? {
        switch self {
        case .accepted, .alreadyKnown, .softFailed: nil
        case .rejected(let why): "rejected: \(why)"
        case .dropped(let why): why
        }
    }
}

/// A PDU that cannot be processed; it is dropped, never stored.
struct DroppedPDU: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The checks performed on receipt of a PDU, in the spec's order, and persisting the result.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#checks-performed-on-receipt-of-a-pdu
///
/// 1. format (`PDU(json:version:)`), else dropped;
/// 2. signatures (`verifySignatures`), else dropped;
/// 3. content hash, else redacted before anything else looks at it;
/// 4. authorization against the event's own auth events, else rejected;
/// 5. authorization against the state before the event (the states after its prev events,
///    resolved), else rejected;
/// 6. authorization against the room's current state, else soft-failed.
///
/// Missing auth events, missing prev events and the state at prev events that cannot be had
/// are fetched from the server that sent the event first (`MissingEvents.swift`).
extension RoomFederation {
    /// Checks and persists one PDU that `origin` sent for a room this server knows.
    public func receivePDU(_ json: JSONObject, from origin: ServerName) async -> (EventID?, PDUOutcome) {
        await receivePDU(json, from: origin, mode: .live(fillGaps: true))
    }

    /// How a PDU arrived.
    enum Arrival {
        /// New in the room (a transaction, or the events filling a gap before one, which fill
        /// no further gaps): it may move the room's head.
        case live(fillGaps: Bool)
        /// Old history from /backfill: stored in its place, the head left alone.
        case backfill
    }

    /// `room` is the room the event was asked for (history and gaps): a room version 12 create
    /// event names no room and is checked against it.
    /// `verified` is the event after checks 1–3 when they were done already (a transaction's
    /// PDUs are checked in parallel first).
    func receivePDU(_ json: JSONObject, from origin: ServerName, mode: Arrival, room: RoomID? = nil,
                    verified alreadyVerified: PDU? = nil) async -> (EventID?, PDUOutcome) {
        var eventID: EventID? = nil
        do {
            guard let roomID = json["room_id"]?.stringValue.flatMap(RoomID.init) ?? (json["type"]?.stringValue == "m.room.create" ? room : nil)
            else {
                throw DroppedPDU("missing or invalid room_id")
            }
            guard try await rooms.exists(roomID) else { throw DroppedPDU("unknown room \(roomID)") }
            let version = try await rooms.version(of: roomID)
            let preverified = alreadyVerified.flatMap { $0.roomVersion == version && $0.roomID == roomID ? $0 : nil }
            let decoded = try preverified ?? decode(json, version: version)
            eventID = decoded.eventID
            guard decoded.roomID == roomID else { throw DroppedPDU("room ID changed in decoding") }
            guard try await isAllowedByACL(origin, in: roomID) else {
                throw DroppedPDU("server \(origin) is denied by the room's server ACL")
            }
            if case .live = mode, try await rooms.currentState(roomID)[.create] == nil {
                // Known only from an invite or a knock: this server is not in the room, and
                // the event (the invite itself, again) is not for its timeline.
                if try await store.event(decoded.eventID) != nil { return (decoded.eventID, .alreadyKnown) }
                throw DroppedPDU("this server is not in room \(roomID)")
            }
            let pdu = if let preverified { preverified } else { try await verified(decoded) }
            let scope = PendingTimeline.current
            if scope?.contains(pdu.eventID) == true { return (pdu.eventID, .alreadyKnown) }
            if let existing = try await store.event(pdu.eventID), !existing.outlier { return (pdu.eventID, .alreadyKnown) }
            try await fetchMissingAuthEvents(of: pdu, from: origin)
            // The usual case, an event that follows ones this server has: no gap to fill, and
            // the prev events' snapshots, read once, stay valid (a timeline event stays one).
            var fetchedStates: [EventID: [StateKey: EventID]] = [:]
            var snapshots = try await store.timelineStateGroups(pdu.prevEvents)
            if let scope { snapshots.merge(scope.groupsAfter(pdu.prevEvents)) { stored, _ in stored } }
            var prevSnapshots: [EventID: StateGroupID?]? = snapshots
            if snapshots.count < Set(pdu.prevEvents).count {
                prevSnapshots = nil
                // Filling a gap reads the room's events from the database, and waits for other
                // servers: what is pending is written and the room released first.
                if let scope { await releaseRoom(of: scope) }
                if let failure = scope?.failure { throw failure }
                if case .live(true) = mode { await fillGap(before: pdu, from: origin) }
                fetchedStates = try await statesAtUnknownPrevEvents(of: pdu, from: origin)
            }
            let backfilled = if case .backfill = mode { true } else { false }
            let topLevel = if case .live(fillGaps: true) = mode { true } else { false }
            let outcome = try await persistReceived(pdu, fetchedStates: fetchedStates, prevSnapshots: prevSnapshots,
                                                    backfilled: backfilled, mayDefer: topLevel)
            return (pdu.eventID, outcome)
        } catch let error as DroppedPDU {
            logger.info("dropped a PDU", metadata: ["origin": "\(origin)", "event_id": "\(eventID?.rawValue ?? "?")",
                                                    "reason": "\(error.description)"])
            return (eventID, .dropped(error.description))
        } catch {
            logger.warning("failed to process a PDU", metadata: ["origin": "\(origin)", "event_id": "\(eventID?.rawValue ?? "?")",
                                                                "error": "\(error)"])
            return (eventID, .dropped("could not be processed: \(error)"))
        }
    }

    // MARK: Checks 1–3

    /// Format, signatures and content hash: the event as the later checks must see it (redacted
    /// if its content hash does not match).
    func checkedPDU(_ json: JSONObject, version: RoomVersion) async throws -> PDU {
        let (pdu, encoded) = try decodeForChecks(json, version: version)
        return try await verified(pdu, encoded: encoded)
    }

    /// A received event's canonical encodings, made once for all of checks 1–3.
    struct EncodedPDU {
        var reference: [UInt8]?
        var content: [UInt8]?
        /// The whole event's length as canonical JSON, when it has a canonical form.
        var size: Int?
    }

    /// Check 1, with the encodings checks 2 and 3 reuse: the redacted form is what the
    /// signatures cover and what a version 3+ event ID hashes; the content-hash form; and the
    /// whole event, whose length is its size.
    func decodeForChecks(_ json: JSONObject, version: RoomVersion) throws -> (PDU, EncodedPDU) {
        let encoded = if let all = try? EventHashing.encodings(json, version: version) {
            EncodedPDU(reference: all.reference, content: all.content, size: all.full.count)
        } else {
            // No canonical form of the whole event; its redacted form may still have one.
            EncodedPDU(reference: try? EventHashing.referenceBytes(json, version: version),
                       content: try? EventHashing.contentBytes(json), size: nil)
        }
        return (try decode(json, version: version, encoded: encoded), encoded)
    }

    /// Check 1: the event format of the room version.
    func decode(_ json: JSONObject, version: RoomVersion, encoded: EncodedPDU? = nil) throws -> PDU {
        do {
            return try PDU(json: json, version: version, referenceBytes: encoded?.reference, canonicalSize: encoded?.size)
        } catch {
            throw DroppedPDU("invalid event: \(error.reason)")
        }
    }

    /// Checks 2 and 3: signatures, then the content hash (a mismatch redacts the event).
    func verified(_ pdu: PDU, encoded: EncodedPDU? = nil) async throws -> PDU {
        try await verifySignatures(of: pdu, referenceBytes: encoded?.reference)
        return hashChecked(pdu, encoded: encoded)
    }

    /// Check 3: the event itself if its content hash matches, else its redacted form.
    func hashChecked(_ pdu: PDU, encoded: EncodedPDU?) -> PDU {
        if !EventHashing.hasValidContentHash(pdu.json, contentBytes: encoded?.content) {
            logger.info("content hash mismatch, redacting", metadata: ["event_id": "\(pdu.eventID)"])
            return pdu.redacted()
        }
        return pdu
    }

    /// Checks 1–3 of several events, as `checkedPDU` for each, but with the signatures that
    /// key tables can confirm checked together (one field inversion for all of them). An event
    /// whose signature the batch does not confirm is checked alone, the usual way. Returns the
    /// checked event for each position whose event passes.
    func checkedPDUs(_ jsons: some Collection<(offset: Int, element: JSONObject)>,
                     version: @Sendable (JSONObject) async -> RoomVersion?) async -> [Int: PDU] {
        var checked: [Int: PDU] = [:]
        let all = Array(jsons)
        for start in stride(from: 0, to: all.count, by: Self.checkingStep) {
            // Between steps, other tasks get this thread: the task that authorizes and hands
            // events to the writer waits behind the checking otherwise (a chunk takes ~15 ms).
            if start > 0 { await Task.yield() }
            await checkStep(all[start..<min(start + Self.checkingStep, all.count)], version: version, into: &checked)
        }
        return checked
    }

    /// Events checked between two yields in `checkedPDUs` (~3 ms of work); the signatures of
    /// a step share one field inversion.
    static let checkingStep = 100

    private func checkStep(_ jsons: ArraySlice<(offset: Int, element: JSONObject)>,
                           version: @Sendable (JSONObject) async -> RoomVersion?, into checked: inout [Int: PDU]) async {
        var decoded: [(index: Int, pdu: PDU, encoded: EncodedPDU, job: Int?)] = []
        var jobs: [(key: VerifyKey, signature: [UInt8], message: [UInt8])] = []
        for (index, json) in jsons {
            guard let version = await version(json), let (pdu, encoded) = try? decodeForChecks(json, version: version)
            else { continue }
            var job: Int? = nil
            // Only the common case: one server must sign, and it signed with a key known here.
            let signers = requiredSigners(of: pdu)
            if let message = encoded.reference, signers.count == 1, let server = signers.first {
                let validAt = pdu.roomVersion.enforcesKeyValidity ? pdu.originServerTS : nil
                for keyID in JSONSigning.ed25519KeyIDs(in: pdu.json, by: server.rawValue).sorted() {
                    guard let key = await ports.keys.verifyKey(server: server, keyID: keyID, validAt: validAt),
                          let signature = JSONSigning.signature(in: pdu.json, by: server.rawValue, keyID: keyID),
                          signature.count == 64
                    else { continue }
                    job = jobs.count
                    jobs.append((key, signature, message))
                    break
                }
            }
            decoded.append((index, pdu, encoded, job))
        }
        let confirmed = VerifyKey.tableConfirmations(jobs)
        for (index, pdu, encoded, job) in decoded {
            if let job, confirmed[job] {
                checked[index] = hashChecked(pdu, encoded: encoded)
            } else if let pdu = try? await verified(pdu, encoded: encoded) {
                checked[index] = pdu
            }
        }
    }

    /// The servers whose signatures an event needs: the sender's; in room versions 1 and 2 the
    /// event ID's; for a restricted join, the server of `join_authorised_via_users_server`.
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#validating-hashes-and-signatures-on-received-events
    func requiredSigners(of pdu: PDU) -> Set<ServerName> {
        var servers: Set<ServerName> = [pdu.sender.server]
        if pdu.roomVersion.auth.requiresEventIDDomainSignature, let server = pdu.eventID.server { servers.insert(server) }
        if pdu.content["membership"]?.stringValue == "join", let server = EventAuthorization.joinAuthorisingServer(of: pdu) {
            servers.insert(server)
        }
        return servers
    }

    /// Every required server must have a valid Ed25519 signature on the redacted event, with a
    /// key valid at `origin_server_ts` where the room version enforces key validity.
    func verifySignatures(of pdu: PDU, referenceBytes: [UInt8]? = nil) async throws {
        let keys = ports.keys
        let validAt = pdu.roomVersion.enforcesKeyValidity ? pdu.originServerTS : nil
        for server in requiredSigners(of: pdu).sorted() {
            let keyIDs = JSONSigning.ed25519KeyIDs(in: pdu.json, by: server.rawValue).sorted()
            guard !keyIDs.isEmpty else { throw DroppedPDU("no signature from \(server)") }
            var valid = false
            for keyID in keyIDs {
                guard let key = await keys.verifyKey(server: server, keyID: keyID, validAt: validAt) else { continue }
                do {
                    try EventHashing.verifySignature(pdu.json, by: server, keyID: keyID, key: key, version: pdu.roomVersion,
                                                     referenceBytes: referenceBytes)
                    valid = true
                    break
                } catch {
                    continue
                }
            }
            guard valid else { throw DroppedPDU("no valid signature from \(server) (keys \(keyIDs.joined(separator: ",")))") }
        }
    }

    // MARK: Check 4

    /// The rejection reason of an event against its own auth events (only accepted auth events
    /// count), or nil if it passes.
    func authEventsRejection(of pdu: PDU) async throws -> String? {
        let accepted = Array(try await rooms.acceptedPDUs(Set(pdu.authEvents)).values)
        let create = try await acceptedCreateEvent(for: pdu)
        do {
            try EventAuthorization.authorize(pdu, authEvents: accepted, roomCreate: create)
            return nil
        } catch {
            return error.description
        }
    }

    /// In room version 12 the room ID names the create event, which is never an auth event.
    func acceptedCreateEvent(for pdu: PDU) async throws -> PDU? {
        guard !pdu.roomVersion.auth.createEventIsAuthEvent, pdu.type != "m.room.create",
              let id = EventID("$" + pdu.roomID.rawValue.dropFirst())
        else { return nil }
        return try await rooms.acceptedPDUs([id])[id]
    }

    /// Check 4 for an outlier: why it fails against its (accepted) auth events, or nil.
    func outlierRejection(of pdu: PDU, authEvents: [PDU], roomCreate: PDU?) -> String? {
        do {
            try EventAuthorization.authorize(pdu, authEvents: authEvents, roomCreate: roomCreate)
            return nil
        } catch {
            logger.info("rejected an outlier", metadata: ["event_id": "\(pdu.eventID)", "reason": "\(error.description)"])
            return error.description
        }
    }

    /// Writes authorized outliers and remembers them in the event cache.
    func writeOutliers(_ outliers: [EventToPersist]) async throws {
        try await store.persistOutliers(outliers)
        for event in outliers { rooms.eventCache.put(event.pdu, accepted: event.rejectionReason == nil) }
    }

    // MARK: Checks 5–6 and persisting

    /// Authorizes a checked PDU against the state before it and the current state, and persists
    /// it with the room's new head. `fetchedStates` holds the state after prev events this
    /// server does not have, as another server reported it.
    ///
    /// `knownState` is the state before the event when it is known otherwise (a join's state
    /// from the resident server); with it the event starts the room's head afresh (this server
    /// was not in the room) and is not checked against the stale current state.
    ///
    /// `mayDefer`: inside a `PendingTimeline` scope, an event that changes no state may be
    /// written later, with the transaction's others.
    func persistReceived(_ pdu: PDU, fetchedStates: [EventID: [StateKey: EventID]],
                         prevSnapshots: [EventID: StateGroupID?]? = nil, knownState: (StateGroupID?, [StateKey: EventID])? = nil,
                         backfilled: Bool = false, mayDefer: Bool = false) async throws -> PDUOutcome {
        let roomID = pdu.roomID
        let scope = PendingTimeline.current
        func locked() async throws -> (PDUOutcome, deferred: Bool) {
            if scope?.contains(pdu.eventID) == true { return (.alreadyKnown, false) }
            if let existing = try await store.event(pdu.eventID), !existing.outlier { return (.alreadyKnown, false) }
            var head = try await rooms.head(roomID)
            // Only the next event on the room's head may wait to be written (it has one tip, so
            // no state to resolve). Before anything else, what is pending is written, so that
            // the state computations below find it in the database.
            let extendsHead = mayDefer && knownState == nil && !backfilled && pdu.prevEvents == head.record.forwardExtremities
            if let scope, !extendsHead { try await writePending(scope) }
            var rejection = try await authEventsRejection(of: pdu)
            let (groupBefore, stateBefore) = if let knownState { knownState } else {
                try await stateBefore(pdu, fetchedStates: fetchedStates, prevSnapshots: prevSnapshots)
            }
            let keys = EventAuthorization.authEventKeys(type: pdu.type, stateKey: pdu.stateKey, sender: pdu.sender,
                                                        content: pdu.content, version: pdu.roomVersion) + [.create]
            if rejection == nil {
                do {
                    try EventAuthorization.authorize(pdu, state: try await acceptedStateEvents(stateBefore, keys: keys))
                } catch {
                    rejection = "against the state before it: \(error)"
                }
            }
            var softFailure: String? = nil
            if rejection == nil, pdu.type != "m.room.create", knownState == nil, !backfilled {
                do {
                    try EventAuthorization.authorize(pdu, state: try await acceptedStateEvents(head.state, keys: keys))
                } catch {
                    softFailure = "\(error)"
                }
            }
            var stateAfter = stateBefore
            if rejection == nil, let key = pdu.stateTuple { stateAfter[key] = pdu.eventID }

            var extremities: [EventID]? = nil
            var currentGroup: StateGroupID? = nil
            var currentState = stateAfter
            if rejection == nil, softFailure == nil, !backfilled {
                var tips = knownState != nil ? [] : head.record.forwardExtremities.filter { !pdu.prevEvents.contains($0) }
                tips.append(pdu.eventID)
                if tips.count > 1 {
                    let others = try await statesAfter(Array(tips.dropLast()))
                    currentState = try await resolveStates(roomID, version: pdu.roomVersion, others + [stateAfter], pending: [pdu])
                    currentGroup = try await store.createStateGroup(roomID, state: currentState, base: head.record.currentStateGroup)
                }
                extremities = tips
            }
            let toPersist = EventToPersist(
                pdu: pdu, stateGroupBefore: groupBefore, stateChange: pdu.stateTuple, rejectionReason: rejection,
                softFailed: softFailure != nil, newForwardExtremities: extremities, currentStateGroup: currentGroup,
                backfilled: backfilled)
            let persisted: PersistedEvent
            var deferred = false
            if let scope, extendsHead, pdu.type != "m.room.redaction", pdu.stateTuple == nil || rejection != nil {
                // Changes no state: the snapshot after it is the one before.
                scope.add(toPersist)
                deferred = true
                persisted = PersistedEvent(stream: 0, stateGroupAfter: groupBefore)
            } else {
                do {
                    persisted = try await write(toPersist, afterPendingIn: scope)
                } catch StorageError.conflict {
                    return (.alreadyKnown, false)
                }
            }
            rooms.eventCache.put(pdu, accepted: rejection == nil)
            if let extremities {
                head.record.forwardExtremities = extremities
                head.record.currentStateGroup = currentGroup ?? persisted.stateGroupAfter
                head.state = currentState
                head.maxDepth = max(head.maxDepth, pdu.depth)
                let updated = head
                rooms.heads.withLock { $0[roomID] = updated }
            }
            if let rejection { return (.rejected(rejection), deferred) }
            if let softFailure { return (.softFailed(softFailure), deferred) }
            return (.accepted, deferred)
        }
        let outcome: PDUOutcome
        let deferred: Bool
        if let scope {
            // The scope keeps the room's lock until its events are written; another room's are
            // written and released first (a scope never waits while holding a room).
            if scope.heldRoom != roomID {
                await releaseRoom(of: scope)
                await rooms.locks.acquire(roomID)
                scope.holds(roomID)
            }
            (outcome, deferred) = try await locked()
        } else {
            (outcome, deferred) = try await rooms.locks.withLock(roomID) { try await locked() }
        }
        switch outcome {
        case .accepted:
            // A pending event wakes /sync once it is written.
            if !deferred { try await afterAccepting(pdu) }
        case .rejected(let why), .softFailed(let why):
            logger.info("PDU not accepted", metadata: ["event_id": "\(pdu.eventID)", "outcome": "\(outcome)", "reason": "\(why)"])
        default:
            break
        }
        return outcome
    }

    /// What follows an accepted remote event: a redaction takes effect if its sender may redact
    /// the target; /sync wakes.
    func afterAccepting(_ pdu: PDU) async throws {
        if pdu.type == "m.room.redaction", let target = pdu.redacts,
           let stored = try await store.event(target), stored.pdu.roomID == pdu.roomID {
            // v3+: "the server should only apply redactions to events where the sender's
            // domains match, or the sender of the redaction has the appropriate permissions".
            let sameServer = stored.pdu.sender.server == pdu.sender.server
            let levels = try await rooms.powerLevels(pdu.roomID)
            if sameServer || levels.userLevel(pdu.sender) >= .finite(levels.redact) {
                try await rooms.applyRedaction(pdu, target: target)
            }
        }
        var users: [String] = []
        if pdu.type == "m.room.member", let target = pdu.stateKey { users.append(target) }
        notifier.notify(rooms: [pdu.roomID.rawValue], users: users)
    }

    /// The accepted events of a state map at `keys`.
    func acceptedStateEvents(_ state: [StateKey: EventID], keys: [StateKey]) async throws -> [StateKey: PDU] {
        var ids: [StateKey: EventID] = [:]
        for key in keys { if let id = state[key] { ids[key] = id } }
        let accepted = try await rooms.acceptedPDUs(Set(ids.values))
        return ids.compactMapValues { accepted[$0] }
    }
}
