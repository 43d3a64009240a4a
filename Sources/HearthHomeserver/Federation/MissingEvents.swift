public import HearthCore
public import HearthStorage
import Logging
import Synchronization

/// Fetching what an incoming event depends on from the server that sent it: its auth events,
/// the prev events between it and this server's forward extremities, and the state at prev
/// events that cannot be had.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events
extension RoomFederation {
    /// Fetches and stores (as outliers) the auth events of `pdu` this server lacks: the event's
    /// auth chain from /event_auth, or the missing events one by one with /event.
    func fetchMissingAuthEvents(of pdu: PDU, from origin: ServerName) async throws {
        let known = try await rooms.pdus(pdu.authEvents)
        let missing = pdu.authEvents.filter { known[$0] == nil }
        if missing.isEmpty, try await acceptedCreateEvent(for: pdu) != nil || pdu.roomVersion.auth.createEventIsAuthEvent { return }
        // Asking another server can take long: the room is not kept locked meanwhile.
        if let scope = PendingTimeline.current {
            await releaseRoom(of: scope)
            if let failure = scope.failure { throw failure }
        }
        var fetched: [JSONObject] = []
        do {
            fetched = try await remotes.eventAuth(at: origin, room: pdu.roomID, event: pdu.eventID)
        } catch {
            logger.info("event_auth failed, fetching auth events one by one",
                        metadata: ["origin": "\(origin)", "event_id": "\(pdu.eventID)", "error": "\(error)"])
        }
        try await storeFetchedEvents(fetched, ensuring: missing, room: pdu.roomID, version: pdu.roomVersion, from: origin)
    }

    /// How many fetched events are checked and authorized as one step.
    static let outlierChunkSize = 500

    /// The positions of each chunk of a batch of `count` fetched events. The first chunk is
    /// small, so that writing starts while the rest is being checked.
    static func outlierChunks(count: Int) -> [Range<Int>] {
        if count == 0 { return [] }
        let first = min(100, count)
        return [0..<first] + stride(from: first, to: count, by: outlierChunkSize).map { $0..<min($0 + outlierChunkSize, count) }
    }

    /// Checks (format, signatures, hash) and stores fetched events as outliers, auth events
    /// first, fetching with /event whatever auth events are still missing, and then the events
    /// in `ensuring` that are still unknown. Returns those of the events it stored or already
    /// had that are accepted (not rejected), and the event ID of each of `jsons` that passed
    /// the checks, by position (so that callers need not hash them again).
    ///
    /// A big batch (a room's state from send_join or /state) goes through in chunks, in order:
    /// while one chunk is written, the next ones are checked and authorized. An event whose
    /// auth events are not known yet waits for a later chunk, or for the fetching at the end.
    @discardableResult
    func storeFetchedEvents(_ jsons: [JSONObject], ensuring wanted: [EventID], room: RoomID, version: RoomVersion,
                            from origin: ServerName) async throws -> (accepted: [EventID: PDU], idAt: [Int: EventID]) {
        var idAt: [Int: EventID] = [:]
        var checkedByID: [EventID: PDU] = [:]
        // Checked, not authorized yet: an auth event is still unknown.
        var pending: [EventID: PDU] = [:]
        // Authorized here or found stored: the event if accepted, nil if rejected.
        var verdicts: [EventID: PDU?] = [:]
        // Chunks are written by the store's writer while this task goes on. If this task
        // fails, what is queued is authorized already and is still written.
        let writer = OutlierWriter { try await self.writeOutliers($0) }
        defer { writer.close() }
        let numbered = Array(jsons.enumerated())
        let chunks = Self.outlierChunks(count: numbered.count).map { Array(numbered[$0]) }
        // In room version 12 the room ID names the create event, which no event lists.
        let createID = version.auth.createEventIsAuthEvent ? nil : EventID("$" + room.rawValue.dropFirst())
        try await withThrowingTaskGroup(of: (Int, [Int: PDU], [EventID: StoredEvent]).self) { group in
            // Checking signatures is most of the work: a few chunks at a time keep the cores
            // busy and leave room for this task to authorize and hand chunks to the writer.
            // A chunk's task also finds which of its events, and of the events they cite, are
            // stored already: this task then authorizes without waiting for the database,
            // which it would do behind the checking for a thread.
            var started = 0
            func startNext() {
                guard started < chunks.count else { return }
                let number = started, chunk = chunks[number]
                group.addTask {
                    let checked = await self.checkedPDUs(chunk) { _ in version }
                    var ids = Set(checked.values.lazy.filter { $0.roomID == room }.flatMap { [$0.eventID] + $0.authEvents })
                    if let createID { ids.insert(createID) }
                    return (number, checked, try await self.store.events(Array(ids)))
                }
                started += 1
            }
            for _ in 0..<3 { startNext() }
            var arrived: [Int: ([Int: PDU], [EventID: StoredEvent])] = [:]
            var next = 0
            for try await (number, checked, stored) in group {
                startNext()
                arrived[number] = (checked, stored)
                while let (checked, stored) = arrived.removeValue(forKey: next) {
                    next += 1
                    for (index, pdu) in checked where pdu.roomID == room {
                        idAt[index] = pdu.eventID
                        checkedByID[pdu.eventID] = pdu
                        if verdicts[pdu.eventID] == nil { pending[pdu.eventID] = pdu }
                    }
                    let toWrite = try await authorizeResolvable(&pending, verdicts: &verdicts, unknownAreMissing: false, stored: stored)
                    writer.enqueue(toWrite)
                }
            }
        }
        try await writer.finish()

        var wanted = wanted
        // In room version 12 no event cites the create event: the room ID names it.
        if !version.auth.createEventIsAuthEvent, let create = EventID("$" + room.rawValue.dropFirst()),
           try await store.event(create) == nil {
            wanted.append(create)
        }
        var toFetch = Set(wanted.filter { pending[$0] == nil })
        for _ in 0..<limits.authChainFetchRounds {
            // Auth events referenced but neither pending nor stored.
            let referenced = Set(pending.values.flatMap(\.authEvents)).union(toFetch).filter { pending[$0] == nil }
            let stored = try await store.events(Array(referenced))
            let missing = referenced.filter { stored[$0] == nil }
            toFetch = []
            if missing.isEmpty { break }
            for id in missing.sorted() {
                guard let json = try? await remotes.event(at: origin, id: id),
                      let pdu = try? await checkedPDU(json, version: version), pdu.roomID == room, pdu.eventID == id
                else { continue }
                pending[id] = pdu
                checkedByID[id] = pdu
            }
        }
        // Nothing more will come: what still waits is judged with what is known.
        try await writeOutliers(try await authorizeResolvable(&pending, verdicts: &verdicts, unknownAreMissing: true))
        return (checkedByID.filter { (verdicts[$0.key] ?? nil) != nil }, idAt)
    }

