/// State resolution v2 (room versions 2–11) and its room version 12 variant ("v2.1").
/// Spec: https://spec.matrix.org/v1.19/rooms/v2/#state-resolution and
/// https://spec.matrix.org/v1.19/rooms/v12/#state-resolution
///
/// Cost, for state maps of size s, a conflicted set of size c and a full conflicted set of
/// size f: splitting is O(s) dictionary operations; the auth difference walks the auth graph
/// once (each event at most once for the unconflicted part plus once per state set for the
/// conflicted part), or not at all when the caller supplies it; everything after is
/// O(f log f) plus the iterative auth checks, which look up a handful of keys per event.
extension ResolutionContext {
    /// The states split into the unconflicted state map and the conflicted state set.
    struct Split {
        var unconflicted: [StateKey: EventID] = [:]
        /// Every event in the conflicted state set, with its key.
        var conflicted: [EventID: StateKey] = [:]
        /// The conflicted keys, sorted.
        var conflictedKeys: [StateKey] = []
        /// For each state set, its events at the conflicted keys.
        var conflictedPerSet: [[EventID]] = []
    }

    /// A key is unconflicted when every state set has it with the same event; every other
    /// value of every state set is in the conflicted state set.
    ///
    /// One lookup per key and state set: the first map is copied whole (a storage copy, not
    /// re-insertion) and its conflicted keys removed; another map's keys are only scanned for
    /// keys the first lacks when its size shows it has some.
    func split(_ stateSets: [[StateKey: EventID]]) -> Split {
        var result = Split()
        let first = stateSets[0]
        var conflictedKeys: [StateKey] = []
        var found = Array(repeating: 0, count: stateSets.count)
        for (key, id) in first {
            var conflicted = false
            for index in 1..<stateSets.count {
                if let other = stateSets[index][key] {
                    found[index] += 1
                    if other != id { conflicted = true }
                } else {
                    conflicted = true
                }
            }
            if conflicted { conflictedKeys.append(key) }
        }
        for index in 1..<stateSets.count where found[index] < stateSets[index].count {
            for key in stateSets[index].keys where first[key] == nil {
                conflictedKeys.append(key)
            }
        }
        // Keys missing from the first map may appear in several others: list each once.
        var seen = Set<StateKey>()
        conflictedKeys = conflictedKeys.filter { seen.insert($0).inserted }.sorted()
        result.conflictedKeys = conflictedKeys

        result.unconflicted = first
        result.conflictedPerSet = Array(repeating: [], count: stateSets.count)
        for key in conflictedKeys {
            result.unconflicted[key] = nil
            for (index, set) in stateSets.enumerated() {
                guard let id = set[key] else { continue }
                result.conflictedPerSet[index].append(id)
                result.conflicted[id] = key
            }
        }
        return result
    }

    func resolveV2(stateSets: [[StateKey: EventID]], authDifference suppliedAuthDifference: Set<EventID>?,
                   emptyStart: Bool, conflictedSubgraph: Bool) throws(StateResolutionError) -> [StateKey: EventID] {
        let split = split(stateSets)
        if split.conflicted.isEmpty { return split.unconflicted }
        // Every conflicted value must be a state event with its key (checked pair by pair, in
        // key order: a bogus map may list one event under several keys).
        for key in split.conflictedKeys {
            for set in stateSets {
                if let id = set[key] { _ = try stateEvent(id, key: key) }
            }
        }

        // The full conflicted set.
        let conflicted = Set(split.conflicted.keys)
        var full = conflicted
        if let suppliedAuthDifference {
            full.formUnion(suppliedAuthDifference)
        } else {
            full.formUnion(try self.authDifference(unconflicted: split.unconflicted,
                                                   conflictedPerSet: split.conflictedPerSet))
        }
        if conflictedSubgraph {
            full.formUnion(try self.conflictedSubgraph(conflicted))
        }

        // 1. The power events and the parts of their auth chains in the full conflicted set,
        //    in reverse topological power ordering.
        var powerEvents: [EventID] = []
        for id in full where StateResolution.isPowerEvent(try event(id)) { powerEvents.append(id) }
        let powerSet = try closure(of: powerEvents, within: full)
        let powerOrdered = try reverseTopologicalPowerOrdering(powerSet)

        // 2. Iterative auth checks from the unconflicted state map (v2) or an empty map (v2.1).
        var state = PartialState(base: emptyStart ? [:] : split.unconflicted)
        try iterativeAuthChecks(powerOrdered, state: &state)

        // 3. The other events, in mainline ordering based on the partially resolved power levels.
        let others = full.subtracting(powerSet)
        let othersOrdered = try mainlineOrdering(others, powerLevels: state[.powerLevels])

        // 4. Iterative auth checks on those.
        try iterativeAuthChecks(othersOrdered, state: &state)

        // 5. The unconflicted state map wins.
        var result = split.unconflicted
        for (key, id) in state.resolved where split.unconflicted[key] == nil {
            result[key] = id
        }
        return result
    }

