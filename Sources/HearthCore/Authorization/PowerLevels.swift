/// A user's power level, or a level required for an action. Room creators in room version 12
/// have a level above every integer.
/// Spec: https://spec.matrix.org/v1.19/rooms/v12/#authorization-rules ("The power level of
/// room creators is infinitely high").
public enum PowerLevel: Comparable, Hashable, Sendable, CustomStringConvertible {
    case finite(Int64)
    case infinite

    public static func < (a: PowerLevel, b: PowerLevel) -> Bool {
        switch (a, b) {
        case let (.finite(x), .finite(y)): return x < y
        case (.finite, .infinite): return true
        case (.infinite, _): return false
        }
    }

    public var description: String {
        switch self {
        case .finite(let value): return String(value)
        case .infinite: return "infinite"
        }
    }

    /// The integer level, or nil for an infinite one.
    public var finiteValue: Int64? {
        if case .finite(let value) = self { return value } else { return nil }
    }
}

/// The room's creators, read from its `m.room.create` event.
/// Spec: https://spec.matrix.org/v1.19/rooms/v12/#authorization-rules and
/// https://spec.matrix.org/v1.19/client-server-api/#mroomcreate
public enum RoomCreators {
    /// - v1–v10: `content.creator` ("Required for, and only present in, room versions 1 - 10").
    /// - v11: the create event's `sender`.
    /// - v12: "The user ID denoted by the `sender` of the `m.room.create` event in the room" plus
    ///   "any user IDs contained in the `additional_creators` array in `content`".
    ///
    /// Entries that are not valid user IDs are left out (the auth rules reject such create events
    /// in v12; in v1–v10 a malformed `creator` simply names nobody).
    public static func of(_ create: PDU) -> Set<UserID> {
        let auth = create.roomVersion.auth
        if auth.createEventHasCreator {
            return create.content["creator"]?.stringValue.flatMap(UserID.init).map { [$0] } ?? []
        }
        var creators: Set<UserID> = [create.sender]
        if auth.hasAdditionalCreators, let extra = create.content["additional_creators"]?.arrayValue {
            for value in extra {
                if let user = value.stringValue.flatMap(UserID.init) { creators.insert(user) }
            }
        }
        return creators
    }
}

/// A room's `m.room.power_levels` content, parsed with the room version's rules for legacy
/// values, and the defaults the spec gives for missing keys and for a room without the event.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#mroompower_levels
///
/// Values that cannot be read as a level (`"abc"`, an object, a string in v10+) count as absent
/// and so take their default. Events carrying them are refused by the power-level auth rule
/// where the room version checks that key (`users` always, every key from v10); this type only
/// has to give a deterministic answer for state that already holds them.
public struct PowerLevels: Sendable, Equatable {
    public let version: RoomVersion
    /// The room's creators (see `RoomCreators.of(_:)`).
    public let creators: Set<UserID>
    /// Whether the room has an `m.room.power_levels` event at all.
    public let hasPowerLevelsEvent: Bool

    /// "The level required to ban a user. Defaults to 50 if unspecified."
    public let ban: Int64
    /// "The level required to kick a user. Defaults to 50 if unspecified."
    public let kick: Int64
    /// "The level required to invite a user. Defaults to 0 if unspecified."
    public let invite: Int64
    /// "The level required to redact an event sent by another user. Defaults to 50 if unspecified."
    public let redact: Int64
    /// "If there is no `state_default` in the `m.room.power_levels` event, or there is no
    /// `m.room.power_levels` event, the `state_default` is 50."
    public let stateDefault: Int64
    /// "If there is no `events_default` … or there is no `m.room.power_levels` event, the
    /// `events_default` is 0."
    public let eventsDefault: Int64
    /// "If `users_default` is not supplied, it is assumed to be 0."
    public let usersDefault: Int64
    /// Explicit user levels (`users`), readable entries only.
    public let users: [UserID: Int64]
    /// `events`, as received; read through `eventLevel(_:)` (keys compare byte for byte).
    private let eventsContent: JSONObject
    /// `notifications`, as received; read through `notificationLevel(_:)`.
    private let notificationsContent: JSONObject

    /// - Parameters:
    ///   - content: the `m.room.power_levels` event's content, or nil when the room has none.
    ///   - creators: the room's creators, `RoomCreators.of(create)`.
    public init(content: JSONObject?, version: RoomVersion, creators: Set<UserID>) {
        self.version = version
        self.creators = creators
        self.hasPowerLevelsEvent = content != nil
        let content = content ?? JSONObject()
        func level(_ key: String, default value: Int64) -> Int64 {
            content[key].flatMap { PowerLevels.parseLevel($0, version: version) } ?? value
        }
        ban = level("ban", default: 50)
        kick = level("kick", default: 50)
        invite = level("invite", default: 0)
        redact = level("redact", default: 50)
        stateDefault = level("state_default", default: 50)
        eventsDefault = level("events_default", default: 0)
        usersDefault = level("users_default", default: 0)
        var users: [UserID: Int64] = [:]
        for member in content["users"]?.objectValue ?? JSONObject() {
            if let user = UserID(member.key), let value = PowerLevels.parseLevel(member.value, version: version) {
                users[user] = value
            }
        }
        self.users = users
        eventsContent = content["events"]?.objectValue ?? JSONObject()
        notificationsContent = content["notifications"]?.objectValue ?? JSONObject()
    }