    /// Authorizes, in auth order, each pending event whose auth events are all known (decided
    /// in this batch, or stored), against its accepted auth events; moves it from `pending` to
    /// `verdicts` and returns the outliers to write. Pending events found stored already take
    /// their stored verdict and are not written again. With `unknownAreMissing`, an auth event
    /// still unknown counts as missing instead of making the event wait: every pending event
    /// is decided. `stored`: what the store holds of the pending events and of the events they
    /// cite, when the caller has looked it up already; otherwise it is looked up here.
    func authorizeResolvable(_ pending: inout [EventID: PDU], verdicts: inout [EventID: PDU?],
                             unknownAreMissing: Bool, stored known: [EventID: StoredEvent]? = nil) async throws -> [EventToPersist] {
        guard let first = pending.values.first else { return [] }
        // In room version 12 the room ID names the create event, which no event lists.
        let createID = first.roomVersion.auth.createEventIsAuthEvent ? nil : EventID("$" + first.roomID.rawValue.dropFirst())
        var stored: [EventID: StoredEvent]
        if let known {
            stored = known
        } else {
            var lookup = Set(pending.keys)
            for pdu in pending.values {
                for auth in pdu.authEvents where verdicts[auth] == nil && pending[auth] == nil { lookup.insert(auth) }
            }
            if let createID, verdicts[createID] == nil, pending[createID] == nil { lookup.insert(createID) }
            stored = try await store.events(Array(lookup))
        }
        for (id, stored) in stored {
            verdicts.updateValue(stored.rejectionReason == nil ? stored.pdu : nil, forKey: id)
            pending[id] = nil
        }
        var toPersist: [EventToPersist] = []
        for pdu in Self.authOrder(Array(pending.values)) {
            var seen = Set<EventID>()
            let authIDs = pdu.authEvents.filter { seen.insert($0).inserted }
            guard unknownAreMissing || authIDs.allSatisfy({ verdicts[$0] != nil }) else { continue }
            var create: PDU? = nil
            if pdu.type != "m.room.create", let createID {
                if let verdict = verdicts[createID] { create = verdict } else if !unknownAreMissing { continue }
            }
            let rejection = outlierRejection(of: pdu, authEvents: authIDs.compactMap { verdicts[$0] ?? nil }, roomCreate: create)
            verdicts.updateValue(rejection == nil ? pdu : nil, forKey: pdu.eventID)
            pending[pdu.eventID] = nil
            toPersist.append(.outlier(pdu, rejectionReason: rejection))
        }
        return toPersist
    }

