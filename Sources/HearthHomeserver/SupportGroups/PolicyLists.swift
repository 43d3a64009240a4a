public import HearthCore
import HearthStorage

/// Moderation policy lists (MSC2313, `m.policy.rule.user|room|server`): rooms of ban rules the
/// server subscribes to (`policy_lists` in the configuration) and applies to joins and
/// invites. Rules are read from the lists' current state each time, so a rule added or
/// removed in a list takes effect at once. Only rooms this server holds are read.
public struct PolicyListMatch: Sendable, Equatable {
    public var list: RoomID
    public var entity: String
    public var reason: String?
}

extension Rooms {
    static let policyRuleTypes = ["user": "m.policy.rule.user", "room": "m.policy.rule.room", "server": "m.policy.rule.server"]

    /// The first `m.ban` rule of a subscribed list whose entity (a glob) matches `value`.
    func policyListBan(_ kind: String, _ value: String) async throws -> PolicyListMatch? {
        guard let type = Self.policyRuleTypes[kind] else { return nil }
        for list in policy.policyLists where try await exists(list) {
            let state = try await currentState(list)
            let keys = state.keys.filter { $0.type == type || $0.type == "org.matrix.mjolnir.rule.\(kind)" }
            for (_, event) in try await stateEvents(state, keys: keys) {
                let content = event.content
                guard let entity = content["entity"]?.stringValue, content["recommendation"]?.stringValue == "m.ban"
                        || content["recommendation"]?.stringValue == "org.matrix.mjolnir.ban" else { continue }
                if GlobPattern(entity).matches(value) {
                    return PolicyListMatch(list: list, entity: entity, reason: content["reason"]?.stringValue)
                }
            }
        }
        return nil
    }

    /// Refuses a user (or their server) that a subscribed policy list bans, whatever the room
    /// (createRoom's invitees, before the room exists).
    func checkPolicyLists(user: UserID) async throws {
        guard !policy.policyLists.isEmpty else { return }
        for (kind, value) in [("user", user.rawValue), ("server", user.server.hostname)] {
            if let match = try await policyListBan(kind, value) {
                throw MatrixError.forbidden("Banned by the policy list \(match.list) (\(match.entity))" + (match.reason.map { ": \($0)" } ?? ""))
            }
        }
    }

    /// Refuses a join or invite that a subscribed policy list bans: the user, their server, or
    /// the room itself.
    func checkPolicyLists(roomID: RoomID, sender: UserID, target: UserID, membership: String) async throws {
        guard !policy.policyLists.isEmpty, membership == "join" || membership == "invite" || membership == "knock" else { return }
        var checks: [(String, String)] = [("user", target.rawValue), ("server", target.server.hostname), ("room", roomID.rawValue)]
        if sender != target { checks += [("user", sender.rawValue), ("server", sender.server.hostname)] }
        for (kind, value) in checks {
            if let match = try await policyListBan(kind, value) {
                throw MatrixError.forbidden("Banned by the policy list \(match.list) (\(match.entity))"
                                            + (match.reason.map { ": \($0)" } ?? ""))
            }
        }
    }
}
