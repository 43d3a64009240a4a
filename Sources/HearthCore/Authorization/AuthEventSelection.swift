/// Which state an event's `auth_events` name, and the rules about that list.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#auth-events-selection and rule 3
/// ("Considering the event's `auth_events`", rule 2 before v12) of
/// https://spec.matrix.org/v1.19/rooms/v12/#authorization-rules
extension EventAuthorization {
    /// The state keys whose current events a new event's `auth_events` must reference (those
    /// present in the room state; "if any" applies to each):
    ///
    /// - "Depending on the room version, the `m.room.create` event" (v1–v11; never in v12).
    /// - "The current `m.room.power_levels` event, if any."
    /// - "The sender's current `m.room.member` event, if any."
    /// - If type is `m.room.member`: "The target's current `m.room.member` event"; "If
    ///   `membership` is `join`, `invite` or `knock`, the current `m.room.join_rules` event";
    ///   "If membership is `invite` and `content` contains a `third_party_invite` property, the
    ///   current `m.room.third_party_invite` event with `state_key` matching
    ///   `content.third_party_invite.signed.token`"; "If `membership` is `join`,
    ///   `content.join_authorised_via_users_server` is present, and the room version supports
    ///   restricted rooms, then the `m.room.member` event with `state_key` matching
    ///   `content.join_authorised_via_users_server`."
    ///
    /// "The `auth_events` for the `m.room.create` event in a room is empty." Keys are listed
    /// once, in the order above.
    public static func authEventKeys(type: String, stateKey: String?, sender: UserID, content: JSONObject,
                                     version: RoomVersion) -> [StateKey] {
        if type == "m.room.create" { return [] }
        var keys: [StateKey] = []
        func add(_ key: StateKey) {
            if !keys.contains(key) { keys.append(key) }
        }
        if version.auth.createEventIsAuthEvent { add(.create) }
        add(.powerLevels)
        add(.member(sender))
        if type == "m.room.member", let target = stateKey {
            add(StateKey("m.room.member", target))
            let membership = content["membership"]?.stringValue
            if membership == "join" || membership == "invite" || membership == "knock" {
                add(.joinRules)
            }
            if membership == "invite", let invite = content["third_party_invite"],
               let token = invite["signed"]?["token"]?.stringValue {
                add(StateKey("m.room.third_party_invite", token))
            }
            if membership == "join", version.auth.allowsRestrictedJoins,
               let via = content["join_authorised_via_users_server"]?.stringValue {
                add(StateKey("m.room.member", via))
            }
        }
        return keys
    }

    /// Applies the rules that look at the `auth_events` list itself and returns the state map
    /// those events form, for `authorize(_:state:)`.
    ///
    /// - "If there are duplicate entries for a given `type` and `state_key` pair, reject."
    /// - "If there are entries whose `type` and `state_key` don't match those specified by the
    ///   auth events selection algorithm described in the server specification, reject." Every
    ///   entry must be a state event. In v12 "`m.room.create` MUST NOT be selected".
    /// - "If there are entries which were themselves rejected under the checks performed on
    ///   receipt of a PDU, reject." Hearth cannot tell rejected events apart, so the caller passes
    ///   only accepted auth events; any ID in `event.authEvents` without an event in `authEvents`
    ///   is treated as rejected (or unavailable) and refuses the event.
    /// - v1–v11: "If there is no `m.room.create` event among the entries, reject."
    /// - "If any event in `auth_events` has a `room_id` which does not match that of the event
    ///   being authorised, reject."
    ///
    /// Events in `authEvents` that `event` does not reference are ignored. For an
    /// `m.room.create` event rule 1 decides alone, so the result is empty and nothing is checked.
    /// In v12 the returned map lacks the create event: add the accepted create event named by
    /// the room ID before calling `authorize` (or call `authorize(_:authEvents:roomCreate:)`).
    public static func checkAuthEventsList(_ event: PDU, authEvents: [PDU]) throws(AuthError) -> [StateKey: PDU] {
        if event.type == "m.room.create" { return [:] }
        let version = event.roomVersion
        let numbers = AuthRuleNumbers(version)

        var available: [EventID: PDU] = [:]
        for candidate in authEvents { available[candidate.eventID] = candidate }
        var referenced: [PDU] = []
        var missing: [EventID] = []
        for id in event.authEvents {
            if let found = available[id] { referenced.append(found) } else { missing.append(id) }
        }

        // Duplicates first (the spec's order), then membership of the selection.
        var state: [StateKey: PDU] = [:]
        for authEvent in referenced {
            guard let key = authEvent.stateTuple else { continue }
            if state[key] != nil {
                throw numbers.reject(numbers.top(.authEvents, 1), "auth_events lists \(key) more than once")
            }
            state[key] = authEvent
        }
        let expected = Set(authEventKeys(type: event.type, stateKey: event.stateKey, sender: event.sender,
                                         content: event.content, version: version))
        for authEvent in referenced {
            guard let key = authEvent.stateTuple else {
                throw numbers.reject(numbers.top(.authEvents, 2), "auth event \(authEvent.eventID) is not a state event")
            }
            if key == .create, !version.auth.createEventIsAuthEvent {
                throw numbers.reject(numbers.top(.authEvents, 2), "auth_events must not contain the m.room.create event")
            }
            guard expected.contains(key) else {
                throw numbers.reject(numbers.top(.authEvents, 2), "auth event \(key) is not one the event needs")
            }
        }
        if let id = missing.first {
            throw numbers.reject(numbers.top(.authEvents, 3), "auth event \(id) is rejected or unknown")
        }
        if version.auth.createEventIsAuthEvent, state[.create] == nil {
            throw numbers.reject(numbers.top(.authEvents, 4), "auth_events has no m.room.create event")
        }
        for authEvent in referenced where authEvent.roomID != event.roomID {
            throw numbers.reject(numbers.top(.authEvents, 5),
                                 "auth event \(authEvent.eventID) is in room \(authEvent.roomID), not \(event.roomID)")
        }
        return state
    }
}
