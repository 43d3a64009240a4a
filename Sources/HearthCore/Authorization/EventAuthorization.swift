/// The authorization rules: whether an event is allowed given a set of room state.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#authorisation-rules and each room
/// version's "Authorization rules" section (https://spec.matrix.org/v1.19/rooms/v12/#authorization-rules
/// for the current list; the rule numbers in `AuthError.rule` follow the event's own version).
///
/// Every difference between versions is read from `RoomVersion.auth` (and, for the v12 room ID
/// rules, `RoomVersion.roomIDFormat`).
///
/// What the caller does itself (this module has no keys and no database):
/// - the signature checks: "Events must be signed by the server denoted by the `sender`
///   property" (and by the event ID's server in v1–v2), and, for membership events carrying
///   `join_authorised_via_users_server` (v8+), rule "If the event is not validly signed by the
///   homeserver of the user ID denoted by the key, reject": see `joinAuthorisingServer(of:)`;
/// - knowing which events were rejected: pass only accepted events as auth events and state,
///   and in v12 only an accepted `m.room.create` event.
public enum EventAuthorization {
    /// Applies the authorization rules to `event` against `state`: the state built from its
    /// auth events (see `checkAuthEventsList`), or the room state before it, or the current
    /// state (for soft failure).
    ///
    /// `state` must hold the room's `m.room.create` event under `(m.room.create, "")` in every
    /// room version, v12 included, where the create event is not among the auth events (the
    /// room ID names it). Returns normally if the event is allowed.
    public static func authorize(_ event: PDU, state: [StateKey: PDU]) throws(AuthError) {
        let numbers = AuthRuleNumbers(event.roomVersion)

        // Rule 1: "If type is `m.room.create`".
        if event.type == "m.room.create" {
            try checkCreate(event, numbers: numbers)
            return
        }

        guard let create = state[.create] else {
            if numbers.version.roomIDFormat == .createEventHash {
                throw numbers.reject(numbers.top(.roomID), "no accepted m.room.create event for the room is known")
            }
            throw numbers.reject(numbers.top(.authEvents, 4), "there is no m.room.create event in the state")
        }

        // v12 rule 2: "If the event's `room_id` is not an event ID for an accepted (not rejected)
        // `m.room.create` event, with the sigil `!` instead of `$`, reject."
        if numbers.version.roomIDFormat == .createEventHash, event.roomID != RoomID(createEventID: create.eventID) {
            throw numbers.reject(numbers.top(.roomID), "room ID \(event.roomID) is not the create event \(create.eventID)")
        }

        // "If the `content` of the `m.room.create` event in the room state has the property
        // `m.federate` set to `false`, and the `sender` domain of the event does not match the
        // `sender` domain of the create event, reject."
        if create.content["m.federate"] == .bool(false), event.sender.server != create.sender.server {
            throw numbers.reject(numbers.top(.federation),
                                 "the room does not federate and \(event.sender.server) is not the creating server")
        }

        // v1–v5 rule 4: "If type is `m.room.aliases`: If event has no `state_key`, reject. If
        // sender's domain doesn't match `state_key`, reject. Otherwise, allow."
        if numbers.version.auth.specialCaseAliases, event.type == "m.room.aliases" {
            guard let stateKey = event.stateKey else {
                throw numbers.reject(numbers.top(.aliases, 1), "m.room.aliases without a state_key")
            }
            guard stateKey.hasSameUTF8(as: event.sender.server.rawValue) else {
                throw numbers.reject(numbers.top(.aliases, 2), "m.room.aliases state_key is not the sender's domain")
            }
            return
        }

        let context = AuthContext(event: event, state: state, create: create, numbers: numbers)

        // "If type is `m.room.member`": the membership rules decide.
        if event.type == "m.room.member" {
            try MembershipRules.check(context)
            return
        }

        // "If the `sender`'s current membership state is not `join`, reject."
        guard context.membership(of: event.sender.rawValue) == "join" else {
            throw numbers.reject(numbers.top(.senderJoined), "\(event.sender) is not joined to the room")
        }

        let senderLevel = context.powerLevels.userLevel(event.sender)

        // "If type is `m.room.third_party_invite`: Allow if and only if `sender`'s current power
        // level is greater than or equal to the *invite level*."
        if event.type == "m.room.third_party_invite" {
            guard senderLevel >= .finite(context.powerLevels.invite) else {
                throw numbers.reject(numbers.top(.thirdPartyInvite, 1),
                                     "sender level \(senderLevel) is below the invite level \(context.powerLevels.invite)")
            }
            return
        }

        // "If the event type's *required power level* is greater than the `sender`'s power
        // level, reject."
        let required = context.powerLevels.requiredLevel(forEvent: event.type, isState: event.isState)
        if required > senderLevel {
            throw numbers.reject(numbers.top(.requiredLevel),
                                 "sending \(event.type) needs level \(required), sender has \(senderLevel)")
        }

        // "If the event has a `state_key` that starts with an `@` and does not match the
        // `sender`, reject."
        if let stateKey = event.stateKey, stateKey.utf8.first == UInt8(ascii: "@"),
           !stateKey.hasSameUTF8(as: event.sender.rawValue) {
            throw numbers.reject(numbers.top(.userStateKey), "state_key \(stateKey) names a user other than the sender")
        }

        // "If type is `m.room.power_levels`".
        if event.type == "m.room.power_levels" {
            try PowerLevelRules.check(context, senderLevel: senderLevel)
            return
        }

        // v1–v2 rule 11: "If type is `m.room.redaction`: If the `sender`'s power level is greater
        // than or equal to the *redact level*, allow. If the domain of the `event_id` of the
        // event being redacted is the same as the domain of the `event_id` of the
        // `m.room.redaction`, allow. Otherwise, reject."
        if numbers.version.auth.redactionsInAuthRules, event.type == "m.room.redaction" {
            if senderLevel >= .finite(context.powerLevels.redact) { return }
            if let redactedServer = event.redacts?.server, let ownServer = event.eventID.server,
               redactedServer == ownServer {
                return
            }
            throw numbers.reject(numbers.top(.redaction, 3),
                                 "sender is below the redact level and the redacted event is from another server")
        }

        // "Otherwise, allow."
    }

