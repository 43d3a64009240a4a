import HearthCore
import Testing

@Suite struct PushRuleTests {
    static let alice = UserID("@alice:example.org")!

    static func context(members: Int = 5, displayName: String? = "Alice", senderLevel: Int64 = 0,
                        notifications: [String: Int64] = [:]) -> PushContext {
        PushContext(userID: alice, displayName: displayName, roomMemberCount: members,
                    powerLevels: PushPowerLevels(senderLevel: senderLevel, notificationLevels: notifications))
    }

    @Test func propertyPathVectors() throws {
        let cases = try SpecVectors.verifiedCases("property-paths")
        #expect(cases.count == 4)
        for testCase in cases {
            let path = try #require(testCase["path"]?.stringValue)
            let expected = try #require(testCase["expected_segments"]?.arrayValue).compactMap(\.stringValue)
            #expect(PropertyPath(path).segments == expected, "\(path)")
        }
        #expect(PropertyPath("content.m\\.relates_to").description == "content.m\\.relates_to")
        #expect(PropertyPath(segments: ["a.b", "c\\d", ""]).description == "a\\.b.c\\\\d.")
        #expect(PropertyPath("a\\").segments == ["a\\"])
        #expect(PropertyPath("").segments == [""])
    }

    @Test func conditionVectors() throws {
        let cases = try SpecVectors.verifiedCases("push-conditions")
        #expect(cases.count == 13)
        for testCase in cases {
            let condition = PushCondition(json: try #require(testCase["condition"]?.objectValue))
            let event = try #require(testCase["event"]?.objectValue)
            let expected = try #require(testCase["expected_match"]?.boolValue)
            if case .unknown = condition { Issue.record("condition not understood: \(condition)") }
            #expect(condition.matches(event, context: Self.context()) == expected, "\(testCase["note"] ?? nil)")
            #expect(PushCondition(json: condition.json) == condition)
        }
    }

    @Test func otherConditions() throws {
        let message: JSONObject = ["type": "m.room.message", "sender": "@bob:example.org", "room_id": "!r:example.org",
                                   "content": ["body": "Hey alice, lunch?", "n": 3, "list": [1, [2], "x", nil]]]
        let ctx = Self.context()
        #expect(PushCondition.containsDisplayName.matches(message, context: ctx))
        #expect(!PushCondition.containsDisplayName.matches(message, context: Self.context(displayName: "ali")))
        #expect(!PushCondition.containsDisplayName.matches(message, context: Self.context(displayName: nil)))
        #expect(!PushCondition.containsDisplayName.matches(message, context: Self.context(displayName: "")))
        // A display name with glob characters is matched literally.
        let starry: JSONObject = ["content": ["body": "hi *star*!"]]
        #expect(PushCondition.containsDisplayName.matches(starry, context: Self.context(displayName: "*star*")))
        #expect(!PushCondition.containsDisplayName.matches(message, context: Self.context(displayName: "*")))

        for (bound, expected) in [("5", true), ("==5", true), ("<5", false), ("<=5", true), (">4", true),
                                  (">=6", false), ("5x", false), ("", false), ("-5", false), (">", false),
                                  ("99999999999999999999", false)] {
            #expect(PushCondition.roomMemberCount(is: bound).matches(message, context: ctx) == expected, "\(bound)")
        }

        let permission = PushCondition.senderNotificationPermission(key: "room")
        #expect(!permission.matches(message, context: Self.context(senderLevel: 49)))
        #expect(permission.matches(message, context: Self.context(senderLevel: 50)))
        #expect(permission.matches(message, context: Self.context(senderLevel: 10, notifications: ["room": 10])))
        #expect(!PushCondition.senderNotificationPermission(key: "other").matches(message, context: Self.context(senderLevel: 100)))

        #expect(PushCondition.eventPropertyIs(key: "content.n", value: 3).matches(message, context: ctx))
        #expect(PushCondition.eventPropertyContains(key: "content.list", value: 1).matches(message, context: ctx))
        #expect(PushCondition.eventPropertyContains(key: "content.list", value: nil).matches(message, context: ctx))
        #expect(!PushCondition.eventPropertyContains(key: "content.list", value: 2).matches(message, context: ctx))
        #expect(!PushCondition.eventPropertyIs(key: "content.list", value: 1).matches(message, context: ctx))
        // `*` does not match a missing or non-string property.
        #expect(!PushCondition.eventMatch(key: "content.n", pattern: "*").matches(message, context: ctx))
        #expect(!PushCondition.eventMatch(key: "content.nope", pattern: "*").matches(message, context: ctx))
        // Word boundaries in content.body.
        let body: (String) -> JSONObject = { ["content": ["body": .string($0)]] }
        let cake = PushCondition.eventMatch(key: "content.body", pattern: "cake")
        #expect(cake.matches(body("I like CAKE."), context: ctx))
        #expect(!cake.matches(body("cakes"), context: ctx))
        #expect(!cake.matches(body("pancake"), context: ctx))
        #expect(!cake.matches(body("cake_"), context: ctx))
        #expect(cake.matches(body("(cake)"), context: ctx))
        // Other keys match the whole value.
        #expect(!PushCondition.eventMatch(key: "content.msgtype", pattern: "text").matches(
            ["content": ["msgtype": "m.text"]], context: ctx))