    /// Checks 1–3 (format, signatures, content hash) of many events at once, spread over
    /// `slices` tasks: the checked event for each position whose event passes. `version` is
    /// the room version to read an event with, nil to skip it.
    func checkedInParallel(_ jsons: [(offset: Int, element: JSONObject)], slices: Int,
                           version: @escaping @Sendable (JSONObject) async -> RoomVersion?) async -> [Int: PDU] {
        guard !jsons.isEmpty else { return [:] }
        let sliceSize = (jsons.count + max(slices, 1) - 1) / max(slices, 1)
        return await withTaskGroup(of: [Int: PDU].self) { group in
            for start in stride(from: 0, to: jsons.count, by: sliceSize) {
                let slice = jsons[start..<min(start + sliceSize, jsons.count)]
                group.addTask { await self.checkedPDUs(slice, version: version) }
            }
            var all: [Int: PDU] = [:]
            for await part in group { all.merge(part) { first, _ in first } }
            return all
        }
    }

    /// Writes authorized outliers in the background, one transaction at a time, each taking
    /// everything queued since the one before. When writing falls behind the checking,
    /// transactions grow: fewer, larger commits, which rewrite fewer pages of the log.
    final class OutlierWriter: Sendable {
        private final class Queue: Sendable {
            let events = Mutex<[EventToPersist]>([])
        }
        private let queue = Queue()
        private let doorbell: AsyncStream<Void>.Continuation
        private let task: Task<Void, any Error>

        init(_ write: @escaping @Sendable ([EventToPersist]) async throws -> Void) {
            let (rings, doorbell) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            let queue = queue
            self.doorbell = doorbell
            task = Task {
                for await _ in rings {
                    while case let batch = queue.events.withLock({ events in defer { events = [] }; return events }),
                          !batch.isEmpty {
                        try await write(batch)
                    }
                }
            }
        }

        /// Queues `events`, encoding their JSON here: the writer's task would otherwise encode
        /// each batch before writing it, while the database waits.
        func enqueue(_ events: [EventToPersist]) {
            guard !events.isEmpty else { return }
            let encoded = events.map { event in
                var event = event
                if event.encodedJSON == nil { event.encodedJSON = event.pdu.json.encodedString() }
                return event
            }
            queue.events.withLock { $0 += encoded }
            doorbell.yield()
        }

        /// No more will come: the writer ends once what is queued is written.
        func close() { doorbell.finish() }

        /// Closes and waits until everything queued is written.
        func finish() async throws {
            close()
            try await task.value
        }
    }

    /// Events ordered so that every event comes after those of its auth events in the list
    /// (Kahn's algorithm; ties by depth, then event ID).
    static func authOrder(_ events: [PDU]) -> [PDU] {
        let byID = Dictionary(events.map { ($0.eventID, $0) }, uniquingKeysWith: { a, _ in a })
        // Ties are broken by depth, then event ID: each event's rank in that order.
        let ranked = byID.values.sorted { $0.depth != $1.depth ? $0.depth < $1.depth : $0.eventID < $1.eventID }
        var rank: [EventID: Int] = [:]
        for (index, event) in ranked.enumerated() { rank[event.eventID] = index }
        var remaining = [Int](repeating: 0, count: ranked.count)
        var dependents = [[Int]](repeating: [], count: ranked.count)
        for (index, event) in ranked.enumerated() {
            let inSet = Set(event.authEvents.compactMap { rank[$0] })
            remaining[index] = inSet.count
            for auth in inSet { dependents[auth].append(index) }
        }
        // The ready events' ranks, highest first, so the next one is taken from the end.
        var ready = remaining.indices.filter { remaining[$0] == 0 }.reversed() as [Int]
        var ordered: [PDU] = []
        ordered.reserveCapacity(ranked.count)
        while let next = ready.popLast() {
            ordered.append(ranked[next])
            for dependent in dependents[next] {
                remaining[dependent] -= 1
                guard remaining[dependent] == 0 else { continue }
                // Binary search for its place in the descending list.
                var low = 0, high = ready.count
                while low < high {
                    let middle = (low + high) / 2
                    if ready[middle] > dependent { low = middle + 1 } else { high = middle }
                }
                ready.insert(dependent, at: low)
            }
        }
        // A cycle cannot occur with hashed IDs; with chosen ones (v1, v2) the rest follows by rank.
        ordered += ranked.indices.filter { remaining[$0] > 0 }.map { ranked[$0] }
        return ordered
    }

