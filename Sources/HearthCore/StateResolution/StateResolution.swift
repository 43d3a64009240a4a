/// Room state resolution: merging the states at the tips of a fork of the room DAG into one.
///
/// - Room version 1: the original algorithm, https://spec.matrix.org/v1.19/rooms/v1/#state-resolution
/// - Room versions 2–11: state resolution v2, https://spec.matrix.org/v1.19/rooms/v2/#state-resolution
/// - Room version 12: v2 with an empty starting map for the iterative auth checks and the
///   conflicted state subgraph in the full conflicted set, https://spec.matrix.org/v1.19/rooms/v12/#state-resolution
///
/// The core does no I/O: every event the algorithm touches (the state sets' events and their
/// auth chains) comes from `fetch`, which callers preload. Within one call every event is
/// fetched at most once and every auth chain is walked at most once.
public enum StateResolution {
    /// Resolves the state sets at the tips of a fork into one state map.
    ///
    /// `fetch` returns any event in the state sets or in the auth chains of the events
    /// involved. A missing event is reported as `StateResolutionError`, never a crash.
    public static func resolve(
        version: RoomVersion, stateSets: [[StateKey: EventID]], fetch: (EventID) -> PDU?
    ) throws(StateResolutionError) -> [StateKey: EventID] {
        try resolve(version: version, stateSets: stateSets, authDifference: nil, rules: .standard(for: version),
                    fetch: fetch)
    }

    /// Resolves like `resolve(version:stateSets:fetch:)`, with the *auth difference* supplied by
    /// the caller: every event that is in the auth chain of some state set but not in the auth
    /// chain of every state set (∪Cᵢ − ∩Cᵢ, where Cᵢ is the union of the auth chains of the
    /// events in state set i).
    ///
    /// A store that indexes auth chains can compute this without walking the whole auth graph;
    /// the resolution then only fetches the conflicted events, their auth events and the state
    /// events the authorization rules consult, so its cost is independent of the room's size
    /// (beyond splitting the state maps). The auth difference is ignored by room version 1,
    /// whose algorithm does not use it.
    public static func resolve(
        version: RoomVersion, stateSets: [[StateKey: EventID]], authDifference: Set<EventID>,
        fetch: (EventID) -> PDU?
    ) throws(StateResolutionError) -> [StateKey: EventID] {
        try resolve(version: version, stateSets: stateSets, authDifference: authDifference,
                    rules: .standard(for: version), fetch: fetch)
    }

    /// The algorithm with the authorization rules injected (tests and the public entry points).
    static func resolve(
        version: RoomVersion, stateSets: [[StateKey: EventID]], authDifference: Set<EventID>?,
        rules: ResolutionRules, fetch: (EventID) -> PDU?
    ) throws(StateResolutionError) -> [StateKey: EventID] {
        switch stateSets.count {
        case 0: return [:]
        case 1: return stateSets[0]
        default: break
        }
        let outcome = withoutActuallyEscaping(fetch) { fetch in
            Result { () throws(StateResolutionError) in
                let context = ResolutionContext(version: version, rules: rules, fetch: fetch)
                switch version.stateResolution {
                case .v1:
                    return try context.resolveV1(stateSets: stateSets)
                case .v2:
                    return try context.resolveV2(stateSets: stateSets, authDifference: authDifference,
                                                 emptyStart: false, conflictedSubgraph: false)
                case .v2_1:
                    return try context.resolveV2(stateSets: stateSets, authDifference: authDifference,
                                                 emptyStart: true, conflictedSubgraph: true)
                }
            }
        }
        return try outcome.get()
    }

    /// A *power event*: `m.room.power_levels`, `m.room.join_rules`, or a membership `leave` or
    /// `ban` whose sender is not its target (an event that may take an ability away).
    public static func isPowerEvent(_ event: PDU) -> Bool {
        guard let stateKey = event.stateKey else { return false }
        switch event.type {
        case "m.room.power_levels", "m.room.join_rules":
            return true
        case "m.room.member":
            guard let membership = event.content["membership"]?.stringValue,
                  membership == "leave" || membership == "ban" else { return false }
            return !event.sender.rawValue.hasSameUTF8(as: stateKey)
        default:
            return false
        }
    }
}

/// Why a set of states could not be resolved. These are caller errors (an event that was not
/// preloaded, a state map that does not match its events), not properties of the room.
public struct StateResolutionError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// `fetch` returned nothing (or a different event) for an event the algorithm needs.
        case missingEvent(EventID)
        /// A state map has this event under a key that is not the event's `(type, state_key)`.
        case stateKeyMismatch(StateKey, EventID)
    }

    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    public static func missingEvent(_ id: EventID) -> StateResolutionError { .init(.missingEvent(id)) }

    public var description: String {
        switch kind {
        case .missingEvent(let id): "state resolution needs event \(id), which was not supplied"
        case .stateKeyMismatch(let key, let id): "state map has \(id) under \(key), which is not its key"
        }
    }
}

