/// What push-rule evaluation needs to know besides the event.
public struct PushContext: Sendable, Hashable {
    /// The user whose rules are evaluated.
    public var userID: UserID
    /// The user's display name in the room (for `contains_display_name`).
    public var displayName: String?
    /// The room's current number of joined members (for `room_member_count`).
    public var roomMemberCount: Int
    public var powerLevels: PushPowerLevels

    public init(userID: UserID, displayName: String?, roomMemberCount: Int, powerLevels: PushPowerLevels) {
        self.userID = userID
        self.displayName = displayName
        self.roomMemberCount = roomMemberCount
        self.powerLevels = powerLevels
    }
}

/// The power-level facts `sender_notification_permission` uses.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#mroompower_levels (`notifications`)
public struct PushPowerLevels: Sendable, Hashable {
    /// The sender's power level in the room.
    public var senderLevel: Int64
    /// `content.notifications` of the power levels event.
    public var notificationLevels: [String: Int64]

    public init(senderLevel: Int64, notificationLevels: [String: Int64] = [:]) {
        self.senderLevel = senderLevel
        self.notificationLevels = notificationLevels
    }

    /// The level a notification of type `key` needs: the power levels' value, else the
    /// spec's default (50 for `room`); nil for a type with neither.
    public func notificationLevel(_ key: String) -> Int64? {
        notificationLevels[key] ?? (key == "room" ? 50 : nil)
    }
}

/// The outcome of push-rule evaluation for one event and one user.
public struct PushEvaluation: Sendable, Hashable {
    /// The rule that matched (the first, in priority order).
    public var kind: PushRuleKind
    public var ruleID: String
    public var actions: [PushAction]

    public init(kind: PushRuleKind, ruleID: String, actions: [PushAction]) {
        self.kind = kind
        self.ruleID = ruleID
        self.actions = actions
    }

    /// The event counts as a notification.
    public var notify: Bool { actions.contains(.notify) }

    /// The `highlight` tweak: true when set without a value, false when absent.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#actions
    public var highlight: Bool {
        for case .setTweak("highlight", let value) in actions {
            guard let value else { return true }
            return value.boolValue ?? false
        }
        return false
    }

    /// The `sound` tweak, if any.
    public var sound: String? {
        for case .setTweak("sound", let value) in actions { return value?.stringValue }
        return nil
    }

    /// All tweaks as the push gateway receives them (`highlight` without a value is true).
    public var tweaks: JSONObject {
        var tweaks = JSONObject()
        for case .setTweak(let name, let value) in actions { tweaks[name] = value ?? .bool(true) }
        return tweaks
    }
}

/// Evaluates push rules.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#push-rules
public enum PushEvaluator {
    /// The first rule of `ruleset` (override, content, room, sender, underride) that matches
    /// `event`, with its actions; nil when none matches, and for the user's own events, which
    /// never notify. `event` is the event in client format.
    public static func evaluate(_ event: JSONObject, ruleset: PushRuleset, context: PushContext) -> PushEvaluation? {
        if let sender = event["sender"]?.stringValue, sender.hasSameUTF8(as: context.userID.rawValue) {
            return nil
        }
        for (kind, rule) in ruleset.orderedRules where rule.matches(event, kind: kind, context: context) {
            return PushEvaluation(kind: kind, ruleID: rule.ruleID, actions: rule.actions)
        }
        return nil
    }

    /// Evaluates a room event against the user's rules merged with the server defaults.
    public static func evaluate(_ pdu: PDU, userRules: PushRuleset = PushRuleset(), context: PushContext) -> PushEvaluation? {
        let ruleset = PushRuleset.merged(user: userRules, defaults: .serverDefault(for: context.userID))
        return evaluate(pdu.clientEvent(), ruleset: ruleset, context: context)
    }
}
