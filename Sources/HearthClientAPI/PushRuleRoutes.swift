import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Push rules.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#push-rules-api
enum PushRuleRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        let rules = hs.pushRules
        let base = "/pushrules/global/{kind}/{ruleId}"
        @Sendable func locate(_ request: MatrixRequest) throws -> (PushRuleKind, String) {
            guard let kind = PushRuleKind(rawValue: try request.path("kind")) else { throw MatrixError.invalidParam("Unknown rule kind") }
            return (kind, try request.path("ruleId"))
        }
        @Sendable func existing(_ ruleset: PushRuleset, _ kind: PushRuleKind, _ id: String) throws -> PushRule {
            guard let rule = ruleset.rule(kind, id) else { throw MatrixError.notFound("Unknown push rule") }
            return rule
        }
        return [
            e.authed(.get, ClientEndpoint.client("/pushrules/")) { _, requester in
                MatrixResponse(json: ["global": .object(try await rules.ruleset(for: requester.userID).json)])
            },
            e.authed(.get, ClientEndpoint.client("/pushrules/global/")) { _, requester in
                MatrixResponse(json: try await rules.ruleset(for: requester.userID).json)
            },
            e.authed(.get, ClientEndpoint.client(base)) { request, requester in
                let (kind, id) = try locate(request)
                return MatrixResponse(json: try existing(try await rules.ruleset(for: requester.userID), kind, id).json(kind: kind))
            },
            e.authed(.delete, ClientEndpoint.client(base)) { request, requester in
                let (kind, id) = try locate(request)
                var ruleset = try await rules.ruleset(for: requester.userID)
                let rule = try existing(ruleset, kind, id)
                guard !rule.isDefault else { throw MatrixError(.unknown, status: 400, "Cannot delete a server-default rule") }
                ruleset[kind].removeAll { $0.ruleID == id }
                try await rules.save(ruleset, for: requester.userID)
                hs.notifier.notify(rooms: [], users: [requester.userID.rawValue])
                return .empty
            },
            e.authed(.put, ClientEndpoint.client(base)) { request, requester in
                let (kind, id) = try locate(request)
                guard !id.hasPrefix(".") else { throw MatrixError.invalidParam("Rule IDs starting with . are reserved") }
                var body = try request.jsonBody()
                body["rule_id"] = .string(id)
                guard let actions = body["actions"]?.arrayValue else { throw MatrixError.missingParam("Missing actions") }
                if kind == .content, body["pattern"]?.stringValue == nil { throw MatrixError.missingParam("Missing pattern") }
                if let conditions = body["conditions"],
                   conditions.arrayValue?.allSatisfy({ $0["kind"]?.stringValue != nil }) != true {
                    throw MatrixError.badJSON("conditions must be a list of objects with a kind")
                }
                guard var rule = PushRule(json: body) else { throw MatrixError.badJSON("Invalid push rule") }
                rule.actions = actions.compactMap(PushAction.init(json:))
                var ruleset = try await rules.ruleset(for: requester.userID)
                if let current = ruleset.rule(kind, id), current.isDefault {
                    throw MatrixError(.unknown, status: 400, "Cannot replace a server-default rule")
                }
                ruleset[kind].removeAll { $0.ruleID == id }
                var index = ruleset[kind].firstIndex { $0.isDefault } ?? ruleset[kind].count
                if let before = request.query("before") {
                    guard let position = ruleset[kind].firstIndex(where: { $0.ruleID == before }) else {
                        throw MatrixError.notFound("Unknown rule \(before)")
                    }
                    index = position
                } else if let after = request.query("after") {
                    guard let position = ruleset[kind].firstIndex(where: { $0.ruleID == after }) else {
                        throw MatrixError.notFound("Unknown rule \(after)")
                    }
                    index = position + 1
                }
                ruleset[kind].insert(rule, at: min(index, ruleset[kind].count))
                try await rules.save(ruleset, for: requester.userID)
                hs.notifier.notify(rooms: [], users: [requester.userID.rawValue])
                return .empty
            },
            e.authed(.get, ClientEndpoint.client(base + "/enabled")) { request, requester in
                let (kind, id) = try locate(request)
                return MatrixResponse(json: ["enabled": .bool(try existing(try await rules.ruleset(for: requester.userID), kind, id).enabled)])
            },
            e.authed(.put, ClientEndpoint.client(base + "/enabled")) { request, requester in
                let (kind, id) = try locate(request)
                guard let enabled = try request.jsonBody().optionalBool("enabled") else { throw MatrixError.missingParam("Missing enabled") }
                var ruleset = try await rules.ruleset(for: requester.userID)
                _ = try existing(ruleset, kind, id)
                if let index = ruleset[kind].firstIndex(where: { $0.ruleID == id }) { ruleset[kind][index].enabled = enabled }
                try await rules.save(ruleset, for: requester.userID)
                hs.notifier.notify(rooms: [], users: [requester.userID.rawValue])
                return .empty
            },
            e.authed(.get, ClientEndpoint.client(base + "/actions")) { request, requester in
                let (kind, id) = try locate(request)
                let rule = try existing(try await rules.ruleset(for: requester.userID), kind, id)
                return MatrixResponse(json: ["actions": .array(rule.actions.map(\.json))])
            },
            e.authed(.put, ClientEndpoint.client(base + "/actions")) { request, requester in
                let (kind, id) = try locate(request)
                guard let actions = try request.jsonBody().optionalArray("actions") else { throw MatrixError.missingParam("Missing actions") }
                var ruleset = try await rules.ruleset(for: requester.userID)
                _ = try existing(ruleset, kind, id)
                if let index = ruleset[kind].firstIndex(where: { $0.ruleID == id }) {
                    ruleset[kind][index].actions = actions.compactMap(PushAction.init(json:))
                }
                try await rules.save(ruleset, for: requester.userID)
                hs.notifier.notify(rooms: [], users: [requester.userID.rawValue])
                return .empty
            },
        ]
    }
}
