import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Creating rooms and changing membership.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#room-membership
enum RoomMembershipRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        /// A room ID or alias, and the servers to reach the room through: `via` (and the older
        /// `server_name`) query parameters, or those the alias's directory names.
        @Sendable func resolve(_ request: MatrixRequest) async throws -> (RoomID, [ServerName]) {
            let text = try request.path("roomIdOrAlias")
            let via = ((request.query["via"] ?? []) + (request.query["server_name"] ?? [])).compactMap(ServerName.init)
            if let roomID = RoomID(text) { return (roomID, via) }
            guard let alias = RoomAlias(text) else { throw MatrixError.invalidParam("Invalid room ID or alias \(text)") }
            let (roomID, servers) = try await hs.federation.resolveAlias(alias)
            return (roomID, via + servers)
        }
        @Sendable func target(_ body: JSONObject) throws -> UserID {
            let text = try body.requireString("user_id")
            guard let user = UserID(text) else { throw MatrixError.invalidParam("Invalid user_id") }
            return user
        }
        /// `targetFrom`: the memberships the target may have for the change to make sense (a
        /// kick needs someone in the room, an unban someone banned); the auth rules allow more.
        @Sendable func membershipChange(_ path: String, _ membership: String, selfTarget: Bool = false,
                                        targetFrom: Set<String>? = nil) -> Route {
            e.authed(.post, ClientEndpoint.client("/rooms/{roomId}/\(path)"), access: membership == "leave" && selfTarget ? .user : .nonGuest,
                     rateLimited: true) { request, requester in
                let roomID = try request.roomID()
                let body = try request.jsonBody()
                let user = selfTarget ? requester.userID : try target(body)
                if let targetFrom, try await hs.rooms.exists(roomID) {
                    let current = try await hs.rooms.membership(of: user, in: roomID) ?? "leave"
                    guard targetFrom.contains(current) else {
                        throw MatrixError.forbidden("\(user) cannot be \(path == "kick" ? "kicked" : "unbanned"): their membership is \(current)")
                    }
                }
                try await hs.rooms.setMembership(roomID, sender: requester.userID, target: user, membership: membership,
                                                 reason: try body.optionalString("reason"))
                return .empty
            }
        }
        return [
            e.authed(.post, ClientEndpoint.client("/createRoom"), access: .nonGuest, rateLimited: true) { request, requester in
                let account = try await hs.accounts.account(requester.userID)
                let roomID = try await hs.rooms.createRoom(try request.jsonBody(), by: requester.userID,
                                                           creatorProfile: (account?.displayName, account?.avatarURL))
                return MatrixResponse(json: ["room_id": .string(roomID.rawValue)])
            },
            e.authed(.post, ClientEndpoint.client("/join/{roomIdOrAlias}"), rateLimited: true) { request, requester in
                let (roomID, via) = try await resolve(request)
                try await hs.join(roomID, as: requester, reason: try request.jsonBody().optionalString("reason"), via: via)
                return MatrixResponse(json: ["room_id": .string(roomID.rawValue)])
            },
            e.authed(.post, ClientEndpoint.client("/rooms/{roomId}/join"), rateLimited: true) { request, requester in
                let roomID = try request.roomID()
                try await hs.join(roomID, as: requester, reason: try request.jsonBody().optionalString("reason"))
                return MatrixResponse(json: ["room_id": .string(roomID.rawValue)])
            },
            e.authed(.post, ClientEndpoint.client("/knock/{roomIdOrAlias}"), access: .nonGuest, rateLimited: true) { request, requester in
                let (roomID, via) = try await resolve(request)
                try await hs.rooms.setMembership(roomID, sender: requester.userID, target: requester.userID, membership: "knock",
                                                 reason: try request.jsonBody().optionalString("reason"), via: via)
                return MatrixResponse(json: ["room_id": .string(roomID.rawValue)])
            },
            e.authed(.post, ClientEndpoint.client("/rooms/{roomId}/invite"), access: .nonGuest, rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                if body["medium"] != nil, body["user_id"] == nil {
                    throw MatrixError(.unknown, status: 400, "Third-party invites are not supported by this server")
                }
                let roomID = try request.roomID()
                try await hs.rooms.requireJoined(requester.userID, roomID)
                try await hs.rooms.setMembership(roomID, sender: requester.userID, target: try target(body), membership: "invite",
                                                 reason: try body.optionalString("reason"))
                return .empty
            },
            membershipChange("leave", "leave", selfTarget: true),
            membershipChange("kick", "leave", targetFrom: ["join", "invite", "knock"]),
            membershipChange("ban", "ban"),
            membershipChange("unban", "leave", targetFrom: ["ban"]),
            e.authed(.post, ClientEndpoint.client("/rooms/{roomId}/forget"), rateLimited: true) { request, requester in
                try await hs.rooms.forget(try request.roomID(), user: requester.userID)
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/rooms/{roomId}/upgrade"), access: .nonGuest, rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                var creators: [UserID] = []
                for value in try body.optionalArray("additional_creators") ?? [] {
                    guard let text = value.stringValue, let user = UserID(text) else {
                        throw MatrixError.badJSON("additional_creators must be a list of user IDs")
                    }
                    creators.append(user)
                }
                let account = try await hs.accounts.account(requester.userID)
                let replacement = try await hs.rooms.upgrade(try request.roomID(), to: try body.requireString("new_version"),
                                                             additionalCreators: creators, by: requester.userID,
                                                             profile: (account?.displayName, account?.avatarURL))
                return MatrixResponse(json: ["replacement_room": .string(replacement.rawValue)])
            },
            e.authed(.get, ["/_matrix/client/v1/mutual_rooms"], rateLimited: true) { request, requester in
                guard let text = request.query("user_id") else { throw MatrixError.missingParam("Missing user_id") }
                guard let other = UserID(text), other != requester.userID else {
                    throw MatrixError.invalidParam("user_id must be another valid user ID")
                }
                let offset: Int
                if let from = request.query("from") {
                    guard from.hasPrefix("mr"), let value = Int(from.dropFirst(2)), value >= 0 else {
                        throw MatrixError.invalidParam("Invalid from token")
                    }
                    offset = value
                } else {
                    offset = 0
                }
                let mine = Set(try await hs.rooms.memberships(of: requester.userID).filter { $0.membership == "join" }.map(\.roomID))
                let shared = try await hs.rooms.memberships(of: other).filter { $0.membership == "join" && mine.contains($0.roomID) }
                    .map(\.roomID.rawValue).sorted()
                let page = Array(shared.dropFirst(offset).prefix(100))
                var json: JSONObject = ["joined": JSONValue(page), "count": .int(Int64(shared.count))]
                if offset + page.count < shared.count { json["next_batch"] = .string("mr\(offset + page.count)") }
                return MatrixResponse(json: json)
            },
            e.authed(.get, ClientEndpoint.client("/joined_rooms")) { _, requester in
                let joined = try await hs.rooms.memberships(of: requester.userID).filter { $0.membership == "join" }
                return MatrixResponse(json: ["joined_rooms": JSONValue(joined.map(\.roomID.rawValue))])
            },
        ]
    }
}
