public import HearthCore
public import HearthHTTP
public import HearthHomeserver
import Hummingbird

/// Joining, leaving, knocking and inviting across servers.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#joining-rooms,
/// https://spec.matrix.org/v1.19/server-server-api/#knocking-rooms,
/// https://spec.matrix.org/v1.19/server-server-api/#inviting-to-a-room,
/// https://spec.matrix.org/v1.19/server-server-api/#leaving-rooms-rejecting-invites
enum MembershipRoutes {
    static func routes(_ e: FederationEndpoint, _ federation: RoomFederation) -> [Route] {
        @Sendable func make(_ membership: String) -> Route {
            e.signed(.get, FederationEndpoint.federation("/make_\(membership)/{roomId}/{userId}")) { request, origin in
                let versions = membership == "leave" ? nil : (request.query["ver"] ?? [])
                return MatrixResponse(json: try await federation.makeMembership(
                    membership, roomID: try request.roomID(), user: try request.userID(), versions: versions,
                    origin: origin))
            }
        }
        /// v1 answers are `[200, body]`, a shape kept for servers that still use it.
        @Sendable func send(_ membership: String, version: String,
                            _ handle: @escaping @Sendable (RoomID, EventID, JSONObject, ServerName) async throws -> JSONObject) -> Route {
            e.signed(.put, FederationEndpoint.federation("/send_\(membership)/{roomId}/{eventId}", versions: version)) { request, origin in
                let body = try await handle(try request.roomID(), try request.eventID(), try request.jsonBody(), origin)
                return MatrixResponse(json: version == "v1" ? [200, .object(body)] : .object(body))
            }
        }
        return [
            make("join"), make("leave"), make("knock"),
            send("join", version: "v2") { try await federation.sendJoin(roomID: $0, eventID: $1, json: $2, origin: $3) },
            send("join", version: "v1") { try await federation.sendJoin(roomID: $0, eventID: $1, json: $2, origin: $3) },
            send("leave", version: "v2") { try await federation.sendLeave(roomID: $0, eventID: $1, json: $2, origin: $3) },
            send("leave", version: "v1") { try await federation.sendLeave(roomID: $0, eventID: $1, json: $2, origin: $3) },
            send("knock", version: "v1") { try await federation.sendKnock(roomID: $0, eventID: $1, json: $2, origin: $3) },
            e.signed(.put, FederationEndpoint.federation("/invite/{roomId}/{eventId}", versions: "v2")) { request, origin in
                MatrixResponse(json: try await federation.receiveInvite(
                    roomID: try request.roomID(), eventID: try request.eventID(), body: try request.jsonBody(),
                    origin: origin))
            },
            // v1 sends the bare event (room versions 1 and 2 only) and answers `[200, {event}]`.
            e.signed(.put, FederationEndpoint.federation("/invite/{roomId}/{eventId}", versions: "v1")) { request, origin in
                let event = try request.jsonBody()
                let body: JSONObject = ["room_version": "1", "event": .object(event),
                                        "invite_room_state": event["unsigned"]?["invite_room_state"] ?? []]
                let answer = try await federation.receiveInvite(roomID: try request.roomID(),
                                                                eventID: try request.eventID(), body: body, origin: origin)
                return MatrixResponse(json: [200, .object(answer)])
            },
        ]
    }
}
