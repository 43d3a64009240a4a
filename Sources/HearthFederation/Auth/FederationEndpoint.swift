public import HearthCore
public import HearthHTTP
public import HearthStorage
public import Hummingbird
import Logging

/// Builds federation routes with the cross-cutting parts done once: X-Matrix authentication
/// of the origin, the egress gate on every response (errors included), and the server ACL of
/// room-scoped requests.
///
/// ```swift
/// e.signed(.get, FederationEndpoint.federation("/state/{roomId}")) { request, origin in
///     try await e.requireServerACL(origin, roomID: roomID)
///     ...
/// }
/// ```
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#request-authentication
public struct FederationEndpoint: Sendable {
    public let serverName: ServerName
    public let keyRing: KeyRing
    public let gate: EgressGate
    private let roomACL: @Sendable (RoomID) async throws -> ServerACL?
    private let originSeen: @Sendable (ServerName) async -> Void
    /// The clock (ms since the epoch) the endpoint's routes use.
    public let now: @Sendable () -> Milliseconds

    /// - Parameters:
    ///   - roomACL: the `m.room.server_acl` of a room's current state (nil: none), for
    ///     `requireServerACL`.
    ///   - originSeen: called after each authenticated request with its origin (the outbound
    ///     sender uses it to retry a destination that was backing off at once).
    public init(serverName: ServerName, keyRing: KeyRing, gate: EgressGate,
                roomACL: @escaping @Sendable (RoomID) async throws -> ServerACL? = { _ in nil },
                originSeen: @escaping @Sendable (ServerName) async -> Void = { _ in },
                now: @escaping @Sendable () -> Milliseconds) {
        self.now = now
        self.serverName = serverName
        self.keyRing = keyRing
        self.gate = gate
        self.roomACL = roomACL
        self.originSeen = originSeen
    }

    /// `/_matrix/federation/<version><path>` for each version given (default `v1`).
    public static func federation(_ path: String, versions: String...) -> [String] {
        (versions.isEmpty ? ["v1"] : versions).map { "/_matrix/federation/" + $0 + path }
    }

    /// A route that requires a valid X-Matrix signature; the handler gets the origin.
    public func signed(_ method: HTTPRequest.Method, _ paths: [String], maxBodySize: Int = Route.defaultMaxBodySize,
                       _ handler: @escaping @Sendable (MatrixRequest, ServerName) async throws -> MatrixResponse) -> Route {
        Route(method, paths, maxBodySize: maxBodySize) { request in
            let origin: ServerName
            do { origin = try await authenticate(request) } catch {
                return await gate.screenResponse(MatrixResponse(error: (error as? MatrixError) ?? .unknown("\(error)")), to: nil, method: request.method.rawValue,
                                                 path: request.uri)
            }
            await originSeen(origin)
            // The organization policy also decides who may ask: a request whose answer would be
            // refused (a join of a local-only room, a server outside the allowlist, an invite
            // from a server whose invites are not accepted) is refused before the handler runs,
            // so nothing it carries is stored.
            let admission = await gate.preview(EgressItem(kind: .response, destination: origin, method: request.method.rawValue,
                                                          path: request.uri, body: .none))
            if case .refuse(let reason) = admission.decision {
                return await gate.screenResponse(MatrixResponse(error: .forbidden("Refused by this server's policy: \(reason)")),
                                                 to: origin, method: request.method.rawValue, path: request.uri)
            }
            let response = await Self.run { try await handler(request, origin) }
            return await gate.screenResponse(response, to: origin, method: request.method.rawValue, path: request.uri)
        }
    }

    /// A route without authentication (server keys, version); responses still pass the gate.
    public func open(_ method: HTTPRequest.Method, _ paths: [String], maxBodySize: Int = Route.defaultMaxBodySize,
                     _ handler: @escaping @Sendable (MatrixRequest) async throws -> MatrixResponse) -> Route {
        Route(method, paths, maxBodySize: maxBodySize) { request in
            let response = await Self.run { try await handler(request) }
            return await gate.screenResponse(response, to: nil, method: request.method.rawValue, path: request.uri)
        }
    }

    /// Runs a handler, turning its errors into the error response the router would give.
    private static func run(_ body: () async throws -> MatrixResponse) async -> MatrixResponse {
        do { return try await body() } catch let error as any MatrixErrorConvertible {
            return MatrixResponse(error: error.matrixError)
        } catch {
            return MatrixResponse(error: .unknown("Internal server error"))
        }
    }

    /// The origin of a request, from its X-Matrix `Authorization` header(s). Missing,
    /// malformed, wrongly addressed, unverifiable or badly signed: 401 M_UNAUTHORIZED.
    public func authenticate(_ request: MatrixRequest) async throws(MatrixError) -> ServerName {
        let headers = request.headers[values: .authorization].filter { $0.lowercased().hasPrefix("x-matrix ") }
        guard !headers.isEmpty else { throw Self.unauthorized("Missing X-Matrix Authorization header") }
        var content: JSONValue? = nil
        if !request.body.isEmpty {
            do { content = try JSONValue.parse(request.body) } catch { throw .notJSON("Request body is not JSON") }
        }
        var origin: ServerName? = nil
        var failure = "no valid signature"
        for header in headers {
            let auth: XMatrixAuthorization
            do { auth = try XMatrixAuthorization(header: header) } catch { throw error.matrixError }
            if let origin, origin != auth.origin { throw Self.unauthorized("X-Matrix headers name different origins") }
            origin = auth.origin
            let key: VerifyKey
            do { key = try await keyRing.verifyKey(for: auth.origin, keyID: auth.keyID, validAt: nil, current: true) } catch {
                failure = "\(error)"
                continue
            }
            do {
                try auth.verify(method: request.method.rawValue, uri: request.uri, content: content, receiver: serverName, key: key)
                return auth.origin
            } catch {
                // A wrong destination is final; a bad signature may be one of several headers.
                if case .wrongDestination = error { throw error.matrixError }
                failure = error.description
            }
        }
        throw Self.unauthorized("Signature verification failed: \(failure)")
    }

    static func unauthorized(_ message: String) -> MatrixError { MatrixError(.unauthorized, status: 401, message) }

    /// Refuses (403 M_FORBIDDEN) a request from `origin` about a room whose server ACL denies
    /// it. Spec: https://spec.matrix.org/v1.19/server-server-api/#server-access-control-lists-acls
    /// lists the endpoints that must apply it.
    public func requireServerACL(_ origin: ServerName, roomID: RoomID) async throws {
        try Self.requireAllowed(origin, by: try await roomACL(roomID))
    }

    /// The ACL decision alone, for callers that already hold the room's ACL.
    public static func requireAllowed(_ origin: ServerName, by acl: ServerACL?) throws(MatrixError) {
        guard ServerACL.allows(origin, acl: acl) else {
            throw .forbidden("Server \(origin.rawValue) is denied by the room's server ACL")
        }
    }
}
