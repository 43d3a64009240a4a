public import HearthCore
public import HearthStorage
import Synchronization

/// Queries other servers make about this server's users and rooms.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#querying-for-information
extension RoomFederation {
    /// `GET /_matrix/federation/v1/query/profile?user_id=…&field=…`.
    public func queryProfile(_ user: UserID, field: String?) async throws -> JSONObject {
        guard isLocal(user), let account = try await accounts.account(user), !account.isDeactivated else {
            throw MatrixError.notFound("Profile not found")
        }
        var profile: JSONObject = [:]
        if field == nil || field == "displayname", let name = account.displayName { profile["displayname"] = .string(name) }
        if field == nil || field == "avatar_url", let avatar = account.avatarURL { profile["avatar_url"] = .string(avatar) }
        if let field, field != "displayname", field != "avatar_url" { throw MatrixError.invalidParam("Unknown profile field \(field)") }
        return profile
    }

    /// `GET /_matrix/federation/v1/query/directory?room_alias=…`: the room and servers to join it through.
    public func queryDirectory(_ alias: RoomAlias) async throws -> JSONObject {
        guard alias.server == serverName, let roomID = try await store.roomID(forAlias: alias) else {
            throw MatrixError.notFound("Room alias \(alias) not found")
        }
        var servers = try await serversInRoom(roomID)
        servers.remove(serverName)
        return ["room_id": .string(roomID.rawValue), "servers": JSONValue([serverName.rawValue] + servers.map(\.rawValue).sorted())]
    }

    /// `GET|POST /_matrix/federation/v1/publicRooms`.
    public func publicRooms(limit: Int?, since: String?, searchTerm: String?) async throws -> JSONObject {
        try await rooms.publicRoomsPage(limit: limit ?? 100, since: Int(since ?? "0") ?? 0, searchTerm: searchTerm)
    }

    /// `GET /_matrix/federation/v1/hierarchy/{roomId}`: a space and its direct children this
    /// server can describe. Rooms the requesting server may not peek into are listed as
    /// inaccessible.
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#spaces
    public func hierarchy(_ roomID: RoomID, suggestedOnly: Bool, origin: ServerName) async throws -> JSONObject {
        guard try await isAccessible(roomID, to: origin) else { throw MatrixError.notFound("Room not found or not accessible") }
        var room = try await rooms.summary(roomID)
        var childrenState: [JSONValue] = []
        var childIDs: [RoomID] = []
        let state = try await rooms.currentState(roomID)
        let events = try await rooms.pdus(state.filter { $0.key.type == "m.space.child" }.map(\.value))
        for event in events.values.sorted(by: { ($0.stateKey ?? "") < ($1.stateKey ?? "") }) {
            guard let via = event.content["via"]?.arrayValue, !via.isEmpty, let child = event.stateKey.flatMap(RoomID.init) else { continue }
            if suggestedOnly, event.content["suggested"]?.boolValue != true { continue }
            childrenState.append(["type": "m.space.child", "state_key": .string(child.rawValue), "content": .object(event.content),
                                  "sender": .string(event.sender.rawValue), "origin_server_ts": .int(event.originServerTS)])
            childIDs.append(child)
        }
        room["children_state"] = .array(childrenState)
        var children: [JSONValue] = []
        var inaccessible: [JSONValue] = []
        for child in childIDs {
            if try await isAccessible(child, to: origin) {
                var summary = try await rooms.summary(child)
                summary["children_state"] = []
                children.append(.object(summary))
            } else if try await rooms.exists(child) {
                inaccessible.append(.string(child.rawValue))
            }
        }
        return ["room": .object(room), "children": .array(children), "inaccessible_children": .array(inaccessible)]
    }

    /// Whether a server may see a room's summary: public or world-readable, or it is in the room.
    func isAccessible(_ roomID: RoomID, to origin: ServerName) async throws -> Bool {
        guard try await rooms.exists(roomID), try await rooms.currentState(roomID)[.create] != nil,
              try await isAllowedByACL(origin, in: roomID)
        else { return false }
        let summary = try await rooms.summary(roomID)
        if summary["join_rule"]?.stringValue == "public" || summary["world_readable"]?.boolValue == true { return true }
        return try await serversInRoom(roomID).contains(origin)
    }
}

/// OpenID tokens: a short-lived proof of identity a user hands to a third party, which asks
/// this server whom it names (`/_matrix/federation/v1/openid/userinfo`). Kept in memory; they
/// last an hour and a restart invalidates them.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#openid
public final class OpenIDTokens: Sendable {
    private let tokens = Mutex<[String: (UserID, Milliseconds)]>([:])
    private let clock: any WallClock
    public static let lifetime: Milliseconds = 3_600_000

    init(clock: any WallClock) { self.clock = clock }

    /// `POST /_matrix/client/v3/user/{userId}/openid/request_token`.
    public func issue(for user: UserID, serverName: ServerName) -> JSONObject {
        let token = Tokens.random(bytes: 24)
        let now = clock.now()
        tokens.withLock { tokens in
            tokens = tokens.filter { $0.value.1 > now }
            tokens[token] = (user, now + Self.lifetime)
        }
        return ["access_token": .string(token), "token_type": "Bearer", "matrix_server_name": .string(serverName.rawValue),
                "expires_in": .int(Self.lifetime / 1000)]
    }

    /// The user a valid token names: `{"sub": user}`, or M_UNKNOWN_TOKEN.
    public func userInfo(_ token: String) throws -> JSONObject {
        let now = clock.now()
        guard let (user, expiry) = tokens.withLock({ $0[token] }), expiry > now else {
            throw MatrixError(.unknownToken, status: 401, "Unknown or expired OpenID token")
        }
        return ["sub": .string(user.rawValue)]
    }
}

/// What clients of this server ask about other servers' users and aliases.
extension RoomFederation {
    /// The room an alias names and servers to join it through: from this server's directory,
    /// or from the alias's server (`/query/directory`).
    public func resolveAlias(_ alias: RoomAlias) async throws -> (RoomID, [ServerName]) {
        if alias.server == serverName {
            guard let roomID = try await store.roomID(forAlias: alias) else { throw MatrixError.notFound("Room alias \(alias) not found") }
            var servers = try await serversInRoom(roomID)
            servers.remove(serverName)
            return (roomID, [serverName] + servers.sorted())
        }
        do {
            let (roomID, servers) = try await remotes.queryDirectory(at: alias.server, alias: alias)
            return (roomID, servers.isEmpty ? [alias.server] : servers)
        } catch let error as MatrixError where error.code == .notFound {
            throw error
        } catch {
            throw MatrixError.notFound("Room alias \(alias) could not be resolved: \(error)")
        }
    }

    /// A remote user's profile, from their server (`/query/profile`).
    public func remoteProfile(_ user: UserID, field: String? = nil) async throws -> JSONObject {
        do {
            return try await remotes.queryProfile(at: user.server, user: user, field: field)
        } catch let error as MatrixError where error.code == .notFound {
            throw error
        } catch {
            throw MatrixError.notFound("Profile of \(user) not available: \(error)")
        }
    }
}