    /// Room state being built: a base map (never copied) under the events applied so far.
    struct PartialState {
        let base: [StateKey: EventID]
        var resolved: [StateKey: EventID] = [:]
        subscript(key: StateKey) -> EventID? { resolved[key] ?? base[key] }
    }

    // MARK: - Auth difference

    /// ∪Cᵢ − ∩Cᵢ, where Cᵢ is the union of the auth chains of the events in state set i.
    ///
    /// The unconflicted events are in every state set, so their auth chains (U) are in every
    /// Cᵢ and never in the difference; and U is closed under auth events, so the walk from each
    /// state set's conflicted events stops where it reaches U. Cᵢ = U ∪ Aᵢ, and an event is in
    /// the difference exactly when it is in some Aᵢ but not in all.
    func authDifference(unconflicted: [StateKey: EventID],
                        conflictedPerSet: [[EventID]]) throws(StateResolutionError) -> Set<EventID> {
        var common = Set<EventID>()
        var stack: [EventID] = []
        for id in unconflicted.values {
            for authID in try event(id).authEvents where common.insert(authID).inserted { stack.append(authID) }
        }
        while let id = stack.popLast() {
            for authID in try event(id).authEvents where common.insert(authID).inserted { stack.append(authID) }
        }

        var counts: [EventID: Int] = [:]
        for roots in conflictedPerSet {
            var seen = Set<EventID>()
            for id in roots {
                for authID in try event(id).authEvents where !common.contains(authID) && seen.insert(authID).inserted {
                    stack.append(authID)
                }
            }
            while let id = stack.popLast() {
                for authID in try event(id).authEvents where !common.contains(authID) && seen.insert(authID).inserted {
                    stack.append(authID)
                }
            }
            for id in seen { counts[id, default: 0] += 1 }
        }
        var difference = Set<EventID>()
        for (id, count) in counts where count < conflictedPerSet.count { difference.insert(id) }
        return difference
    }

    // MARK: - Conflicted state subgraph (v2.1)

    /// Every event on an `auth_events` path from one conflicted event to another (endpoints
    /// included): the events reachable from a conflicted event that can reach a conflicted event.
    /// One depth-first walk over the auth chains of the conflicted events, each event once.
    func conflictedSubgraph(_ conflicted: Set<EventID>) throws(StateResolutionError) -> Set<EventID> {
        var reaches: [EventID: Bool] = [:]
        var onPath = Set<EventID>()
        struct Frame {
            let id: EventID
            let authEvents: [EventID]
            var next = 0
            var reachesConflicted: Bool
        }
        var subgraph = Set<EventID>()
        for start in conflicted where reaches[start] == nil {
            var stack = [Frame(id: start, authEvents: try event(start).authEvents, reachesConflicted: true)]
            onPath.insert(start)
            while !stack.isEmpty {
                let top = stack.count - 1
                if stack[top].next < stack[top].authEvents.count {
                    let child = stack[top].authEvents[stack[top].next]
                    stack[top].next += 1
                    if let known = reaches[child] {
                        if known { stack[top].reachesConflicted = true }
                    } else if !onPath.contains(child) {  // a cycle (impossible with hashed IDs) is cut
                        onPath.insert(child)
                        stack.append(Frame(id: child, authEvents: try event(child).authEvents,
                                           reachesConflicted: conflicted.contains(child)))
                    }
                } else {
                    let frame = stack.removeLast()
                    onPath.remove(frame.id)
                    reaches[frame.id] = frame.reachesConflicted
                    if frame.reachesConflicted {
                        subgraph.insert(frame.id)
                        if !stack.isEmpty { stack[stack.count - 1].reachesConflicted = true }
                    }
                }
            }
        }
        return subgraph
    }

    // MARK: - Ordering

    /// `roots` and every event reachable from them along `auth_events` edges that stay within
    /// `set`.
    ///
    /// The spec phrases step 1 as "the events in the auth chain of P which also belong to the
    /// full conflicted set"; this walks the auth chain through full-conflicted-set events only,
    /// as deployed servers do. The two agree whenever the full conflicted set contains every
    /// event on auth paths between its members, which the v2.1 conflicted state subgraph
    /// guarantees; in v2 they can differ only when an event common to every auth chain sits
    /// between two conflicted events.
    func closure(of roots: [EventID], within set: Set<EventID>) throws(StateResolutionError) -> Set<EventID> {
        var result = Set(roots)
        var stack = roots
        while let id = stack.popLast() {
            for authID in try event(id).authEvents where set.contains(authID) && result.insert(authID).inserted {
                stack.append(authID)
            }
        }
        return result
    }

