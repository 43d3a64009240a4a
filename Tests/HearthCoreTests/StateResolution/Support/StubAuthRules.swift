@testable import HearthCore

/// TEMPORARY stand-in for the authorization rules of branch core-auth, covering the rules the
/// state resolution tests exercise (membership, power levels, required levels). Removed once
/// `EventAuthorization` is merged.
enum StubAuthRules {
    static func rules(_ version: RoomVersion) -> ResolutionRules {
        ResolutionRules(
            authEventKeys: { authEventKeys($0, version: version) },
            isAllowed: { isAllowed($0, state: $1, version: version) },
            senderPower: { event, powerLevels, create in
                Levels(powerLevels?.content, creators: creators(create, version: version), version: version)
                    .user(event.sender)
            })
    }

    static func authEventKeys(_ event: PDU, version: RoomVersion) -> [StateKey] {
        if event.type == "m.room.create" { return [] }
        var keys: [StateKey] = []
        if version.roomIDFormat != .createEventHash { keys.append(.create) }
        keys.append(.powerLevels)
        keys.append(.member(event.sender))
        if event.type == "m.room.member", let target = event.stateKey {
            keys.append(StateKey("m.room.member", target))
            let membership = event.content["membership"]?.stringValue
            if ["join", "invite", "knock"].contains(membership) { keys.append(.joinRules) }
        }
        return keys
    }

    static func creators(_ create: PDU?, version: RoomVersion) -> Set<UserID> {
        guard let create else { return [] }
        if version.auth.createEventHasCreator {
            return Set([create.content["creator"]?.stringValue.flatMap(UserID.init)].compactMap { $0 })
        }
        var result: Set<UserID> = [create.sender]
        if version.auth.creatorsHaveInfinitePower {
            for value in create.content["additional_creators"]?.arrayValue ?? [] {
                if let user = value.stringValue.flatMap(UserID.init) { result.insert(user) }
            }
        }
        return result
    }

    struct Levels {
        let content: JSONObject?
        let creators: Set<UserID>
        let version: RoomVersion

        init(_ content: JSONObject?, creators: Set<UserID>, version: RoomVersion) {
            self.content = content
            self.creators = creators
            self.version = version
        }

        func user(_ user: UserID) -> PowerRank {
            if version.auth.creatorsHaveInfinitePower, creators.contains(user) { return .infinite }
            guard let content else { return .finite(creators.contains(user) ? 100 : 0) }
            if let level = content["users"]?[user.rawValue]?.intValue { return .finite(level) }
            return .finite(content["users_default"]?.intValue ?? 0)
        }

        func value(_ name: String, _ fallback: Int64) -> Int64 { content?[name]?.intValue ?? fallback }

        func required(type: String, isState: Bool) -> Int64 {
            if let level = content?["events"]?[type]?.intValue { return level }
            if isState { return content == nil ? 0 : value("state_default", 50) }
            return value("events_default", 0)
        }
    }

    static func isAllowed(_ event: PDU, state: [StateKey: PDU], version: RoomVersion) -> Bool {
        if event.type == "m.room.create" { return event.prevEvents.isEmpty }
        guard let create = state[.create] else { return false }
        let creators = creators(create, version: version)
        let levels = Levels(state[.powerLevels]?.content, creators: creators, version: version)
        func membership(_ user: String) -> String? {
            state[StateKey("m.room.member", user)]?.content["membership"]?.stringValue
        }
        let senderLevel = levels.user(event.sender)
        let senderMembership = membership(event.sender.rawValue)

        if event.type == "m.room.member" {
            guard let targetText = event.stateKey, let target = UserID(targetText),
                  let newMembership = event.content["membership"]?.stringValue else { return false }
            let current = membership(targetText)
            switch newMembership {
            case "join":
                if event.prevEvents == [create.eventID], creators.contains(target) { return true }
                guard event.sender == target, current != "ban" else { return false }
                switch state[.joinRules]?.content["join_rule"]?.stringValue {
                case "public": return true
                case "invite": return current == "invite" || current == "join"
                default: return false
                }
            case "invite":
                guard senderMembership == "join", current != "join", current != "ban" else { return false }
                return senderLevel >= .finite(levels.value("invite", 0))
            case "leave":
                if event.sender == target { return ["invite", "join", "knock"].contains(current) }
                guard senderMembership == "join" else { return false }
                if current == "ban", senderLevel < .finite(levels.value("ban", 50)) { return false }
                return senderLevel >= .finite(levels.value("kick", 50)) && levels.user(target) < senderLevel
            case "ban":
                guard senderMembership == "join" else { return false }
                return senderLevel >= .finite(levels.value("ban", 50)) && levels.user(target) < senderLevel
            default:
                return false
            }
        }

        guard senderMembership == "join" else { return false }
        guard senderLevel >= .finite(levels.required(type: event.type, isState: event.isState)) else { return false }
        if let stateKey = event.stateKey, stateKey.hasPrefix("@"), stateKey != event.sender.rawValue { return false }

        if event.type == "m.room.power_levels" {
            guard let old = state[.powerLevels]?.content else { return true }
            let new = event.content
            for name in ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"] {
                let before = old[name]?.intValue
                let after = new[name]?.intValue
                guard before != after else { continue }
                if let before, PowerRank.finite(before) > senderLevel { return false }
                if let after, PowerRank.finite(after) > senderLevel { return false }
            }
            for field in ["events", "notifications"] {
                let before = old[field]?.objectValue ?? [:]
                let after = new[field]?.objectValue ?? [:]
                for member in before where after[member.key] != member.value {
                    if let level = member.value.intValue, PowerRank.finite(level) > senderLevel { return false }
                }
                for member in after where before[member.key] != member.value {
                    if let level = member.value.intValue, PowerRank.finite(level) > senderLevel { return false }
                }
            }
            let before = old["users"]?.objectValue ?? [:]
            let after = new["users"]?.objectValue ?? [:]
            for member in before where after[member.key] != member.value && member.key != event.sender.rawValue {
                if let level = member.value.intValue, PowerRank.finite(level) >= senderLevel { return false }
            }
            for member in after where before[member.key] != member.value {
                if let level = member.value.intValue, PowerRank.finite(level) > senderLevel { return false }
            }
        }
        return true
    }
}