    /// Checks `event` against its auth events, as on receipt of a PDU ("Passes authorisation
    /// rules based on the event's auth events"): `checkAuthEventsList`, then `authorize` against
    /// the state they form. In v12, `roomCreate` is the accepted create event the room ID names
    /// (the caller looks it up); in earlier versions it is taken from the auth events and
    /// `roomCreate` is ignored.
    public static func authorize(_ event: PDU, authEvents: [PDU], roomCreate: PDU?) throws(AuthError) {
        var state = try checkAuthEventsList(event, authEvents: authEvents)
        if !event.roomVersion.auth.createEventIsAuthEvent, event.type != "m.room.create" {
            state[.create] = roomCreate
        }
        try authorize(event, state: state)
    }

    /// The server whose signature a membership event needs because of
    /// `join_authorised_via_users_server` (room versions with restricted joins, v8+): "If the
    /// event is not validly signed by the homeserver of the user ID denoted by the key, reject."
    /// Nil when the rule does not apply. `authorize` rejects a key that is not a user ID; the
    /// signature itself is the caller's to verify.
    public static func joinAuthorisingServer(of event: PDU) -> ServerName? {
        guard event.roomVersion.auth.allowsRestrictedJoins, event.type == "m.room.member" else { return nil }
        return event.content["join_authorised_via_users_server"]?.stringValue.flatMap(UserID.init)?.server
    }

    // MARK: - Rule 1

    /// "If type is `m.room.create`".
    private static func checkCreate(_ event: PDU, numbers: AuthRuleNumbers) throws(AuthError) {
        let version = numbers.version
        // "If it has any `prev_events`, reject."
        guard event.prevEvents.isEmpty else {
            throw numbers.reject(numbers.top(.create, 1), "the create event has prev_events")
        }
        if version.roomIDFormat == .createEventHash {
            // v12: "If the event has a `room_id`, reject."
            guard event.json["room_id"] == nil else {
                throw numbers.reject(numbers.top(.create, 2), "the create event has a room_id")
            }
        } else {
            // "If the domain of the `room_id` does not match the domain of the `sender`, reject."
            guard let roomServer = event.roomID.server, roomServer == event.sender.server else {
                throw numbers.reject(numbers.top(.create, 2), "the room ID's domain is not the sender's")
            }
        }
        // "If `content.room_version` is present and is not a recognised version, reject."
        if let roomVersion = event.content["room_version"] {
            guard let identifier = roomVersion.stringValue, RoomVersion(identifier) != nil else {
                throw numbers.reject(numbers.top(.create, 3), "unrecognised room_version \(roomVersion)")
            }
        }
        // v1–v10: "If `content` has no `creator` property, reject."
        if version.auth.createEventHasCreator, event.content["creator"] == nil {
            throw numbers.reject(numbers.top(.create, 4), "the create event has no creator")
        }
        // v12: "If `additional_creators` is present in `content` and is not an array of strings
        // where each string passes the same user ID validation applied to `sender`, reject."
        if version.auth.hasAdditionalCreators, let extra = event.content["additional_creators"] {
            guard let list = extra.arrayValue,
                  list.allSatisfy({ $0.stringValue.flatMap(UserID.init) != nil }) else {
                throw numbers.reject(numbers.top(.create, 4), "additional_creators is not a list of user IDs")
            }
        }
    }
}

/// What the rules after rule 4 consult, computed once per check.
struct AuthContext {
    let event: PDU
    let state: [StateKey: PDU]
    let create: PDU
    let numbers: AuthRuleNumbers
    let creators: Set<UserID>
    let powerLevels: PowerLevels

    init(event: PDU, state: [StateKey: PDU], create: PDU, numbers: AuthRuleNumbers) {
        self.event = event
        self.state = state
        self.create = create
        self.numbers = numbers
        let creators = RoomCreators.of(create)
        self.creators = creators
        self.powerLevels = PowerLevels(content: state[.powerLevels]?.content, version: event.roomVersion,
                                       creators: creators)
    }

    var auth: RoomVersion.AuthRuleVariants { event.roomVersion.auth }

    /// The current `membership` of the user with this ID (a raw state key), if any.
    func membership(of user: String) -> String? {
        state[StateKey("m.room.member", user)]?.content["membership"]?.stringValue
    }

    /// The room's join rule. An absent `m.room.join_rules` event, or one without `join_rule`,
    /// counts as `invite`: the spec does not say so in the rules, but its maintainers do
    /// ("Absence of an `m.room.join_rules` event is equivalent to a `join_rule` of `invite`",
    /// https://github.com/matrix-org/matrix-spec/issues/657) and deployed servers agree. A
    /// `join_rule` that is not a string (nil here) is an unrecognised rule, under which nobody
    /// can join.
    var joinRule: String? {
        guard let content = state[.joinRules]?.content, let value = content["join_rule"] else { return "invite" }
        return value.stringValue
    }
}