    /// The power level of `user`.
    ///
    /// - v12: creators are infinite whatever `users` says ("Room creators cannot be demoted to
    ///   a lower power level, even through `m.room.power_levels`").
    /// - v1–v11 without a power-levels event: "the room's creator has a power level of 100, and
    ///   all other users have a power level of 0".
    /// - Otherwise `users[user]`, else `users_default`.
    public func userLevel(_ user: UserID) -> PowerLevel {
        if version.auth.creatorsHaveInfinitePower, creators.contains(user) { return .infinite }
        if !hasPowerLevelsEvent {
            return .finite(creators.contains(user) ? 100 : usersDefault)
        }
        return .finite(users[user] ?? usersDefault)
    }

    /// The level of a membership target given as a raw `state_key`, which may not parse as a
    /// user ID; such a target has the default level.
    func userLevel(stateKey: String) -> PowerLevel {
        if let user = UserID(stateKey) { return userLevel(user) }
        return .finite(usersDefault)
    }

    /// The *required power level* for sending an event of `type`: "listed explicitly in the
    /// `events` section or given by either `state_default` or `events_default` depending on if
    /// the event is a state event or not."
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#definitions
    public func requiredLevel(forEvent type: String, isState: Bool) -> PowerLevel {
        .finite(eventLevel(type) ?? (isState ? stateDefault : eventsDefault))
    }

    /// The explicit `events` entry for `type`, if readable.
    public func eventLevel(_ type: String) -> Int64? {
        eventsContent[type].flatMap { PowerLevels.parseLevel($0, version: version) }
    }

    /// The level for a notification key (`notifications.room` defaults to 50; other keys have
    /// no default).
    public func notificationLevel(_ key: String) -> Int64? {
        notificationsContent[key].flatMap { PowerLevels.parseLevel($0, version: version) } ?? (key == "room" ? 50 : nil)
    }

    // MARK: - Legacy values

    /// Reads one power-level value under `version`'s rules, or nil if it is not a level there.
    ///
    /// - Integers are always levels.
    /// - Strings, v1–v9 ("`m.room.power_levels` events accept values as strings"): "a single base
    ///   10 integer, no float values or decimal points, optionally with any number of leading
    ///   zeroes", "optionally prefixed with a single `-` or `+` character", "optionally with any
    ///   number of leading or trailing whitespace characters". From v10 "power levels MUST NOT be
    ///   represented as strings".
    /// - Floats, v1–v5 ("accept values as floats"): "exponential notation is applied", then "the
    ///   value is truncated at the decimal point". Later versions enforce canonical JSON, which
    ///   has no floats.
    ///
    /// Values beyond the 64-bit range saturate (the spec bounds levels to ±(2^53−1) and legacy
    /// encodings only need to order correctly against them).
    /// Spec: https://spec.matrix.org/v1.19/rooms/v9/#mroompower_levels-events-accept-values-as-strings,
    /// https://spec.matrix.org/v1.19/rooms/v5/#mroompower_levels-events-accept-values-as-floats
    public static func parseLevel(_ value: JSONValue, version: RoomVersion) -> Int64? {
        switch value {
        case .int(let integer):
            return integer
        case .string(let text) where !version.auth.requiresIntegerPowerLevels:
            return parseLegacyString(text)
        case .float(let number) where version.auth.acceptsFloatPowerLevels:
            return truncate(number)
        default:
            return nil
        }
    }

    /// `[whitespace] [+|-] digit+ [whitespace]`, base 10, ASCII digits.
    static func parseLegacyString(_ text: String) -> Int64? {
        var scalars = Substring(text).unicodeScalars
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        var negative = false
        if let sign = scalars.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            scalars.removeFirst()
        }
        guard !scalars.isEmpty else { return nil }
        var magnitude: Int64 = 0
        var saturated = false
        for scalar in scalars {
            guard scalar.value >= 0x30, scalar.value <= 0x39 else { return nil }
            let digit = Int64(scalar.value - 0x30)
            if saturated { continue }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(digit)
            if overflow1 || overflow2 { saturated = true } else { magnitude = sum }
        }
        if saturated { return negative ? Int64.min : Int64.max }
        return negative ? -magnitude : magnitude
    }

    /// Truncation toward zero, saturating at the 64-bit bounds; nil for NaN and infinities
    /// (which the spec says reject the event; Hearth's JSON parser never produces them).
    static func truncate(_ number: Double) -> Int64? {
        guard number.isFinite else { return nil }
        let truncated = number.rounded(.towardZero)
        if truncated >= 9_223_372_036_854_775_807.0 { return Int64.max }
        if truncated <= -9_223_372_036_854_775_808.0 { return Int64.min }
        return Int64(truncated)
    }
}
