import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Typing, receipts, read markers and presence.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#typing-notifications
enum EphemeralRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            e.authed(.put, ClientEndpoint.client("/rooms/{roomId}/typing/{userId}"), rateLimited: true) { request, requester in
                guard try request.userID() == requester.userID else { throw MatrixError.forbidden("Cannot set typing for other users") }
                let roomID = try request.roomID()
                try await hs.rooms.requireJoined(requester.userID, roomID)
                let body = try request.jsonBody()
                guard let typing = try body.optionalBool("typing") else { throw MatrixError.missingParam("Missing typing") }
                await hs.setTyping(requester.userID, in: roomID, typing: typing, timeout: try body.optionalInt("timeout") ?? 30_000)
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/rooms/{roomId}/receipt/{receiptType}/{eventId}"), rateLimited: true) { request, requester in
                let type = try request.path("receiptType")
                guard ["m.read", "m.read.private", "m.fully_read"].contains(type) else {
                    throw MatrixError.invalidParam("Unknown receipt type \(type)")
                }
                let roomID = try request.roomID()
                let eventID = try request.eventID()
                if type == "m.fully_read" {
                    try await hs.setReadMarker(requester.userID, roomID: roomID, eventID: eventID)
                } else {
                    let thread = try request.jsonBody().optionalString("thread_id")
                    if let thread, thread != "main", EventID(thread) == nil {
                        throw MatrixError.invalidParam("thread_id must be main or a thread root's event ID")
                    }
                    try await hs.setReceipt(requester.userID, roomID: roomID, eventID: eventID, type: type, threadID: thread)
                }
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/rooms/{roomId}/read_markers"), rateLimited: true) { request, requester in
                let roomID = try request.roomID()
                let body = try request.jsonBody()
                func id(_ key: String) throws -> EventID? {
                    guard let text = try body.optionalString(key) else { return nil }
                    guard let id = EventID(text) else { throw MatrixError.invalidParam("Invalid \(key)") }
                    return id
                }
                if let fullyRead = try id("m.fully_read") {
                    try await hs.setReadMarker(requester.userID, roomID: roomID, eventID: fullyRead)
                }
                if let read = try id("m.read") {
                    try await hs.setReceipt(requester.userID, roomID: roomID, eventID: read, type: "m.read", threadID: nil)
                }
                if let read = try id("m.read.private") {
                    try await hs.setReceipt(requester.userID, roomID: roomID, eventID: read, type: "m.read.private", threadID: nil)
                }
                return .empty
            },
            e.authed(.get, ClientEndpoint.client("/presence/{userId}/status")) { request, requester in
                let user = try request.userID()
                if user.server == hs.serverName, try await hs.accounts.account(user) == nil {
                    throw MatrixError.notFound("Unknown user")
                }
                guard let presence = hs.ephemeral.presence(of: user) else {
                    return MatrixResponse(json: ["presence": "offline"])
                }
                var json: JSONObject = ["presence": .string(presence.state),
                                        "last_active_ago": .int(max(0, hs.clock.now() - presence.lastActive)),
                                        "currently_active": .bool(presence.state == "online")]
                if let message = presence.statusMessage { json["status_msg"] = .string(message) }
                _ = requester
                return MatrixResponse(json: json)
            },
            e.authed(.put, ClientEndpoint.client("/presence/{userId}/status"), rateLimited: true) { request, requester in
                guard try request.userID() == requester.userID else { throw MatrixError.forbidden("Cannot set presence for other users") }
                let body = try request.jsonBody()
                let state = try body.requireString("presence")
                guard ["online", "offline", "unavailable"].contains(state) else { throw MatrixError.invalidParam("Invalid presence") }
                await hs.setPresence(requester.userID, state: state, statusMessage: try body.optionalString("status_msg"))
                return .empty
            },
        ]
    }
}

