public import HearthCore
public import HearthStorage

/// The state before and after events, and state resolution over stored events.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#room-state-resolution
extension RoomFederation {
    /// The state before `pdu`: the state after its prev event, or the resolution of the states
    /// after its prev events. Prev events this server lacks must be in `fetchedStates`.
    func stateBefore(_ pdu: PDU, fetchedStates: [EventID: [StateKey: EventID]],
                     prevSnapshots: [EventID: StateGroupID?]? = nil) async throws
        -> (StateGroupID?, [StateKey: EventID])
    {
        if pdu.prevEvents.isEmpty { return (nil, [:]) }
        var groups: [StateGroupID] = []
        var fetched: [[StateKey: EventID]] = []
        let inTimeline = if let prevSnapshots { prevSnapshots } else { try await store.timelineStateGroups(pdu.prevEvents) }
        for prev in pdu.prevEvents {
            if let groupAfter = inTimeline[prev] {
                if let group = groupAfter, !groups.contains(group) { groups.append(group) }
            } else if let state = fetchedStates[prev] {
                fetched.append(state)
            } else {
                throw DroppedPDU("the state at prev event \(prev) is unknown")
            }
        }
        if fetched.isEmpty, groups.count == 1 { return (groups[0], try await store.state(groups[0])) }
        if fetched.isEmpty, groups.isEmpty { return (nil, [:]) }
        var sets: [[StateKey: EventID]] = []
        for group in groups { sets.append(try await store.state(group)) }
        sets += fetched
        let resolved = try await resolveStates(pdu.roomID, version: pdu.roomVersion, sets)
        let group = try await store.createStateGroup(pdu.roomID, state: resolved, base: groups.first)
        return (group, resolved)
    }

    /// The states after stored events (non-outliers), one per distinct snapshot.
    func statesAfter(_ eventIDs: [EventID]) async throws -> [[StateKey: EventID]] {
        var groups: [StateGroupID] = []
        for id in eventIDs {
            if let group = try await store.stateGroupAfter(id), !groups.contains(group) { groups.append(group) }
        }
        var states: [[StateKey: EventID]] = []
        for group in groups { states.append(try await store.state(group)) }
        return states
    }

    /// Resolves state sets over stored events. The events the algorithm may touch (the state
    /// sets' events and their auth chains) are loaded first; anything still missing is loaded
    /// on demand and the resolution retried.
    /// `pending` are events not stored yet (the event being persisted).
    func resolveStates(_ roomID: RoomID, version: RoomVersion, _ sets: [[StateKey: EventID]], pending: [PDU] = []) async throws
        -> [StateKey: EventID]
    {
        var distinct: [[StateKey: EventID]] = []
        for set in sets where !distinct.contains(set) { distinct.append(set) }
        if distinct.count <= 1 { return distinct.first ?? [:] }

        let everything = Set(distinct.flatMap(\.values))
        var wanted = everything
        wanted.formUnion(try await store.authChain(of: Array(everything)))
        var events = try await rooms.pdus(wanted)
        for pdu in pending {
            events[pdu.eventID] = pdu
            for (id, event) in try await rooms.pdus(try await store.authChain(of: pdu.authEvents).union(pdu.authEvents)) {
                events[id] = event
            }
        }
        for _ in 0..<8 {
            do {
                let loaded = events
                return try StateResolution.resolve(version: version, stateSets: distinct, fetch: { loaded[$0] })
            } catch {
                guard case .missingEvent(let id) = error.kind else { throw DroppedPDU("state resolution failed: \(error)") }
                var more: Set<EventID> = [id]
                more.formUnion(try await store.authChain(of: [id]))
                let found = try await rooms.pdus(more)
                guard found[id] != nil else { throw DroppedPDU("state resolution needs \(id), which this server lacks") }
                events.merge(found) { a, _ in a }
            }
        }
        throw DroppedPDU("state resolution kept needing events in \(roomID)")
    }
}
