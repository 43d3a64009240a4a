import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging
import Hummingbird

/// Builds routes with the cross-cutting parts done once: who the caller is, rate limits, and
/// the `/v3` + `/r0` path variants clients still use.
struct ClientEndpoint: Sendable {
    let homeserver: Homeserver
    let limiter: RateLimiter

    enum Access {
        /// No token needed (a token, if present, is ignored).
        case open
        /// A valid access token is needed.
        case user
        /// A token is needed and guests are refused with M_GUEST_ACCESS_FORBIDDEN.
        case nonGuest
    }

    /// `/_matrix/client/v3/…` and its legacy `r0` twin.
    static func client(_ path: String) -> [String] {
        ["/_matrix/client/v3" + path, "/_matrix/client/r0" + path]
    }

    func open(_ method: HTTPRequest.Method, _ paths: [String], rateLimited: Bool = false, maxBodySize: Int = Route.defaultMaxBodySize,
              _ handler: @escaping @Sendable (MatrixRequest) async throws -> MatrixResponse) -> Route {
        Route(method, paths, maxBodySize: maxBodySize) { request in
            if rateLimited { try limiter.check(key: "ip:\(request.remoteAddress ?? "?")") }
            return try await handler(request)
        }
    }

    func authed(_ method: HTTPRequest.Method, _ paths: [String], access: Access = .user, rateLimited: Bool = false,
                maxBodySize: Int = Route.defaultMaxBodySize,
                _ handler: @escaping @Sendable (MatrixRequest, Requester) async throws -> MatrixResponse) -> Route {
        Route(method, paths, maxBodySize: maxBodySize) { request in
            guard let token = request.accessToken else { throw MatrixError.missingToken() }
            let requester = try await homeserver.accounts.authenticate(accessToken: token)
            if access == .nonGuest, requester.isGuest {
                throw MatrixError(.guestAccessForbidden, status: 403, "Guest access is not allowed for this endpoint")
            }
            if rateLimited, !requester.isAdmin { try limiter.check(key: "user:\(requester.userID)") }
            return try await handler(request, requester)
        }
    }
}

extension ClientEndpoint {
    /// Endpoints where authentication is optional: a token, if given, must be valid.
    func optionallyAuthed(_ method: HTTPRequest.Method, _ paths: [String], rateLimited: Bool = false,
                          _ handler: @escaping @Sendable (MatrixRequest, Requester?) async throws -> MatrixResponse) -> Route {
        Route(method, paths) { request in
            let requester: Requester? = if let token = request.accessToken {
                try await homeserver.accounts.authenticate(accessToken: token)
            } else {
                nil
            }
            if rateLimited { try limiter.check(key: requester.map { "user:\($0.userID)" } ?? "ip:\(request.remoteAddress ?? "?")") }
            return try await handler(request, requester)
        }
    }
}

