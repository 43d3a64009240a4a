extension PushRuleset {
    /// The server-default push rules for `user`, as the spec defines them (v1.17 and later:
    /// the legacy rules that searched `body` for mentions are gone, so the content, room and
    /// sender defaults are empty).
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#predefined-rules
    public static func serverDefault(for user: UserID) -> PushRuleset {
        let notifyDefaultSound: [PushAction] = [.notify, .sound("default")]
        func rule(_ id: String, enabled: Bool = true, _ conditions: [PushCondition], _ actions: [PushAction]) -> PushRule {
            PushRule(ruleID: id, isDefault: true, enabled: enabled, conditions: conditions, actions: actions)
        }
        func type(_ pattern: String) -> PushCondition { .eventMatch(key: "type", pattern: pattern) }

        let override: [PushRule] = [
            // Always first, even before user-defined override rules; disabled by default.
            rule(".m.rule.master", enabled: false, [], []),
            rule(".m.rule.suppress_notices", [.eventMatch(key: "content.msgtype", pattern: "m.notice")], []),
            rule(".m.rule.invite_for_me", [
                type("m.room.member"),
                .eventMatch(key: "content.membership", pattern: "invite"),
                .eventMatch(key: "state_key", pattern: user.rawValue),
            ], notifyDefaultSound),
            rule(".m.rule.member_event", [type("m.room.member")], []),
            rule(".m.rule.is_user_mention",
                 [.eventPropertyContains(key: "content.m\\.mentions.user_ids", value: .string(user.rawValue))],
                 [.notify, .sound("default"), .highlight]),
            rule(".m.rule.is_room_mention", [
                .eventPropertyIs(key: "content.m\\.mentions.room", value: true),
                .senderNotificationPermission(key: "room"),
            ], [.notify, .highlight]),
            rule(".m.rule.tombstone", [type("m.room.tombstone"), .eventMatch(key: "state_key", pattern: "")],
                 [.notify, .highlight]),
            rule(".m.rule.reaction", [type("m.reaction")], []),
            rule(".m.rule.room.server_acl", [type("m.room.server_acl"), .eventMatch(key: "state_key", pattern: "")], []),
            rule(".m.rule.suppress_edits",
                 [.eventPropertyIs(key: "content.m\\.relates_to.rel_type", value: "m.replace")], []),
        ]
        let underride: [PushRule] = [
            rule(".m.rule.call", [type("m.call.invite")], [.notify, .sound("ring")]),
            rule(".m.rule.encrypted_room_one_to_one", [.roomMemberCount(is: "2"), type("m.room.encrypted")],
                 notifyDefaultSound),
            rule(".m.rule.room_one_to_one", [.roomMemberCount(is: "2"), type("m.room.message")], notifyDefaultSound),
            rule(".m.rule.message", [type("m.room.message")], [.notify]),
            rule(".m.rule.encrypted", [type("m.room.encrypted")], [.notify]),
        ]
        return PushRuleset(override: override, underride: underride)
    }

    /// The rules in force for a user: `.m.rule.master` first, then the user's rules of each
    /// kind before the server defaults of that kind. A rule in `user` with the ID of a
    /// server-default rule changes that rule's `enabled` and `actions` in place instead of
    /// being added.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#predefined-rules
    public static func merged(user: PushRuleset, defaults: PushRuleset) -> PushRuleset {
        var result = PushRuleset()
        for kind in PushRuleKind.allCases {
            var defaultRules = defaults[kind]
            var userRules: [PushRule] = []
            for rule in user[kind] {
                if let index = defaultRules.firstIndex(where: { $0.ruleID == rule.ruleID }) {
                    defaultRules[index].enabled = rule.enabled
                    defaultRules[index].actions = rule.actions
                } else {
                    userRules.append(rule)
                }
            }
            if kind == .override, let master = defaultRules.firstIndex(where: { $0.ruleID == ".m.rule.master" }) {
                let rule = defaultRules.remove(at: master)
                result[kind] = [rule] + userRules + defaultRules
            } else {
                result[kind] = userRules + defaultRules
            }
        }
        return result
    }
}