        // Unknown kinds and malformed conditions never match, and round-trip unchanged.
        for json: JSONObject in [["kind": "org.example.magic"], ["kind": "event_match", "key": "type"],
                                 ["kind": "event_property_is", "key": "a", "value": ["x"]], ["nokind": 1]] {
            let condition = PushCondition(json: json)
            #expect(condition == .unknown(json))
            #expect(!condition.matches(message, context: ctx))
            #expect(condition.json == json)
        }
    }

    @Test func defaultRules() throws {
        let defaults = PushRuleset.serverDefault(for: Self.alice)
        #expect(defaults.override.map(\.ruleID) == [
            ".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event",
            ".m.rule.is_user_mention", ".m.rule.is_room_mention", ".m.rule.tombstone", ".m.rule.reaction",
            ".m.rule.room.server_acl", ".m.rule.suppress_edits",
        ])
        #expect(defaults.underride.map(\.ruleID) == [
            ".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one", ".m.rule.message",
            ".m.rule.encrypted",
        ])
        #expect(defaults.content.isEmpty && defaults.room.isEmpty && defaults.sender.isEmpty)
        #expect(defaults.orderedRules.allSatisfy { $0.rule.isDefault && $0.rule.ruleID.hasPrefix(".") })
        // Same rules as the spec's JSON definitions.
        let mention = try #require(defaults.rule(.override, ".m.rule.is_user_mention"))
        #expect(mention.json(kind: .override) == [
            "rule_id": ".m.rule.is_user_mention", "default": true, "enabled": true,
            "conditions": [["kind": "event_property_contains", "key": "content.m\\.mentions.user_ids",
                            "value": "@alice:example.org"]],
            "actions": ["notify", ["set_tweak": "sound", "value": "default"], ["set_tweak": "highlight"]],
        ])
        // JSON round trip of the whole ruleset.
        #expect(PushRuleset(json: defaults.json) == defaults)
    }

    static func evaluate(_ event: JSONObject, _ ctx: PushContext = context(), user: PushRuleset = PushRuleset())
        -> PushEvaluation?
    {
        PushEvaluator.evaluate(event, ruleset: .merged(user: user, defaults: .serverDefault(for: alice)), context: ctx)
    }

    @Test func evaluator() throws {
        let base: JSONObject = ["type": "m.room.message", "sender": "@bob:example.org", "room_id": "!r:example.org",
                                "event_id": "$e"]
        func message(_ content: JSONObject) -> JSONObject { var e = base; e["content"] = .object(content); return e }

        let plain = try #require(Self.evaluate(message(["msgtype": "m.text", "body": "hello"])))
        #expect(plain.ruleID == ".m.rule.message" && plain.notify && !plain.highlight && plain.sound == nil)

        let oneToOne = try #require(Self.evaluate(message(["body": "hi"]), Self.context(members: 2)))
        #expect(oneToOne.ruleID == ".m.rule.room_one_to_one" && oneToOne.sound == "default")

        let mention = try #require(Self.evaluate(message(["body": "x", "m.mentions": ["user_ids": ["@alice:example.org"]]])))
        #expect(mention.ruleID == ".m.rule.is_user_mention" && mention.notify && mention.highlight)
        #expect(mention.tweaks == ["sound": "default", "highlight": true])

        let roomMention = message(["body": "@room", "m.mentions": ["room": true]])
        #expect(Self.evaluate(roomMention, Self.context(senderLevel: 50))?.ruleID == ".m.rule.is_room_mention")
        #expect(Self.evaluate(roomMention, Self.context(senderLevel: 0))?.ruleID == ".m.rule.message")

        let notice = try #require(Self.evaluate(message(["msgtype": "m.notice", "body": "bot"])))
        #expect(notice.ruleID == ".m.rule.suppress_notices" && !notice.notify)

        let edit = try #require(Self.evaluate(message(["body": "* fixed", "m.relates_to": ["rel_type": "m.replace"]])))
        #expect(edit.ruleID == ".m.rule.suppress_edits" && !edit.notify)

        var invite = base
        invite["type"] = "m.room.member"
        invite["state_key"] = "@alice:example.org"
        invite["content"] = ["membership": "invite"]
        #expect(Self.evaluate(invite)?.ruleID == ".m.rule.invite_for_me")
        invite["state_key"] = "@carol:example.org"
        #expect(Self.evaluate(invite)?.ruleID == ".m.rule.member_event")

        var tombstone = base
        tombstone["type"] = "m.room.tombstone"
        tombstone["content"] = ["body": "upgraded"]
        #expect(Self.evaluate(tombstone) == nil)  // not a state event: no state_key condition holds
        tombstone["state_key"] = ""
        #expect(Self.evaluate(tombstone)?.highlight == true)

        var encrypted = base
        encrypted["type"] = "m.room.encrypted"
        encrypted["content"] = ["algorithm": "m.megolm.v1.aes-sha2"]
        #expect(Self.evaluate(encrypted, Self.context(members: 2))?.ruleID == ".m.rule.encrypted_room_one_to_one")
        #expect(Self.evaluate(encrypted)?.ruleID == ".m.rule.encrypted")

        var call = base
        call["type"] = "m.call.invite"
        call["content"] = [:]
        #expect(Self.evaluate(call)?.sound == "ring")

        var topic = base
        topic["type"] = "m.room.topic"
        topic["state_key"] = ""
        topic["content"] = ["topic": "t"]
        #expect(Self.evaluate(topic) == nil)  // no rule matches: no notification

        // The user's own events never notify.
        var own = message(["body": "hello", "m.mentions": ["user_ids": ["@alice:example.org"]]])
        own["sender"] = "@alice:example.org"
        #expect(Self.evaluate(own) == nil)
    }

    @Test func userRulesAndMaster() throws {
        let event: JSONObject = ["type": "m.room.message", "sender": "@spam:example.org", "room_id": "!r:example.org",
                                 "content": ["body": "Time for CAKE!"]]
        // A content rule beats the default underride.
        let cake = PushRuleset(content: [PushRule(ruleID: "cake", pattern: "cake", actions: [.notify, .sound("cake.wav")])])
        #expect(Self.evaluate(event, user: cake)?.sound == "cake.wav")
        // A sender rule with no actions silences the sender; a room rule likewise.
        let mute = PushRuleset(sender: [PushRule(ruleID: "@spam:example.org", actions: [])])
        let muted = try #require(Self.evaluate(event, user: mute))
        #expect(muted.kind == .sender && !muted.notify)
        let room = PushRuleset(room: [PushRule(ruleID: "!r:example.org", actions: [.notify, .highlight])])
        #expect(Self.evaluate(event, user: room)?.highlight == true)
        // A user override sits after the master rule; enabling master silences everything.
        let master = PushRuleset(override: [PushRule(ruleID: ".m.rule.master", isDefault: true, enabled: true, actions: []),
                                            PushRule(ruleID: "mine", actions: [.notify])])
        let merged = PushRuleset.merged(user: master, defaults: .serverDefault(for: Self.alice))
        #expect(merged.override.prefix(3).map(\.ruleID) == [".m.rule.master", "mine", ".m.rule.suppress_notices"])
        #expect(Self.evaluate(event, user: master)?.ruleID == ".m.rule.master")
        // Disabled rules never match; `dont_notify` is stripped.
        let disabled = PushRuleset(override: [PushRule(ruleID: "off", enabled: false, actions: [.notify, .highlight])])
        #expect(Self.evaluate(event, user: disabled)?.ruleID == ".m.rule.message")
        let legacy = try #require(PushRule(json: ["rule_id": "x", "actions": ["dont_notify", "coalesce"]]))
        #expect(legacy.actions.isEmpty)
        // highlight with an explicit false value.
        let noHighlight = PushEvaluation(kind: .override, ruleID: "x", actions: [.notify, .setTweak("highlight", value: false)])
        #expect(!noHighlight.highlight)
    }

    @Test func evaluatesPDUs() throws {
        let key = try SigningTests.specKey()
        let server = try #require(ServerName("example.org"))
        let builder = EventBuilder(roomVersion: .v11, roomID: RoomID("!r:example.org"), type: "m.room.message",
                                   sender: try #require(UserID("@bob:example.org")),
                                   content: ["body": "hi", "msgtype": "m.text"], prevEvents: [], authEvents: [],
                                   depth: 1, originServerTS: 1)
        let pdu = try builder.build(server: server, key: key)
        #expect(PushEvaluator.evaluate(pdu, context: Self.context(members: 2))?.ruleID == ".m.rule.room_one_to_one")
    }
}
