import Crypto

/// The original state resolution algorithm (room version 1).
/// Spec: https://spec.matrix.org/v1.19/rooms/v1/#state-resolution
///
/// R starts as the union of the states without the conflicting events (a key is conflicting
/// when two states hold different events for it; a key only some states hold is not). Then the
/// conflicts are resolved type by type — `m.room.power_levels`, `m.room.join_rules`,
/// `m.room.member` — each conflicting key by sorting its events by ascending depth then
/// descending sha1(event_id), taking the first, and taking each next one while it passes the
/// authorization rules against R. Every other conflicting key gets the event with the highest
/// depth and lowest sha1(event_id) that passes the authorization rules against R (none if no
/// event passes).
///
/// Where the spec leaves the order of keys of one type open, keys are taken in `StateKey`
/// order (byte order of type, then state key), so the result does not depend on input order.
extension ResolutionContext {
    /// sha1(event_id), the v1 tie-break.
    static func sha1(of id: EventID) -> [UInt8] { Array(Insecure.SHA1.hash(data: Array(id.rawValue.utf8))) }

    func resolveV1(stateSets: [[StateKey: EventID]]) throws(StateResolutionError) -> [StateKey: EventID] {
        // R starts as the first state (a storage copy); the others are merged in with one
        // lookup per key in the common case of agreement.
        var resolved = stateSets[0]
        var conflicts: [StateKey: [EventID]] = [:]
        for set in stateSets.dropFirst() {
            for (key, id) in set {
                if let existing = resolved[key] {
                    if existing != id {
                        resolved[key] = nil
                        conflicts[key] = [existing, id]
                    }
                } else if var values = conflicts[key] {
                    if !values.contains(id) {
                        values.append(id)
                        conflicts[key] = values
                    }
                } else {
                    resolved[key] = id
                }
            }
        }
        if conflicts.isEmpty { return resolved }

        struct Candidate {
            let event: PDU
            let depth: Int64
            let sha1: [UInt8]
            /// Ascending depth, then descending sha1(event_id).
            static func ascending(_ a: Candidate, _ b: Candidate) -> Bool {
                if a.depth != b.depth { return a.depth < b.depth }
                return b.sha1.lexicographicallyPrecedes(a.sha1)
            }
        }
        func candidates(_ key: StateKey) throws(StateResolutionError) -> [Candidate] {
            var result: [Candidate] = []
            for id in conflicts[key] ?? [] {
                let event = try stateEvent(id, key: key)
                result.append(Candidate(event: event, depth: event.depth, sha1: Self.sha1(of: id)))
            }
            return result.sorted(by: Candidate.ascending)
        }
        func isAllowed(_ event: PDU) throws(StateResolutionError) -> Bool {
            let state = try authState(for: event, fallBackToAuthEvents: false) { resolved[$0] }
            return rules.isAllowed(event, state)
        }

        let sortedKeys = conflicts.keys.sorted()
        for type in ["m.room.power_levels", "m.room.join_rules", "m.room.member"] {
            for key in sortedKeys where key.type == type {
                let list = try candidates(key)
                resolved[key] = list[0].event.eventID
                for candidate in list.dropFirst() {
                    guard try isAllowed(candidate.event) else { break }
                    resolved[key] = candidate.event.eventID
                }
            }
        }
        for key in sortedKeys where !["m.room.power_levels", "m.room.join_rules", "m.room.member"].contains(key.type) {
            for candidate in try candidates(key).reversed() where try isAllowed(candidate.event) {
                resolved[key] = candidate.event.eventID
                break
            }
        }
        return resolved
    }
}
