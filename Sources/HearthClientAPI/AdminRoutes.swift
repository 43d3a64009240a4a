import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird

/// Synapse's admin endpoints that operators' tools rely on, with Synapse's request and
/// response shapes: registration tokens (invite-only registration).
/// Spec (Synapse admin API): https://element-hq.github.io/synapse/latest/usage/administration/admin_api/registration_tokens.html
enum AdminRoutes {
    static let tokens = "/_synapse/admin/v1/registration_tokens"

    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        @Sendable func requireAdmin(_ requester: Requester) throws {
            guard requester.isAdmin else { throw MatrixError.forbidden("You are not a server admin") }
        }
        @Sendable func json(_ token: RegistrationToken) -> JSONValue {
            ["token": .string(token.token), "uses_allowed": token.usesAllowed.map { .int(Int64($0)) } ?? .null,
             "pending": 0, "completed": .int(Int64(token.completed)), "expiry_time": token.expiresAt.map(JSONValue.int) ?? .null]
        }
        @Sendable func find(_ name: String) async throws -> RegistrationToken {
            guard let token = try await hs.storage.accounts.registrationTokens().first(where: { $0.token == name }) else {
                throw MatrixError.notFound("No such registration token: \(name)")
            }
            return token
        }
        /// `uses_allowed` and `expiry_time`: absent (unchanged), null (none) or a number.
        @Sendable func optionalNumber(_ body: JSONObject, _ key: String) throws -> Int64?? {
            guard let value = body[key] else { return .none }
            if value == .null { return .some(nil) }
            guard let number = value.intValue, number >= 0 else { throw MatrixError.invalidParam("\(key) must be a non-negative integer or null") }
            return .some(number)
        }
        return [
            e.authed(.get, [tokens]) { request, requester in
                try requireAdmin(requester)
                let now = hs.clock.now()
                var list = try await hs.storage.accounts.registrationTokens()
                if let valid = try request.queryBool("valid") {
                    list = list.filter { token in
                        let usable = (token.usesAllowed.map { token.completed < $0 } ?? true) && (token.expiresAt.map { $0 > now } ?? true)
                        return usable == valid
                    }
                }
                return MatrixResponse(json: ["registration_tokens": .array(list.map(json))])
            },
            e.authed(.post, [tokens + "/new"]) { request, requester in
                try requireAdmin(requester)
                let body = try request.jsonBody()
                var name = try body.optionalString("token")
                if let given = name {
                    guard (1...64).contains(given.count), given.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._~-".contains($0)) }) else {
                        throw MatrixError.invalidParam("token must be 1 to 64 characters of A-Z, a-z, 0-9, ., _, ~ and -")
                    }
                } else {
                    let length = body["length"]?.intValue ?? 16
                    guard (1...64).contains(length) else { throw MatrixError.invalidParam("length must be between 1 and 64") }
                    name = Tokens.letters(Int(length))
                }
                let uses = try optionalNumber(body, "uses_allowed") ?? nil
                let expiry = try optionalNumber(body, "expiry_time") ?? nil
                if let expiry, expiry <= hs.clock.now() { throw MatrixError.invalidParam("expiry_time must be in the future") }
                do {
                    try await hs.accounts.createRegistrationToken(name!, usesAllowed: uses.map(Int.init), expiresAt: expiry)
                } catch StorageError.conflict {
                    throw MatrixError.invalidParam("The token \(name!) already exists")
                }
                return MatrixResponse(json: json(try await find(name!)))
            },
            e.authed(.get, [tokens + "/{token}"]) { request, requester in
                try requireAdmin(requester)
                return MatrixResponse(json: json(try await find(try request.path("token"))))
            },
            e.authed(.put, [tokens + "/{token}"]) { request, requester in
                try requireAdmin(requester)
                let name = try request.path("token")
                let body = try request.jsonBody()
                let uses = try optionalNumber(body, "uses_allowed")
                let expiry = try optionalNumber(body, "expiry_time")
                guard try await hs.storage.accounts.updateRegistrationToken(name, usesAllowed: uses.map { $0.map(Int.init) }, expiresAt: expiry)
                else { throw MatrixError.notFound("No such registration token: \(name)") }
                return MatrixResponse(json: json(try await find(name)))
            },
            e.authed(.delete, [tokens + "/{token}"]) { request, requester in
                try requireAdmin(requester)
                let name = try request.path("token")
                guard try await hs.storage.accounts.deleteRegistrationToken(name) else {
                    throw MatrixError.notFound("No such registration token: \(name)")
                }
                return .empty
            },
        ]
    }
}
