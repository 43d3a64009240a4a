/// An event refused by the authorization rules.
///
/// `rule` is the number of the rule that rejected the event, as printed in the rule list of
/// the event's own room version (https://spec.matrix.org/v1.19/rooms/). The lists are
/// renumbered between versions: version 6 removed the `m.room.aliases` rule, version 8 inserted
/// the `join_authorised_via_users_server` rule among the membership rules, version 10 inserted
/// two power-level type checks, and version 12 inserted the `room_id` rule and the creators
/// rule. The same check is therefore "4.3.5.2" in a version 8 room and "5.3.5.2" in a version 12
/// room.
public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible, MatrixErrorConvertible {
    public let rule: String
    public let reason: String

    public init(rule: String, _ reason: String) {
        self.rule = rule
        self.reason = reason
    }

    public var description: String { "auth rule \(rule): \(reason)" }

    /// Refusals reach clients as `M_FORBIDDEN` (403).
    public var matrixError: MatrixError { .forbidden("Event not authorised (\(description))") }
}

/// Rule numbers as printed in a room version's authorization rule list, computed from the
/// version's `AuthRuleVariants` (which rules exist) rather than from its identifier.
struct AuthRuleNumbers: Sendable {
    /// The top-level rules, in the order every version lists the ones it has.
    enum Top: CaseIterable {
        case create, roomID, authEvents, federation, aliases, membership, senderJoined, thirdPartyInvite,
             requiredLevel, userStateKey, powerLevels, redaction, otherwise
    }

    /// The points under "If type is `m.room.member`".
    enum Membership: CaseIterable {
        case shape, joinAuthorisedVia, join, invite, leave, ban, knock, unknown
    }

    /// The points under "If `membership` is `join`".
    enum Join: CaseIterable {
        case firstJoin, senderIsTarget, banned, inviteOrKnock, restricted, isPublic, otherwise
    }

    /// The points under "If type is `m.room.power_levels`".
    enum PowerLevelStep: CaseIterable {
        case integers, eventsObjects, users, creators, noPrevious, properties, eventsCurrent, eventsNew,
             usersCurrent, usersNew
    }

    let version: RoomVersion

    init(_ version: RoomVersion) { self.version = version }

    private var auth: RoomVersion.AuthRuleVariants { version.auth }

    private func exists(_ rule: Top) -> Bool {
        switch rule {
        case .roomID: return version.roomIDFormat == .createEventHash
        case .aliases: return auth.specialCaseAliases
        case .redaction: return auth.redactionsInAuthRules
        default: return true
        }
    }

    private func exists(_ point: Membership) -> Bool {
        switch point {
        case .joinAuthorisedVia: return auth.allowsRestrictedJoins
        case .knock: return auth.allowsKnocking
        default: return true
        }
    }

    private func exists(_ point: Join) -> Bool {
        point == .restricted ? auth.allowsRestrictedJoins : true
    }

    private func exists(_ step: PowerLevelStep) -> Bool {
        switch step {
        case .integers, .eventsObjects: return auth.requiresIntegerPowerLevels
        case .creators: return auth.creatorsHaveInfinitePower
        default: return true
        }
    }

    /// 1-based position of `item` among the cases that exist in this version.
    private static func position<T: CaseIterable & Equatable>(_ item: T, where exists: (T) -> Bool) -> Int {
        var index = 0
        for candidate in T.allCases where exists(candidate) {
            index += 1
            if candidate == item { return index }
        }
        return index + 1
    }

    private static func dotted(_ parts: [Int]) -> String {
        parts.map(String.init).joined(separator: ".")
    }

    func top(_ rule: Top, _ rest: Int...) -> String {
        AuthRuleNumbers.dotted([AuthRuleNumbers.position(rule, where: exists)] + rest)
    }

    func membership(_ point: Membership, _ rest: Int...) -> String {
        AuthRuleNumbers.dotted([AuthRuleNumbers.position(Top.membership, where: exists),
                              AuthRuleNumbers.position(point, where: exists)] + rest)
    }

    func join(_ point: Join, _ rest: Int...) -> String {
        AuthRuleNumbers.dotted([AuthRuleNumbers.position(Top.membership, where: exists),
                              AuthRuleNumbers.position(Membership.join, where: exists),
                              AuthRuleNumbers.position(point, where: exists)] + rest)
    }

    func powerLevels(_ step: PowerLevelStep, _ rest: Int...) -> String {
        AuthRuleNumbers.dotted([AuthRuleNumbers.position(Top.powerLevels, where: exists),
                              AuthRuleNumbers.position(step, where: exists)] + rest)
    }

    /// A refusal under `rule`.
    func reject(_ rule: String, _ reason: String) -> AuthError { AuthError(rule: rule, reason) }
}
