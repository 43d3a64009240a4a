/// An action of a push rule.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#actions
public enum PushAction: Sendable, Hashable {
    /// Generate a notification.
    case notify
    /// Set a tweak (`sound`, `highlight`, or one clients and gateways agree on).
    case setTweak(String, value: JSONValue?)
    /// An action this server does not know, passed through unchanged.
    case other(JSONValue)

    /// Reads an action; nil for the historical `dont_notify` and `coalesce`, which the spec
    /// says to strip (so `["dont_notify"]` equals `[]`).
    public init?(json: JSONValue) {
        switch json {
        case .string("notify"): self = .notify
        case .string("dont_notify"), .string("coalesce"): return nil
        case .object(let object):
            if let tweak = object["set_tweak"]?.stringValue {
                self = .setTweak(tweak, value: object["value"])
            } else {
                self = .other(json)
            }
        default: self = .other(json)
        }
    }

    public var json: JSONValue {
        switch self {
        case .notify: return "notify"
        case .setTweak(let name, let value):
            var object: JSONObject = ["set_tweak": .string(name)]
            if let value { object["value"] = value }
            return .object(object)
        case .other(let value): return value
        }
    }

    public static func sound(_ name: String) -> PushAction { .setTweak("sound", value: .string(name)) }
    public static let highlight = PushAction.setTweak("highlight", value: nil)
}

/// The five kinds of push rules, in the order they are checked.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#push-rules
public enum PushRuleKind: String, Sendable, Hashable, CaseIterable {
    case override, content, room, sender, underride
}

/// A push rule.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#push-rules
public struct PushRule: Sendable, Hashable {
    public var ruleID: String
    /// Server-default rules (IDs starting with `.`) have this set.
    public var isDefault: Bool
    public var enabled: Bool
    /// Conditions of `override` and `underride` rules; all must hold. Empty always matches.
    public var conditions: [PushCondition]
    /// The glob of a `content` rule, matched against `content.body` at word boundaries.
    public var pattern: String?
    public var actions: [PushAction]

    public init(ruleID: String, isDefault: Bool = false, enabled: Bool = true, conditions: [PushCondition] = [],
                pattern: String? = nil, actions: [PushAction]) {
        self.ruleID = ruleID
        self.isDefault = isDefault
        self.enabled = enabled
        self.conditions = conditions
        self.pattern = pattern
        self.actions = actions
    }

    /// Reads a rule as the API and `m.push_rules` account data carry it; nil without a
    /// string `rule_id`.
    public init?(json: JSONObject) {
        guard let ruleID = json["rule_id"]?.stringValue else { return nil }
        self.ruleID = ruleID
        self.isDefault = json["default"]?.boolValue ?? false
        self.enabled = json["enabled"]?.boolValue ?? true
        self.conditions = json["conditions"]?.arrayValue?.map { element in
            element.objectValue.map(PushCondition.init(json:)) ?? .unknown(["kind": element])
        } ?? []
        self.pattern = json["pattern"]?.stringValue
        self.actions = json["actions"]?.arrayValue?.compactMap(PushAction.init(json:)) ?? []
    }

    /// The rule in the API's form. `kind` decides which fields appear (conditions only for
    /// override and underride rules, the pattern only for content rules).
    public func json(kind: PushRuleKind) -> JSONObject {
        var object: JSONObject = [
            "rule_id": .string(ruleID),
            "default": .bool(isDefault),
            "enabled": .bool(enabled),
            "actions": .array(actions.map(\.json)),
        ]
        switch kind {
        case .override, .underride: object["conditions"] = .array(conditions.map { .object($0.json) })
        case .content: if let pattern { object["pattern"] = .string(pattern) }
        case .room, .sender: break
        }
        return object
    }

    /// Whether the rule, as a rule of `kind`, applies to `event`.
    public func matches(_ event: JSONObject, kind: PushRuleKind, context: PushContext) -> Bool {
        guard enabled else { return false }
        switch kind {
        case .override, .underride:
            return conditions.allSatisfy { $0.matches(event, context: context) }
        case .content:
            guard let pattern, let body = event["content"]?["body"]?.stringValue else { return false }
            return GlobPattern(pattern).matchesWordBounded(in: body)
        case .room:
            return event["room_id"]?.stringValue.map { $0.hasSameUTF8(as: ruleID) } ?? false
        case .sender:
            return event["sender"]?.stringValue.map { $0.hasSameUTF8(as: ruleID) } ?? false
        }
    }
}

/// A user's push rules, by kind, each list in priority order.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#push-rules (the `global` ruleset)
public struct PushRuleset: Sendable, Hashable {
    public var override: [PushRule]
    public var content: [PushRule]
    public var room: [PushRule]
    public var sender: [PushRule]
    public var underride: [PushRule]

    public init(override: [PushRule] = [], content: [PushRule] = [], room: [PushRule] = [],
                sender: [PushRule] = [], underride: [PushRule] = []) {
        self.override = override
        self.content = content
        self.room = room
        self.sender = sender
        self.underride = underride
    }

    public subscript(kind: PushRuleKind) -> [PushRule] {
        get {
            switch kind {
            case .override: return override
            case .content: return content
            case .room: return room
            case .sender: return sender
            case .underride: return underride
            }
        }
        set {
            switch kind {
            case .override: override = newValue
            case .content: content = newValue
            case .room: room = newValue
            case .sender: sender = newValue
            case .underride: underride = newValue
            }
        }
    }

    /// Reads a ruleset object (`{"override": [...], ...}`); rules that do not parse are
    /// skipped, missing kinds are empty.
    public init(json: JSONObject) {
        self.init()
        for kind in PushRuleKind.allCases {
            self[kind] = json[kind.rawValue]?.arrayValue?.compactMap { $0.objectValue.flatMap(PushRule.init(json:)) } ?? []
        }
    }

    public var json: JSONObject {
        var object = JSONObject()
        for kind in PushRuleKind.allCases {
            object[kind.rawValue] = .array(self[kind].map { .object($0.json(kind: kind)) })
        }
        return object
    }

    /// Every rule with its kind, in evaluation order.
    public var orderedRules: [(kind: PushRuleKind, rule: PushRule)] {
        PushRuleKind.allCases.flatMap { kind in self[kind].map { (kind, $0) } }
    }

    /// The rule with `ruleID` of `kind`, if any.
    public func rule(_ kind: PushRuleKind, _ ruleID: String) -> PushRule? {
        self[kind].first { $0.ruleID == ruleID }
    }
}
