public import HearthCore

/// The server-server endpoints this server calls, as typed requests over `RemoteHomeservers`.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/
extension RemoteHomeservers {
    /// `GET /_matrix/federation/v1/make_join/{roomId}/{userId}?ver=…` (also make_knock, make_leave).
    func makeMembership(_ kind: String, at destination: ServerName, room: RoomID, user: UserID,
                        versions: [RoomVersion]) async throws -> JSONObject {
        let query = kind == "leave" ? [] : versions.map { ("ver", $0.identifier) }
        let path = "/_matrix/federation/v1/make_\(kind)/\(RequestPath.segment(room.rawValue))/\(RequestPath.segment(user.rawValue))"
        return try await object(FederationRequest(method: "GET", path: path, query: query), from: destination)
    }

    /// `PUT /_matrix/federation/v2/send_join|send_leave/…` and `/v1/send_knock/…`.
    func sendMembership(_ kind: String, at destination: ServerName, room: RoomID, event: PDU,
                        omitMembers: Bool = false) async throws -> JSONObject {
        let version = kind == "knock" ? "v1" : "v2"
        let path = "/_matrix/federation/\(version)/send_\(kind)/\(RequestPath.segment(room.rawValue))/\(RequestPath.segment(event.eventID.rawValue))"
        let query = omitMembers ? [("omit_members", "true")] : []
        return try await object(FederationRequest(method: "PUT", path: path, query: query, body: event.federationJSON),
                                from: destination)
    }

    /// `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}`.
    func invite(at destination: ServerName, event: PDU, inviteRoomState: [JSONValue]) async throws -> JSONObject {
        let path = "/_matrix/federation/v2/invite/\(RequestPath.segment(event.roomID.rawValue))/\(RequestPath.segment(event.eventID.rawValue))"
        let body: JSONObject = [
            "room_version": .string(event.roomVersion.identifier),
            "event": .object(event.federationJSON),
            "invite_room_state": .array(inviteRoomState),
        ]
        return try await object(FederationRequest(method: "PUT", path: path, body: body), from: destination)
    }

    /// `POST /_matrix/federation/v1/get_missing_events/{roomId}`.
    func getMissingEvents(at destination: ServerName, room: RoomID, earliest: [EventID], latest: [EventID], limit: Int,
                          minDepth: Int64) async throws -> [JSONObject] {
        let body: JSONObject = [
            "earliest_events": JSONValue(earliest.map(\.rawValue)),
            "latest_events": JSONValue(latest.map(\.rawValue)),
            "limit": .int(Int64(limit)),
            "min_depth": .int(minDepth),
        ]
        let response = try await object(FederationRequest(method: "POST", path: "/_matrix/federation/v1/get_missing_events/\(RequestPath.segment(room.rawValue))",
                                                          body: body), from: destination)
        return response["events"]?.arrayValue?.compactMap(\.objectValue) ?? []
    }

    /// `GET /_matrix/federation/v1/state_ids/{roomId}?event_id=…`: the state before the event.
    func stateIDs(at destination: ServerName, room: RoomID, event: EventID) async throws -> (state: [EventID], authChain: [EventID]) {
        let response = try await object(FederationRequest(method: "GET", path: "/_matrix/federation/v1/state_ids/\(RequestPath.segment(room.rawValue))",
                                                          query: [("event_id", event.rawValue)]), from: destination)
        func ids(_ key: String) -> [EventID] { response[key]?.arrayValue?.compactMap { $0.stringValue.flatMap(EventID.init) } ?? [] }
        return (ids("pdu_ids"), ids("auth_chain_ids"))
    }

    /// `GET /_matrix/federation/v1/state/{roomId}?event_id=…`.
    func state(at destination: ServerName, room: RoomID, event: EventID) async throws -> (state: [JSONObject], authChain: [JSONObject]) {
        let response = try await object(FederationRequest(method: "GET", path: "/_matrix/federation/v1/state/\(RequestPath.segment(room.rawValue))",
                                                          query: [("event_id", event.rawValue)]), from: destination)
        return (response["pdus"]?.arrayValue?.compactMap(\.objectValue) ?? [],
                response["auth_chain"]?.arrayValue?.compactMap(\.objectValue) ?? [])
    }

    /// `GET /_matrix/federation/v1/event/{eventId}`.
    func event(at destination: ServerName, id: EventID) async throws -> JSONObject? {
        let response = try await object(FederationRequest(method: "GET", path: "/_matrix/federation/v1/event/\(RequestPath.segment(id.rawValue))"),
                                        from: destination)
        return response["pdus"]?.arrayValue?.first?.objectValue
    }

    /// `GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}`.
    func eventAuth(at destination: ServerName, room: RoomID, event: EventID) async throws -> [JSONObject] {
        let path = "/_matrix/federation/v1/event_auth/\(RequestPath.segment(room.rawValue))/\(RequestPath.segment(event.rawValue))"
        let response = try await object(FederationRequest(method: "GET", path: path), from: destination)
        return response["auth_chain"]?.arrayValue?.compactMap(\.objectValue) ?? []
    }

    /// `GET /_matrix/federation/v1/backfill/{roomId}?v=…&limit=…`.
    func backfill(at destination: ServerName, room: RoomID, from: [EventID], limit: Int) async throws -> [JSONObject] {
        let query = from.map { ("v", $0.rawValue) } + [("limit", String(limit))]
        let response = try await object(FederationRequest(method: "GET", path: "/_matrix/federation/v1/backfill/\(RequestPath.segment(room.rawValue))",
                                                          query: query), from: destination)
        return response["pdus"]?.arrayValue?.compactMap(\.objectValue) ?? []
    }

    /// `GET /_matrix/federation/v1/query/directory?room_alias=…`.
    func queryDirectory(at destination: ServerName, alias: RoomAlias) async throws -> (RoomID, [ServerName]) {
        let response = try await object(FederationRequest(method: "GET", path: "/_matrix/federation/v1/query/directory",
                                                          query: [("room_alias", alias.rawValue)]), from: destination)
        guard let room = response["room_id"]?.stringValue.flatMap(RoomID.init) else {
            throw MatrixError.notFound("Room alias \(alias) not found")
        }
        return (room, response["servers"]?.arrayValue?.compactMap { $0.stringValue.flatMap(ServerName.init) } ?? [])
    }

    /// `GET /_matrix/federation/v1/query/profile?user_id=…[&field=…]`.
    func queryProfile(at destination: ServerName, user: UserID, field: String?) async throws -> JSONObject {
        var query = [("user_id", user.rawValue)]
        if let field { query.append(("field", field)) }
        return try await object(FederationRequest(method: "GET", path: "/_matrix/federation/v1/query/profile", query: query),
                                from: destination)
    }

    func object(_ request: FederationRequest, from destination: ServerName) async throws -> JSONObject {
        guard let object = try await send(request, to: destination).objectValue else {
            throw MatrixError(.unknown, status: 502, "\(destination) answered \(request.path) with a non-object")
        }
        return object
    }
}

/// Path segments for federation URLs.
enum RequestPath {
    /// Percent-encodes everything but the unreserved characters (RFC 3986), UTF-8 byte by byte.
    static func segment(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return out
    }
}
