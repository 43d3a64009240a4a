/// A condition of an `override` or `underride` push rule.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#conditions-1
public enum PushCondition: Sendable, Hashable {
    /// Glob match on a string property (word-bounded substring match for `content.body`).
    case eventMatch(key: String, pattern: String)
    /// Exact match of a string, integer, boolean or null property.
    case eventPropertyIs(key: String, value: JSONValue)
    /// An array property contains the value exactly.
    case eventPropertyContains(key: String, value: JSONValue)
    /// `content.body` contains the user's display name (deprecated since v1.17).
    case containsDisplayName
    /// The room's member count compared with `is` (`==`, `<`, `>`, `<=`, `>=` prefix).
    case roomMemberCount(is: String)
    /// The sender has the power level `notifications.<key>` requires.
    case senderNotificationPermission(key: String)
    /// A condition this server does not know, or a known kind with missing or mistyped
    /// parameters. It never matches, which disables its rule, as the spec requires.
    case unknown(JSONObject)

    /// Reads a condition object; anything unrecognised becomes `.unknown` (kept for display).
    public init(json: JSONObject) {
        let kind = json["kind"]?.stringValue
        let key = json["key"]?.stringValue
        switch kind {
        case "event_match":
            if let key, let pattern = json["pattern"]?.stringValue {
                self = .eventMatch(key: key, pattern: pattern)
                return
            }
        case "event_property_is", "event_property_contains":
            if let key, let value = json["value"], PushCondition.isMatchableValue(value) {
                self = kind == "event_property_is" ? .eventPropertyIs(key: key, value: value)
                    : .eventPropertyContains(key: key, value: value)
                return
            }
        case "contains_display_name":
            self = .containsDisplayName
            return
        case "room_member_count":
            if let bound = json["is"]?.stringValue {
                self = .roomMemberCount(is: bound)
                return
            }
        case "sender_notification_permission":
            if let key {
                self = .senderNotificationPermission(key: key)
                return
            }
        default:
            break
        }
        self = .unknown(json)
    }

    public var json: JSONObject {
        switch self {
        case .eventMatch(let key, let pattern):
            return ["kind": "event_match", "key": .string(key), "pattern": .string(pattern)]
        case .eventPropertyIs(let key, let value):
            return ["kind": "event_property_is", "key": .string(key), "value": value]
        case .eventPropertyContains(let key, let value):
            return ["kind": "event_property_contains", "key": .string(key), "value": value]
        case .containsDisplayName:
            return ["kind": "contains_display_name"]
        case .roomMemberCount(let bound):
            return ["kind": "room_member_count", "is": .string(bound)]
        case .senderNotificationPermission(let key):
            return ["kind": "sender_notification_permission", "key": .string(key)]
        case .unknown(let object):
            return object
        }
    }

    /// Non-compound canonical JSON values: strings, safe-range integers, booleans, null.
    static func isMatchableValue(_ value: JSONValue) -> Bool {
        switch value {
        case .string, .bool, .null: return true
        case .int(let i): return i >= -JSONValue.maxSafeInteger && i <= JSONValue.maxSafeInteger
        case .float, .array, .object: return false
        }
    }

    /// Whether the condition holds for `event` (the event as clients see it) in `context`.
    public func matches(_ event: JSONObject, context: PushContext) -> Bool {
        switch self {
        case .eventMatch(let key, let pattern):
            guard let value = PropertyPath(key).value(in: event)?.stringValue else { return false }
            let glob = GlobPattern(pattern)
            return key == "content.body" ? glob.matchesWordBounded(in: value) : glob.matches(value)
        case .eventPropertyIs(let key, let expected):
            guard let value = PropertyPath(key).value(in: event), PushCondition.isMatchableValue(value) else {
                return false
            }
            return value == expected
        case .eventPropertyContains(let key, let expected):
            guard let array = PropertyPath(key).value(in: event)?.arrayValue else { return false }
            return array.contains { PushCondition.isMatchableValue($0) && $0 == expected }
        case .containsDisplayName:
            guard let name = context.displayName, !name.isEmpty,
                  let body = event["content"]?["body"]?.stringValue
            else { return false }
            return GlobPattern(literal: name).matchesWordBounded(in: body)
        case .roomMemberCount(let bound):
            guard let comparison = MemberCountComparison(bound) else { return false }
            return comparison.holds(for: context.roomMemberCount)
        case .senderNotificationPermission(let key):
            guard let required = context.powerLevels.notificationLevel(key) else { return false }
            return context.powerLevels.senderLevel >= required
        case .unknown:
            return false
        }
    }
}

/// The parsed `is` parameter of `room_member_count`.
struct MemberCountComparison: Sendable, Hashable {
    enum Operator: Sendable { case equal, less, greater, lessOrEqual, greaterOrEqual }
    var op: Operator
    var count: Int64

    init?(_ text: String) {
        var rest = Substring(text)
        let prefixes: [(String, Operator)] = [("==", .equal), ("<=", .lessOrEqual), (">=", .greaterOrEqual),
                                              ("<", .less), (">", .greater)]
        op = .equal
        for (prefix, op) in prefixes where rest.hasPrefix(prefix) {
            self.op = op
            rest = rest.dropFirst(prefix.count)
            break
        }
        // A decimal integer: digits only (no sign, no spaces), bounded so it cannot overflow.
        guard !rest.isEmpty, rest.utf8.count <= 18, rest.utf8.allSatisfy(ServerName.isDigit),
              let value = Int64(rest)
        else { return nil }
        count = value
    }

    func holds(for members: Int) -> Bool {
        let n = Int64(members)
        switch op {
        case .equal: return n == count
        case .less: return n < count
        case .greater: return n > count
        case .lessOrEqual: return n <= count
        case .greaterOrEqual: return n >= count
        }
    }
}