    /// Asks `origin` for the events between this server's forward extremities and `pdu`
    /// (/get_missing_events) and processes them oldest first, without filling further gaps.
    func fillGap(before pdu: PDU, from origin: ServerName) async {
        do {
            let inTimeline = try await store.timelineStateGroups(pdu.prevEvents)
            guard pdu.prevEvents.contains(where: { inTimeline[$0] == nil }) else { return }
            let head = try await rooms.head(pdu.roomID)
            let tips = try await store.events(head.record.forwardExtremities)
            let minDepth = tips.values.map(\.pdu.depth).min() ?? 0
            let events = try await remotes.getMissingEvents(
                at: origin, room: pdu.roomID, earliest: head.record.forwardExtremities, latest: [pdu.eventID],
                limit: limits.missingEventsLimit, minDepth: minDepth)
            let ordered = events.sorted { ($0["depth"]?.intValue ?? 0) < ($1["depth"]?.intValue ?? 0) }
            for json in ordered {
                _ = await receivePDU(json, from: origin, mode: .live(fillGaps: false), room: pdu.roomID)
            }
        } catch {
            logger.info("get_missing_events failed", metadata: ["origin": "\(origin)", "event_id": "\(pdu.eventID)",
                                                                "error": "\(error)"])
        }
    }

    /// For each prev event of `pdu` this server does not hold with state, the state after it as
    /// `origin` reports it (/state_ids, then the events it lacks), its events checked and stored
    /// as outliers. The event itself stays unknown (a gap that backfill can fill).
    func statesAtUnknownPrevEvents(of pdu: PDU, from origin: ServerName) async throws -> [EventID: [StateKey: EventID]] {
        let inTimeline = try await store.timelineStateGroups(pdu.prevEvents)
        var states: [EventID: [StateKey: EventID]] = [:]
        for prev in pdu.prevEvents where inTimeline[prev] == nil {
            states[prev] = try await stateAfterRemoteEvent(prev, room: pdu.roomID, version: pdu.roomVersion, from: origin)
        }
        return states
    }

    /// The state after an event this server does not have, from `origin`.
    func stateAfterRemoteEvent(_ eventID: EventID, room: RoomID, version: RoomVersion,
                               from origin: ServerName) async throws -> [StateKey: EventID] {
        let ids: (state: [EventID], authChain: [EventID])
        do {
            ids = try await remotes.stateIDs(at: origin, room: room, event: eventID)
        } catch {
            throw DroppedPDU("cannot get the state at \(eventID) from \(origin): \(error)")
        }
        let needed = Set(ids.state + ids.authChain + [eventID])
        let stored = try await store.events(Array(needed))
        let missing = needed.filter { stored[$0] == nil }
        if missing.count > limits.eventsFetchedOneByOne {
            let full = try await remotes.state(at: origin, room: room, event: eventID)
            try await storeFetchedEvents(full.authChain + full.state, ensuring: Array(missing), room: room, version: version,
                                         from: origin)
        } else if !missing.isEmpty {
            try await storeFetchedEvents([], ensuring: Array(missing), room: room, version: version, from: origin)
        }
        let events = try await store.events(ids.state + [eventID])
        var state: [StateKey: EventID] = [:]
        for id in ids.state {
            guard let event = events[id], event.rejectionReason == nil, let key = event.pdu.stateTuple else { continue }
            guard state[key] == nil else { throw DroppedPDU("\(origin) reported two events for \(key) at \(eventID)") }
            state[key] = id
        }
        if let prev = events[eventID], prev.rejectionReason == nil, let key = prev.pdu.stateTuple { state[key] = eventID }
        return state
    }

    /// Fetches history older than what this server holds (`/backfill` from the room's other
    /// servers, starting at its backward extremities) and stores it in place. Returns how many
    /// events were added.
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events
    public func backfill(_ roomID: RoomID, limit: Int) async -> Int {
        guard let extremities = try? await store.backwardExtremities(in: roomID), !extremities.isEmpty,
              var servers = try? await serversInRoom(roomID)
        else { return 0 }
        servers.remove(serverName)
        let ordered = servers.sorted { ($0 == roomID.server ? 0 : 1, $0.rawValue) < ($1 == roomID.server ? 0 : 1, $1.rawValue) }
        for server in ordered {
            let events: [JSONObject]
            do {
                events = try await remotes.backfill(at: server, room: roomID, from: Array(extremities.sorted().prefix(20)),
                                                    limit: min(max(limit, 1), limits.maxBackfill))
            } catch {
                logger.info("backfill failed", metadata: ["room": "\(roomID)", "server": "\(server)", "error": "\(error)"])
                continue
            }
            var added = 0
            for json in events.sorted(by: { ($0["depth"]?.intValue ?? 0) < ($1["depth"]?.intValue ?? 0) }) {
                let (_, outcome) = await receivePDU(json, from: server, mode: .backfill, room: roomID)
                switch outcome {
                case .accepted, .softFailed, .rejected: added += 1
                default: break
                }
            }
            if added > 0 { return added }
        }
        return 0
    }
}
