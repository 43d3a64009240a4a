/// The redaction algorithm: strips an event down to the fields the protocol needs, so that
/// hashes, signatures and authorization still work after its content is removed.
/// Spec: https://spec.matrix.org/v1.19/rooms/v11/#redactions (and the earlier versions').
public enum Redaction {
    private static let alwaysKeptTopLevel: Set<String> = [
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
        "prev_events", "auth_events", "origin_server_ts",
    ]
    private static let legacyTopLevel: Set<String> = ["origin", "membership", "prev_state"]

    /// Whether a top-level member named `key` survives redaction under `rules`.
    static func keepsTopLevel(_ key: String, rules: RoomVersion.RedactionRules) -> Bool {
        alwaysKeptTopLevel.contains(key) || (rules.keepsOriginMembershipPrevState && legacyTopLevel.contains(key))
    }

    /// The redacted form of `event` under `version`'s rules.
    public static func redact(_ event: JSONObject, version: RoomVersion) -> JSONObject {
        let rules = version.redaction
        var redacted = event.filter { keepsTopLevel($0, rules: rules) }
        let type = event["type"]?.stringValue ?? ""
        let content = event["content"]?.objectValue ?? JSONObject()
        redacted["content"] = .object(redactContent(content, type: type, rules: rules))
        return redacted
    }

    /// The content that survives redaction for an event of `type`.
    public static func redactContent(_ content: JSONObject, type: String, rules: RoomVersion.RedactionRules) -> JSONObject {
        var keys: Set<String> = []
        switch type {
        case "m.room.member":
            keys = ["membership"]
            if rules.memberKeepsJoinAuthorisedVia { keys.insert("join_authorised_via_users_server") }
        case "m.room.create":
            if rules.createKeepsAllContent { return content }
            keys = ["creator"]
        case "m.room.join_rules":
            keys = ["join_rule"]
            if rules.joinRulesKeepsAllow { keys.insert("allow") }
        case "m.room.power_levels":
            keys = ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"]
            if rules.powerLevelsKeepsInvite { keys.insert("invite") }
        case "m.room.aliases":
            if rules.aliasesKeepsAliases { keys = ["aliases"] }
        case "m.room.history_visibility":
            keys = ["history_visibility"]
        case "m.room.redaction":
            if rules.redactionKeepsRedacts { keys = ["redacts"] }
        default:
            break
        }
        var kept = content.filter { keys.contains($0) }
        if type == "m.room.member", rules.memberKeepsThirdPartyInviteSigned,
           let signed = content["third_party_invite"]?["signed"] {
            kept["third_party_invite"] = ["signed": signed]
        }
        return kept
    }
}
