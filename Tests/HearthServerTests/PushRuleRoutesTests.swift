import Foundation
import HearthCore
import Testing

/// The push rules API.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#push-rules-api
@Suite(.serialized) struct PushRuleRoutesTests {
    static func ids(_ response: TestServer.Response, _ kind: String) -> [String] {
        (response.json["global"]?[kind]?.arrayValue ?? []).compactMap { $0["rule_id"]?.stringValue }
    }

    @Test func defaultRuleset() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let all = try await server.get(TestServer.v3("/pushrules/"), alice)
        all.expectOK()
        #expect(Self.ids(all, "override").first == ".m.rule.master")
        #expect(Self.ids(all, "override").contains(".m.rule.is_user_mention"))
        #expect(Self.ids(all, "underride").contains(".m.rule.message"))
        #expect(all.json["global"]?["content"]?.arrayValue != nil && all.json["global"]?["room"] == [] && all.json["global"]?["sender"] == [])
        let global = try await server.get(TestServer.v3("/pushrules/global/"), alice)
        #expect(global.json["override"] == all.json["global"]?["override"])
        let master = try await server.get(TestServer.v3("/pushrules/global/override/.m.rule.master"), alice)
        #expect(master.json["rule_id"] == ".m.rule.master" && master.json["default"] == true && master.json["enabled"] == false)
        // The ruleset is also in the initial sync as m.push_rules account data.
        let sync = try await server.sync(alice)
        #expect(sync["account_data"]?.events.contains { $0["type"] == "m.push_rules" && $0["content"]?["global"]?["override"] != nil } == true)
    }

    @Test func addOrderAndDeleteRules() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        let base = TestServer.v3("/pushrules/global")
        try await server.put(base + "/room/\(room.urlPathEncoded)", alice, ["actions": ["dont_notify"]]).expectOK()
        try await server.put(base + "/override/first", alice, [
            "actions": ["notify"], "conditions": [["kind": "event_match", "key": "content.body", "pattern": "urgent"]],
        ]).expectOK()
        try await server.put(base + "/override/before-first?before=first", alice, ["actions": [], "conditions": []]).expectOK()
        try await server.put(base + "/override/after-first?after=first", alice, ["actions": [], "conditions": []]).expectOK()
        try await server.put(base + "/content/words", alice, ["actions": ["notify", ["set_tweak": "highlight"]], "pattern": "cardiology"]).expectOK()
        let all = try await server.get(TestServer.v3("/pushrules/"), alice)
        let overrides = Self.ids(all, "override")
        // User rules come before the server's defaults (except .m.rule.master, always first), in
        // the requested order.
        #expect(Array(overrides.prefix(4)) == [".m.rule.master", "before-first", "first", "after-first"])
        #expect(overrides.firstIndex(of: ".m.rule.suppress_notices")! > overrides.firstIndex(of: "after-first")!)
        #expect(Self.ids(all, "room") == [room])
        let words = try await server.get(base + "/content/words", alice)
        #expect(words.json["pattern"] == "cardiology" && words.json["default"] == false && words.json["enabled"] == true)
        // Replacing keeps one rule.
        try await server.put(base + "/override/first", alice, ["actions": [], "conditions": []]).expectOK()
        #expect(Self.ids(try await server.get(TestServer.v3("/pushrules/"), alice), "override").filter { $0 == "first" }.count == 1)
        try await server.delete(base + "/override/first", alice).expectOK()
        try await server.get(base + "/override/first", alice).expectError(404, "M_NOT_FOUND")
        try await server.delete(base + "/override/first", alice).expectError(404, "M_NOT_FOUND")
        // Errors.
        try await server.delete(base + "/override/.m.rule.master", alice).expectError(400, "M_UNKNOWN")
        try await server.put(base + "/override/.mine", alice, ["actions": []]).expectError(400, "M_INVALID_PARAM")
        try await server.put(base + "/sideways/x", alice, ["actions": []]).expectError(400, "M_INVALID_PARAM")
        try await server.put(base + "/override/x", alice, [:]).expectError(400, "M_MISSING_PARAM")
        try await server.put(base + "/content/x", alice, ["actions": []]).expectError(400, "M_MISSING_PARAM")
        try await server.put(base + "/override/x?before=ghost", alice, ["actions": []]).expectError(404, "M_NOT_FOUND")
        try await server.put(base + "/override/x", alice, ["actions": [], "conditions": "always"]).expectError(400, "M_BAD_JSON")
        try await server.get(base + "/override/.m.rule.nonexistent", alice).expectError(404, "M_NOT_FOUND")
    }

    @Test func enabledAndActions() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let base = TestServer.v3("/pushrules/global/override/.m.rule.master")
        #expect(try await server.get(base + "/enabled", alice).json == ["enabled": false])
        try await server.put(base + "/enabled", alice, ["enabled": true]).expectOK()
        #expect(try await server.get(base + "/enabled", alice).json == ["enabled": true])
        #expect(try await server.get(base, alice).json["enabled"] == true)
        try await server.put(base + "/enabled", alice, [:]).expectError(400, "M_MISSING_PARAM")
        let message = TestServer.v3("/pushrules/global/underride/.m.rule.message")
        try await server.put(message + "/actions", alice, ["actions": ["notify", ["set_tweak": "sound", "value": "ping"]]]).expectOK()
        let actions = try await server.get(message + "/actions", alice)
        #expect(actions.json["actions"] == ["notify", ["set_tweak": "sound", "value": "ping"]])
        try await server.put(message + "/actions", alice, [:]).expectError(400, "M_MISSING_PARAM")
        try await server.get(TestServer.v3("/pushrules/global/underride/nope/actions"), alice).expectError(404, "M_NOT_FOUND")
        try await server.put(TestServer.v3("/pushrules/global/underride/nope/enabled"), alice, ["enabled": true]).expectError(404, "M_NOT_FOUND")
        // Changes reach the user's other sessions through sync.
        let since = try #require(try await server.sync(alice)["next_batch"]?.stringValue)
        try await server.put(base + "/enabled", alice, ["enabled": false]).expectOK()
        let sync = try await server.sync(alice, since: since)
        let rules = sync["account_data"]?.events.first { $0["type"] == "m.push_rules" }
        let master = rules?["content"]?["global"]?["override"]?.arrayValue?.first { $0["rule_id"] == ".m.rule.master" }
        #expect(master?["enabled"] == false)
    }
}
