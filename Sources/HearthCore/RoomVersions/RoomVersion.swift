/// Everything that varies between room versions, as data. Adding a room version means adding
/// one value below, derived from its predecessor; the algorithms read these properties and
/// never switch on the version string.
/// Spec: https://spec.matrix.org/v1.19/rooms/
public struct RoomVersion: Sendable, Hashable, CustomStringConvertible {
    public enum EventIDFormat: Sendable, Hashable {
        /// `$opaque:server`, chosen by the origin (v1, v2).
        case serverScoped
        /// `$` + standard unpadded base64 of the reference hash (v3).
        case referenceHash
        /// `$` + URL-safe unpadded base64 of the reference hash (v4+).
        case urlSafeReferenceHash
    }

    public enum RoomIDFormat: Sendable, Hashable {
        /// `!opaque:server` (v1–v11).
        case serverScoped
        /// `!` + the create event's reference hash; the create event carries no `room_id` (v12).
        case createEventHash
    }

    public enum StateResolutionAlgorithm: Sendable, Hashable {
        case v1
        case v2
        /// v2 with room version 12's changes: iterative auth checks start from an empty state
        /// map and the full conflicted set includes the conflicted state subgraph.
        case v2_1
    }

    /// Which fields redaction keeps, per https://spec.matrix.org/v1.19/rooms/v11/#redactions
    /// and its predecessors.
    public struct RedactionRules: Sendable, Hashable {
        /// Top-level `origin`, `membership` and `prev_state` survive (v1–v10).
        public var keepsOriginMembershipPrevState: Bool
        /// `m.room.aliases` keeps `aliases` (v1–v5).
        public var aliasesKeepsAliases: Bool
        /// `m.room.join_rules` keeps `allow` (v8+).
        public var joinRulesKeepsAllow: Bool
        /// `m.room.member` keeps `join_authorised_via_users_server` (v9+).
        public var memberKeepsJoinAuthorisedVia: Bool
        /// `m.room.create` keeps all of its content, not only `creator` (v11+).
        public var createKeepsAllContent: Bool
        /// `m.room.power_levels` keeps `invite` (v11+).
        public var powerLevelsKeepsInvite: Bool
        /// `m.room.redaction` keeps `content.redacts` (v11+).
        public var redactionKeepsRedacts: Bool
        /// `m.room.member` keeps `third_party_invite.signed` (v11+).
        public var memberKeepsThirdPartyInviteSigned: Bool
    }

    /// Variations of the authorization rules.
    public struct AuthRuleVariants: Sendable, Hashable {
        /// The create event must carry `content.creator` and the first join is the creator's
        /// (v1–v10); from v11 the create event's `sender` is the creator.
        public var createEventHasCreator: Bool
        /// `m.room.aliases` has its own rule: state_key must be the sender's domain (v1–v5).
        public var specialCaseAliases: Bool
        /// Redactions are checked by the auth rules (rule 11, v1–v2); later versions accept them
        /// in auth and decide when to apply them.
        public var redactionsInAuthRules: Bool
        /// Events need a signature from the event ID's domain too (v1–v2).
        public var requiresEventIDDomainSignature: Bool
        /// Power level changes to `notifications` are checked like `events` (v6+).
        public var checksNotificationsPowerLevels: Bool
        /// The `knock` membership and join rule exist (v7+).
        public var allowsKnocking: Bool
        /// The `restricted` join rule exists (v8+).
        public var allowsRestrictedJoins: Bool
        /// The `knock_restricted` join rule exists (v10+).
        public var allowsKnockRestrictedJoins: Bool
        /// Power levels must be integers; strings like `"50"` are rejected (v10+).
        public var requiresIntegerPowerLevels: Bool
        /// Floats in power levels are accepted and truncated (v1–v5).
        public var acceptsFloatPowerLevels: Bool
        /// Room creators (create sender + `additional_creators`) have infinite power and may not
        /// be listed in the power levels' `users` (v12).
        public var creatorsHaveInfinitePower: Bool
        /// The `m.room.create` event is selected as an auth event and must be among an event's
        /// `auth_events` (v1–v11). From v12 it must not be: the room ID names it.
        public var createEventIsAuthEvent: Bool
        /// `additional_creators` in the create event's content names further room creators and
        /// must be a list of valid user IDs (v12).
        public var hasAdditionalCreators: Bool
    }

    public private(set) var identifier: String
    public var eventIDFormat: EventIDFormat
    public var roomIDFormat: RoomIDFormat
    public var stateResolution: StateResolutionAlgorithm
    public var redaction: RedactionRules
    public var auth: AuthRuleVariants
    /// Events must be canonical JSON: no floats, integers in range (v6+).
    public var enforcesCanonicalJSON: Bool
    /// A signing key must be valid at the event's `origin_server_ts` (v5+).
    public var enforcesKeyValidity: Bool
    /// `redacts` of `m.room.redaction` is a top-level field (v1–v10); from v11 it is in content.
    public var redactsIsTopLevel: Bool

    public var description: String { identifier }

    public static func == (a: RoomVersion, b: RoomVersion) -> Bool { a.identifier == b.identifier }
    public func hash(into hasher: inout Hasher) { hasher.combine(identifier) }

