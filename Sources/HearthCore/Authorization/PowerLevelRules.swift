/// The rules under "If type is `m.room.power_levels`" (rule 10 in v1–v5 and v12, rule 9 in
/// v6–v11).
/// Spec: https://spec.matrix.org/v1.19/rooms/v12/#authorization-rules,
/// https://spec.matrix.org/v1.19/rooms/v10/#authorization-rules (integer checks),
/// https://spec.matrix.org/v1.19/rooms/v6/#authorization-rules (`notifications`)
///
/// Values are compared as levels, read with `PowerLevels.parseLevel`: in v1–v9 a change from
/// `50` to `"50"` is no change. A value that does not read as a level (only possible in v1–v9,
/// outside `users`) counts as absent.
enum PowerLevelRules {
    /// "`users_default`, `events_default`, `state_default`, `ban`, `redact`, `kick`, `invite`".
    static let levelProperties = ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"]

    static func check(_ context: AuthContext, senderLevel: PowerLevel) throws(AuthError) {
        let event = context.event
        let numbers = context.numbers
        let version = event.roomVersion
        let content = event.content

        if version.auth.requiresIntegerPowerLevels {
            // v10+: "If any of the properties `users_default`, `events_default`, `state_default`,
            // `ban`, `redact`, `kick`, or `invite` in `content` are present and not an integer,
            // reject."
            for key in levelProperties {
                if let value = content[key], value.intValue == nil {
                    throw numbers.reject(numbers.powerLevels(.integers), "\(key) is not an integer")
                }
            }
            // v10+: "If either of the properties `events` or `notifications` in `content` are
            // present and not an object with values that are integers, reject."
            for key in ["events", "notifications"] {
                if let value = content[key] {
                    guard let object = value.objectValue, object.allSatisfy({ $0.value.intValue != nil }) else {
                        throw numbers.reject(numbers.powerLevels(.eventsObjects), "\(key) is not an object of integers")
                    }
                }
            }
        }

        // "If the `users` property in `content` is not an object with keys that are valid user
        // IDs with values that are integers [v1–v9: (or a string that is an integer)], reject."
        // An absent `users` is read as an empty one, as every implementation does.
        let newUsers: JSONObject
        if let users = content["users"] {
            guard let object = users.objectValue else {
                throw numbers.reject(numbers.powerLevels(.users), "users is not an object")
            }
            for member in object {
                guard UserID(member.key) != nil else {
                    throw numbers.reject(numbers.powerLevels(.users), "users key \(member.key) is not a user ID")
                }
                guard PowerLevels.parseLevel(member.value, version: version) != nil else {
                    throw numbers.reject(numbers.powerLevels(.users), "users value for \(member.key) is not an integer")
                }
            }
            newUsers = object
        } else {
            newUsers = JSONObject()
        }

        // v12: "If the `users` property in `content` contains the `sender` of the
        // `m.room.create` event or any of the `additional_creators` array (if present) from the
        // `content` of the `m.room.create` event, reject."
        if version.auth.creatorsHaveInfinitePower {
            for creator in context.creators.sorted() where newUsers[creator.rawValue] != nil {
                throw numbers.reject(numbers.powerLevels(.creators), "users lists the room creator \(creator)")
            }
        }

        // "If there is no previous `m.room.power_levels` event in the room, allow."
        guard let previous = context.state[.powerLevels]?.content else { return }

        func level(_ value: JSONValue?) -> Int64? {
            value.flatMap { PowerLevels.parseLevel($0, version: version) }
        }
        func exceeds(_ value: Int64?) -> Bool {
            guard let value else { return false }
            return PowerLevel.finite(value) > senderLevel
        }

        // "For the properties `users_default`, `events_default`, `state_default`, `ban`, `redact`,
        // `kick`, `invite` check if they were added, changed or removed. For each found
        // alteration: If the current value is higher than the `sender`'s current power level,
        // reject. If the new value is higher than the `sender`'s current power level, reject."
        for key in levelProperties {
            let old = level(previous[key])
            let new = level(content[key])
            guard old != new else { continue }
            if exceeds(old) {
                throw numbers.reject(numbers.powerLevels(.properties, 1),
                                     "cannot change \(key) from \(old!), above the sender's level \(senderLevel)")
            }
            if exceeds(new) {
                throw numbers.reject(numbers.powerLevels(.properties, 2),
                                     "cannot set \(key) to \(new!), above the sender's level \(senderLevel)")
            }
        }

        // "For each entry being changed in, or removed from, the `events` [v6+: or
        // `notifications`] properties: If the current value is greater than the `sender`'s
        // current power level, reject." Then "For each entry being added to, or changed in"
        // them: "If the new value is greater than the `sender`'s current power level, reject."
        var mapKeys = ["events"]
        if version.auth.checksNotificationsPowerLevels { mapKeys.append("notifications") }
        let changes = mapKeys.flatMap { key in
            changedEntries(old: previous[key]?.objectValue, new: content[key]?.objectValue, level: level)
                .map { (property: key, change: $0) }
        }
        for (property, change) in changes where exceeds(change.old) {
            throw numbers.reject(numbers.powerLevels(.eventsCurrent, 1),
                                 "cannot change \(property).\(change.key) from \(change.old!), above the sender's level \(senderLevel)")
        }
        for (property, change) in changes where exceeds(change.new) {
            throw numbers.reject(numbers.powerLevels(.eventsNew, 1),
                                 "cannot set \(property).\(change.key) to \(change.new!), above the sender's level \(senderLevel)")
        }

        // "For each entry being changed in, or removed from, the `users` property, other than
        // the `sender`'s own entry: If the current value is greater than or equal to the
        // `sender`'s current power level, reject."
        let userChanges = changedEntries(old: previous["users"]?.objectValue, new: newUsers, level: level)
        for change in userChanges where change.old != nil && !change.key.hasSameUTF8(as: event.sender.rawValue) {
            if PowerLevel.finite(change.old!) >= senderLevel {
                throw numbers.reject(numbers.powerLevels(.usersCurrent, 1),
                                     "cannot change the level of \(change.key) (\(change.old!)), not below the sender's \(senderLevel)")
            }
        }
        // "For each entry being added to, or changed in, the `users` property: If the new value
        // is greater than the `sender`'s current power level, reject."
        for change in userChanges where exceeds(change.new) {
            throw numbers.reject(numbers.powerLevels(.usersNew, 1),
                                 "cannot give \(change.key) level \(change.new!), above the sender's \(senderLevel)")
        }

        // "Otherwise, allow."
    }

    struct Change {
        let key: String
        let old: Int64?
        let new: Int64?
    }

    /// Entries added, changed or removed between two maps, keys compared byte for byte, in
    /// canonical key order.
    static func changedEntries(old: JSONObject?, new: JSONObject?, level: (JSONValue?) -> Int64?) -> [Change] {
        let old = old ?? JSONObject()
        let new = new ?? JSONObject()
        var changes: [Change] = []
        for member in old {
            let before = level(member.value)
            let after = level(new[member.key])
            if before != after { changes.append(Change(key: member.key, old: before, new: after)) }
        }
        for member in new where old[member.key] == nil {
            let after = level(member.value)
            if after != nil { changes.append(Change(key: member.key, old: nil, new: after)) }
        }
        return changes
    }
}