/// What state resolution needs from the authorization rules, injectable for tests.
struct ResolutionRules {
    /// The `(type, state_key)` pairs the authorization rules consult for an event.
    var authEventKeys: (PDU) -> [StateKey]
    /// Whether the event passes the authorization rules against `state`, which holds the events
    /// for (at most) its auth event keys and always the room's `m.room.create` event.
    var isAllowed: (_ event: PDU, _ state: [StateKey: PDU]) -> Bool
    /// The sender's power level according to the given power levels and create events (those in
    /// the event's own auth events); either may be absent.
    var senderPower: (_ event: PDU, _ powerLevels: PDU?, _ create: PDU?) -> PowerLevel
}

/// Per-call state: the fetch function and the memoized events.
final class ResolutionContext {
    let version: RoomVersion
    let rules: ResolutionRules
    private let fetchEvent: (EventID) -> PDU?
    private var events: [EventID: PDU] = [:]
    private var powerLevelsAuthEvent: [EventID: EventID?] = [:]

    init(version: RoomVersion, rules: ResolutionRules, fetch: @escaping (EventID) -> PDU?) {
        self.version = version
        self.rules = rules
        self.fetchEvent = fetch
    }

    /// The event with this ID, fetched once per call.
    func event(_ id: EventID) throws(StateResolutionError) -> PDU {
        if let event = events[id] { return event }
        guard let event = fetchEvent(id), event.eventID == id else { throw .missingEvent(id) }
        events[id] = event
        return event
    }

    /// The event under `key` in a state map, checked to be a state event with that key.
    func stateEvent(_ id: EventID, key: StateKey) throws(StateResolutionError) -> PDU {
        let event = try event(id)
        guard event.stateTuple == key else { throw StateResolutionError(.stateKeyMismatch(key, id)) }
        return event
    }

    /// The auth event of `event` with this key, if it cites one.
    func authEvent(of event: PDU, key: StateKey) throws(StateResolutionError) -> PDU? {
        for id in event.authEvents {
            let candidate = try self.event(id)
            if candidate.stateTuple == key { return candidate }
        }
        return nil
    }

    /// The `m.room.power_levels` event among `event`'s auth events (memoized: mainline walks
    /// revisit the same power level events).
    func powerLevelsAuthEventID(of event: PDU) throws(StateResolutionError) -> EventID? {
        if let known = powerLevelsAuthEvent[event.eventID] { return known }
        let found = try authEvent(of: event, key: .powerLevels)?.eventID
        powerLevelsAuthEvent[event.eventID] = .some(found)
        return found
    }

    /// The room's create event as `event` sees it: among its auth events, or (room version 12,
    /// where the create event is never an auth event) the event the room ID names.
    func createEvent(for event: PDU) throws(StateResolutionError) -> PDU? {
        if event.type == "m.room.create", event.stateKey == "" { return event }
        if let create = try authEvent(of: event, key: .create) { return create }
        if version.roomIDFormat == .createEventHash, let id = EventID("$" + event.roomID.rawValue.dropFirst()) {
            return try self.event(id)
        }
        return nil
    }

    /// The sender's power level from the event's own auth events.
    func senderPower(of event: PDU) throws(StateResolutionError) -> PowerLevel {
        let powerLevels = try powerLevelsAuthEventID(of: event).map { (id) throws(StateResolutionError) in
            try self.event(id)
        }
        return rules.senderPower(event, powerLevels, try createEvent(for: event))
    }

    /// The state to authorize `event` against during iterative auth checks: for each key the
    /// authorization rules consult, the event in the state being built (`lookup`), or failing
    /// that the event's own auth event with that key (unless `fallBackToAuthEvents` is false,
    /// as in the v1 algorithm, which authorizes against the state alone); plus the create event.
    func authState(for event: PDU, fallBackToAuthEvents: Bool = true,
                   lookup: (StateKey) -> EventID?) throws(StateResolutionError) -> [StateKey: PDU] {
        var state: [StateKey: PDU] = [:]
        var keys = rules.authEventKeys(event)
        keys.append(.create)
        var citedByKey: [StateKey: PDU]? = nil
        for key in keys where state[key] == nil {
            if let id = lookup(key) {
                state[key] = try self.event(id)
                continue
            }
            guard fallBackToAuthEvents else { continue }
            if citedByKey == nil {
                var cited: [StateKey: PDU] = [:]
                for id in event.authEvents {
                    let authEvent = try self.event(id)
                    if let authKey = authEvent.stateTuple { cited[authKey] = authEvent }
                }
                citedByKey = cited
            }
            if let cited = citedByKey?[key] { state[key] = cited }
        }
        if state[.create] == nil, let create = try createEvent(for: event) { state[.create] = create }
        return state
    }
}