/// Account data and room tags.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#client-config
enum AccountDataRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        let store = hs.storage.userData
        @Sendable func own(_ request: MatrixRequest, _ requester: Requester) throws {
            guard try request.userID() == requester.userID else { throw MatrixError.forbidden("Cannot access other users' account data") }
        }
        @Sendable func checkType(_ type: String) throws {
            if type == "m.fully_read" || type == "m.push_rules" {
                throw MatrixError(.badJSON, status: 405, "Cannot set \(type) through this API")
            }
        }
        return [
            e.authed(.get, ClientEndpoint.client("/user/{userId}/account_data/{type}")) { request, requester in
                try own(request, requester)
                guard let content = try await store.accountData(requester.userID, roomID: nil, type: try request.path("type")) else {
                    throw MatrixError.notFound("Account data not found")
                }
                return MatrixResponse(json: content)
            },
            e.authed(.put, ClientEndpoint.client("/user/{userId}/account_data/{type}")) { request, requester in
                try own(request, requester)
                let type = try request.path("type")
                try checkType(type)
                try await hs.setAccountData(requester.userID, roomID: nil, type: type, content: try request.jsonBody())
                return .empty
            },
            e.authed(.get, ClientEndpoint.client("/user/{userId}/rooms/{roomId}/account_data/{type}")) { request, requester in
                try own(request, requester)
                guard let content = try await store.accountData(requester.userID, roomID: try request.roomID(), type: try request.path("type")) else {
                    throw MatrixError.notFound("Account data not found")
                }
                return MatrixResponse(json: content)
            },
            e.authed(.put, ClientEndpoint.client("/user/{userId}/rooms/{roomId}/account_data/{type}")) { request, requester in
                try own(request, requester)
                let type = try request.path("type")
                try checkType(type)
                try await hs.setAccountData(requester.userID, roomID: try request.roomID(), type: type, content: try request.jsonBody())
                return .empty
            },
            e.authed(.get, ClientEndpoint.client("/user/{userId}/rooms/{roomId}/tags")) { request, requester in
                try own(request, requester)
                let tags = try await store.accountData(requester.userID, roomID: try request.roomID(), type: "m.tag")?["tags"]
                return MatrixResponse(json: ["tags": tags ?? [:]])
            },
            e.authed(.put, ClientEndpoint.client("/user/{userId}/rooms/{roomId}/tags/{tag}")) { request, requester in
                try own(request, requester)
                let roomID = try request.roomID()
                var tags = try await store.accountData(requester.userID, roomID: roomID, type: "m.tag")?["tags"]?.objectValue ?? [:]
                let tag = try request.jsonBody()
                if let order = tag["order"], order.numberValue == nil { throw MatrixError.badJSON("order must be a number") }
                tags[try request.path("tag")] = .object(tag)
                try await hs.setAccountData(requester.userID, roomID: roomID, type: "m.tag", content: ["tags": .object(tags)])
                return .empty
            },
            e.authed(.delete, ClientEndpoint.client("/user/{userId}/rooms/{roomId}/tags/{tag}")) { request, requester in
                try own(request, requester)
                let roomID = try request.roomID()
                var tags = try await store.accountData(requester.userID, roomID: roomID, type: "m.tag")?["tags"]?.objectValue ?? [:]
                tags[try request.path("tag")] = nil
                try await hs.setAccountData(requester.userID, roomID: roomID, type: "m.tag", content: ["tags": .object(tags)])
                return .empty
            },
        ]
    }
}

/// Reporting content to the server's moderators.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#reporting-content
enum ReportingRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            e.authed(.post, ClientEndpoint.client("/rooms/{roomId}/report/{eventId}"), rateLimited: true) { request, requester in
                let roomID = try request.roomID()
                let eventID = try request.eventID()
                // Reporting an event the reporter cannot see reveals nothing: it is "not found" either way.
                do {
                    _ = try await hs.rooms.event(eventID, in: roomID, for: requester)
                } catch let error as MatrixError where error.code == .forbidden {
                    throw MatrixError.notFound("Event not found or not visible to you")
                }
                let body = try request.jsonBody()
                try await hs.storage.userData.saveReport(reporter: requester.userID, roomID: roomID, eventID: eventID, userID: nil,
                                                         reason: try body.optionalString("reason"), score: try body.optionalInt("score"),
                                                         at: hs.clock.now())
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/rooms/{roomId}/report"), rateLimited: true) { request, requester in
                let roomID = try request.roomID()
                guard try await hs.rooms.exists(roomID) else { throw MatrixError.notFound("Room not found") }
                try await hs.storage.userData.saveReport(reporter: requester.userID, roomID: roomID, eventID: nil, userID: nil,
                                                         reason: try request.jsonBody().optionalString("reason"), score: nil,
                                                         at: hs.clock.now())
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/users/{userId}/report"), rateLimited: true) { request, requester in
                let user = try request.userID()
                if user.server == hs.serverName, try await hs.accounts.account(user) == nil { throw MatrixError.notFound("User not found") }
                try await hs.storage.userData.saveReport(reporter: requester.userID, roomID: nil, eventID: nil, userID: user,
                                                         reason: try request.jsonBody().optionalString("reason"), score: nil,
                                                         at: hs.clock.now())
                return .empty
            },
        ]
    }
}