    /// The lexicographically smallest topological ordering of `set` along `auth_events` edges
    /// (auth events first), choosing among ready events by sender power level (higher first,
    /// from each event's own auth events), then `origin_server_ts`, then event ID: Kahn's
    /// algorithm with a heap, O(n log n).
    func reverseTopologicalPowerOrdering(_ set: Set<EventID>) throws(StateResolutionError) -> [PDU] {
        struct Key: Comparable {
            let power: PowerLevel
            let timestamp: Int64
            let id: EventID
            static func < (a: Key, b: Key) -> Bool {
                if a.power != b.power { return a.power > b.power }
                if a.timestamp != b.timestamp { return a.timestamp < b.timestamp }
                return a.id < b.id
            }
        }
        var pending: [EventID: Int] = [:]
        var dependents: [EventID: [EventID]] = [:]
        var keys: [EventID: Key] = [:]
        var ready = Heap<Key>()
        for id in set {
            let event = try event(id)
            let key = Key(power: try senderPower(of: event), timestamp: event.originServerTS, id: id)
            keys[id] = key
            var parents = Set<EventID>()
            for authID in event.authEvents where set.contains(authID) && parents.insert(authID).inserted {
                dependents[authID, default: []].append(id)
            }
            if parents.isEmpty { ready.push(key) } else { pending[id] = parents.count }
        }
        var ordered: [PDU] = []
        ordered.reserveCapacity(set.count)
        while let next = ready.pop() {
            ordered.append(try event(next.id))
            for dependent in dependents[next.id] ?? [] {
                let left = pending[dependent]! - 1
                if left == 0 {
                    pending[dependent] = nil
                    ready.push(keys[dependent]!)
                } else {
                    pending[dependent] = left
                }
            }
        }
        if !pending.isEmpty {
            // Only a cycle in auth_events (possible with forged v1/v2 event IDs) leaves events
            // behind; place them deterministically at the end.
            for key in pending.keys.map({ keys[$0]! }).sorted() { ordered.append(try event(key.id)) }
        }
        return ordered
    }

    /// The events in mainline ordering based on the power levels event `powerLevels`: events
    /// whose power-level ancestry meets the mainline earlier (or never) come first, then by
    /// `origin_server_ts`, then event ID. Each power levels event's mainline position is
    /// computed once, so the whole ordering is O(n log n) plus one walk per distinct chain.
    func mainlineOrdering(_ set: Set<EventID>, powerLevels: EventID?) throws(StateResolutionError) -> [PDU] {
        var mainline: [EventID: Int] = [:]
        var current = powerLevels
        while let id = current, mainline[id] == nil {
            mainline[id] = mainline.count
            current = try powerLevelsAuthEventID(of: try event(id))
        }

        /// Position of a power levels event met while walking up from an event: its index in the
        /// mainline, or that of the first mainline event above it; Int.max if none.
        var positions: [EventID: Int] = [:]
        func position(from start: EventID?) throws(StateResolutionError) -> Int {
            var path: [EventID] = []
            var current = start
            var found = Int.max
            while let id = current {
                if let index = mainline[id] { found = index; break }
                if let known = positions[id] { found = known; break }
                if path.contains(id) { break }  // cycle guard (forged v1/v2 IDs)
                path.append(id)
                current = try powerLevelsAuthEventID(of: try event(id))
            }
            for id in path { positions[id] = found }
            return found
        }

        struct Key: Comparable {
            let position: Int
            let timestamp: Int64
            let id: EventID
            static func < (a: Key, b: Key) -> Bool {
                if a.position != b.position { return a.position > b.position }
                if a.timestamp != b.timestamp { return a.timestamp < b.timestamp }
                return a.id < b.id
            }
        }
        var keyed: [Key] = []
        keyed.reserveCapacity(set.count)
        for id in set {
            let event = try event(id)
            keyed.append(Key(position: try position(from: try powerLevelsAuthEventID(of: event)),
                             timestamp: event.originServerTS, id: id))
        }
        keyed.sort()
        var ordered: [PDU] = []
        ordered.reserveCapacity(keyed.count)
        for key in keyed { ordered.append(try event(key.id)) }
        return ordered
    }

    // MARK: - Iterative auth checks

    /// Applies each state event that the authorization rules allow against the state built so
    /// far (keys missing from it taken from the event's own auth events).
    func iterativeAuthChecks(_ events: [PDU], state: inout PartialState) throws(StateResolutionError) {
        for event in events {
            guard let key = event.stateTuple else { continue }
            let authState = try authState(for: event) { state[$0] }
            if rules.isAllowed(event, authState) { state.resolved[key] = event.eventID }
        }
    }
}

/// A binary min-heap.
struct Heap<Element: Comparable> {
    private var storage: [Element] = []

    var isEmpty: Bool { storage.isEmpty }
    var count: Int { storage.count }

    mutating func push(_ element: Element) {
        storage.append(element)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard storage[child] < storage[parent] else { break }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard !storage.isEmpty else { return nil }
        storage.swapAt(0, storage.count - 1)
        let top = storage.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < storage.count, storage[left] < storage[smallest] { smallest = left }
            if right < storage.count, storage[right] < storage[smallest] { smallest = right }
            if smallest == parent { break }
            storage.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