    private func with(_ identifier: String, _ change: (inout RoomVersion) -> Void) -> RoomVersion {
        var copy = self
        copy.identifier = identifier
        change(&copy)
        return copy
    }
    private init(identifier: String, eventIDFormat: EventIDFormat, roomIDFormat: RoomIDFormat,
                 stateResolution: StateResolutionAlgorithm, redaction: RedactionRules, auth: AuthRuleVariants,
                 enforcesCanonicalJSON: Bool, enforcesKeyValidity: Bool, redactsIsTopLevel: Bool) {
        self.identifier = identifier
        self.eventIDFormat = eventIDFormat
        self.roomIDFormat = roomIDFormat
        self.stateResolution = stateResolution
        self.redaction = redaction
        self.auth = auth
        self.enforcesCanonicalJSON = enforcesCanonicalJSON
        self.enforcesKeyValidity = enforcesKeyValidity
        self.redactsIsTopLevel = redactsIsTopLevel
    }

    // MARK: - The versions

    public static let v1 = RoomVersion(
        identifier: "1", eventIDFormat: .serverScoped, roomIDFormat: .serverScoped, stateResolution: .v1,
        redaction: RedactionRules(
            keepsOriginMembershipPrevState: true, aliasesKeepsAliases: true, joinRulesKeepsAllow: false,
            memberKeepsJoinAuthorisedVia: false, createKeepsAllContent: false, powerLevelsKeepsInvite: false,
            redactionKeepsRedacts: false, memberKeepsThirdPartyInviteSigned: false),
        auth: AuthRuleVariants(
            createEventHasCreator: true, specialCaseAliases: true, redactionsInAuthRules: true,
            requiresEventIDDomainSignature: true, checksNotificationsPowerLevels: false, allowsKnocking: false,
            allowsRestrictedJoins: false, allowsKnockRestrictedJoins: false, requiresIntegerPowerLevels: false,
            acceptsFloatPowerLevels: true, creatorsHaveInfinitePower: false, createEventIsAuthEvent: true,
            hasAdditionalCreators: false),
        enforcesCanonicalJSON: false, enforcesKeyValidity: false, redactsIsTopLevel: true)

    /// State resolution v2.
    public static let v2 = v1.with("2") { $0.stateResolution = .v2 }
    /// Event IDs are reference hashes; redactions leave the auth rules.
    public static let v3 = v2.with("3") {
        $0.eventIDFormat = .referenceHash
        $0.auth.redactionsInAuthRules = false
        $0.auth.requiresEventIDDomainSignature = false
    }
    /// URL-safe event IDs.
    public static let v4 = v3.with("4") { $0.eventIDFormat = .urlSafeReferenceHash }
    /// Signing-key validity periods enforced.
    public static let v5 = v4.with("5") { $0.enforcesKeyValidity = true }
    /// Canonical JSON enforced, aliases rule removed, notifications power levels checked.
    public static let v6 = v5.with("6") {
        $0.enforcesCanonicalJSON = true
        $0.auth.specialCaseAliases = false
        $0.auth.checksNotificationsPowerLevels = true
        $0.auth.acceptsFloatPowerLevels = false
        $0.redaction.aliasesKeepsAliases = false
    }
    /// Knocking.
    public static let v7 = v6.with("7") { $0.auth.allowsKnocking = true }
    /// Restricted joins.
    public static let v8 = v7.with("8") {
        $0.auth.allowsRestrictedJoins = true
        $0.redaction.joinRulesKeepsAllow = true
    }
    /// Redaction keeps `join_authorised_via_users_server`.
    public static let v9 = v8.with("9") { $0.redaction.memberKeepsJoinAuthorisedVia = true }
    /// Integer power levels, `knock_restricted`.
    public static let v10 = v9.with("10") {
        $0.auth.allowsKnockRestrictedJoins = true
        $0.auth.requiresIntegerPowerLevels = true
    }
    /// No `creator` in the create event, new redaction algorithm, `redacts` in content.
    public static let v11 = v10.with("11") {
        $0.auth.createEventHasCreator = false
        $0.redactsIsTopLevel = false
        $0.redaction.keepsOriginMembershipPrevState = false
        $0.redaction.createKeepsAllContent = true
        $0.redaction.powerLevelsKeepsInvite = true
        $0.redaction.redactionKeepsRedacts = true
        $0.redaction.memberKeepsThirdPartyInviteSigned = true
    }
    /// Room IDs from the create event's hash, creators with infinite power, state res v2.1.
    public static let v12 = v11.with("12") {
        $0.roomIDFormat = .createEventHash
        $0.stateResolution = .v2_1
        $0.auth.creatorsHaveInfinitePower = true
        $0.auth.createEventIsAuthEvent = false
        $0.auth.hasAdditionalCreators = true
    }

    public static let all: [RoomVersion] = [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12]

    /// The version new rooms get unless asked otherwise.
    public static let `default` = v12

    /// The known version with this identifier, or nil if Hearth does not support it.
    public init?(_ identifier: String) {
        guard let version = RoomVersion.all.first(where: { $0.identifier == identifier }) else { return nil }
        self = version
    }
}
