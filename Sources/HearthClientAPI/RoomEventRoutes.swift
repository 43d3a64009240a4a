import HearthCore
import HearthHTTP
import HearthHomeserver
import Hummingbird
import Logging
import HearthStorage

/// Sending events, setting state, redacting.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#sending-events-to-a-room
enum RoomEventRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        @Sendable func putState(_ request: MatrixRequest, _ requester: Requester, stateKey: String) async throws -> MatrixResponse {
            let roomID = try request.roomID()
            let type = try request.path("eventType")
            let content = try request.jsonBody()
            let eventID: EventID
            if type == "m.room.member" {
                guard let target = UserID(stateKey) else { throw MatrixError.badJSON("Member state key must be a user ID") }
                let membership = try content.requireString("membership")
                var extra = content
                extra["membership"] = nil
                eventID = try await hs.rooms.setMembership(roomID, sender: requester.userID, target: target,
                                                           membership: membership, extra: extra)
            } else {
                try await hs.rooms.requireJoined(requester.userID, roomID)
                eventID = try await hs.rooms.send(roomID, sender: requester.userID, type: type, stateKey: stateKey, content: content)
            }
            return MatrixResponse(json: ["event_id": .string(eventID.rawValue)])
        }
        return [
            e.authed(.put, ClientEndpoint.client("/rooms/{roomId}/send/{eventType}/{txnId}"), rateLimited: true) { request, requester in
                let roomID = try request.roomID()
                try await hs.rooms.requireJoined(requester.userID, roomID)
                let transaction = ClientTransaction(userID: requester.userID, deviceID: requester.deviceID,
                                                    transactionID: try request.path("txnId"))
                let eventID = try await hs.rooms.send(roomID, sender: requester.userID, type: try request.path("eventType"),
                                                      content: try request.jsonBody(), transaction: transaction)
                return MatrixResponse(json: ["event_id": .string(eventID.rawValue)])
            },
            e.authed(.put, ClientEndpoint.client("/rooms/{roomId}/state/{eventType}/{stateKey}"), rateLimited: true) { request, requester in
                try await putState(request, requester, stateKey: try request.path("stateKey"))
            },
            e.authed(.put, ClientEndpoint.client("/rooms/{roomId}/state/{eventType}"), rateLimited: true) { request, requester in
                try await putState(request, requester, stateKey: "")
            },
            e.authed(.put, ClientEndpoint.client("/rooms/{roomId}/redact/{eventId}/{txnId}"), rateLimited: true) { request, requester in
                let transaction = ClientTransaction(userID: requester.userID, deviceID: requester.deviceID,
                                                    transactionID: "redact:" + (try request.path("txnId")))
                let eventID = try await hs.rooms.redact(try request.roomID(), sender: requester.userID, target: try request.eventID(),
                                                        reason: try request.jsonBody().optionalString("reason"),
                                                        transaction: transaction)
                return MatrixResponse(json: ["event_id": .string(eventID.rawValue)])
            },
        ]
    }
}

/// Reading a room: events, state, history, members.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#getting-events-for-a-room
enum RoomReadRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        @Sendable func stateContent(_ request: MatrixRequest, _ requester: Requester, stateKey: String) async throws -> MatrixResponse {
            let roomID = try request.roomID()
            let key = StateKey(try request.path("eventType"), stateKey)
            let state = try await hs.rooms.visibleState(roomID, for: requester.userID)
            guard let id = state[key], let event = try await hs.rooms.pdus([id])[id] else {
                throw MatrixError.notFound("Event not found.")
            }
            if request.query("format") == "event" {
                guard let stored = try await hs.rooms.storedEvents([id])[id] else { throw MatrixError.notFound("Event not found.") }
                return MatrixResponse(json: try await hs.rooms.clientEvent(stored, for: requester))
            }
            return MatrixResponse(json: event.content)
        }
        @Sendable func filter(_ request: MatrixRequest) throws -> EventFilter {
            guard let text = request.query("filter") else { return .all }
            guard let value = try? JSONValue.parse(text), let object = value.objectValue else {
                throw MatrixError.badJSON("filter must be a JSON object")
            }
            return EventFilter(object)
        }
        return [
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/event/{eventId}")) { request, requester in
                MatrixResponse(json: try await hs.rooms.event(try request.eventID(), in: try request.roomID(), for: requester))
            },
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/state")) { request, requester in
                let state = try await hs.rooms.visibleState(try request.roomID(), for: requester.userID)
                let events = try await hs.rooms.storedEvents(Array(state.values)).values.sorted { $0.stream < $1.stream }
                return MatrixResponse(json: .array(try await hs.rooms.clientEvents(events, for: requester)))
            },
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/state/{eventType}/{stateKey}")) { request, requester in
                try await stateContent(request, requester, stateKey: try request.path("stateKey"))
            },
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/state/{eventType}")) { request, requester in
                try await stateContent(request, requester, stateKey: "")
            },
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/messages")) { request, requester in
                let direction = request.query("dir") ?? "b"
                guard direction == "b" || direction == "f" else { throw MatrixError.invalidParam("dir must be b or f") }
                let from = try request.paginationToken("from")
                let to = try request.paginationToken("to")
                let page = try await hs.rooms.messages(try request.roomID(), for: requester.userID, from: from, to: to,
                                                       backwards: direction == "b", limit: try request.queryInt("limit") ?? 10,
                                                       filter: try filter(request))
                var json: JSONObject = [
                    "chunk": .array(try await hs.rooms.clientEvents(page.chunk, for: requester)),
                    "start": .string(page.start),
                ]
                if let end = page.end { json["end"] = .string(end) }
                if !page.state.isEmpty { json["state"] = .array(try await hs.rooms.clientEvents(page.state, for: requester)) }
                return MatrixResponse(json: json)
            },
            e.authed(.get, ["/_matrix/client/v1/rooms/{roomId}/timestamp_to_event"]) { request, requester in
                guard let ts = try request.queryInt("ts") else { throw MatrixError.missingParam("Missing ts") }
                guard let direction = request.query("dir") else { throw MatrixError.missingParam("Missing dir") }
                guard direction == "f" || direction == "b" else { throw MatrixError.invalidParam("dir must be f or b") }
                let event = try await hs.rooms.event(in: try request.roomID(), nearest: Int64(ts), forwards: direction == "f",
                                                     for: requester.userID)
                return MatrixResponse(json: ["event_id": .string(event.pdu.eventID.rawValue),
                                             "origin_server_ts": .int(event.pdu.originServerTS)])
            },
            // A room's snapshot, from before /sync: the latest messages, state and the user's room data.
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/initialSync")) { request, requester in
                let roomID = try request.roomID()
                let state = try await hs.rooms.visibleState(roomID, for: requester.userID)
                let page = try await hs.rooms.messages(roomID, for: requester.userID, from: nil, to: nil, backwards: true,
                                                       limit: try request.queryInt("limit") ?? 20, filter: .all)
                let stateEvents = try await hs.rooms.storedEvents(Array(state.values)).values.sorted { $0.stream < $1.stream }
                let roomData = try await hs.storage.userData.accountData(requester.userID, changedAfter: 0).filter { $0.roomID == roomID }
                var messages: JSONObject = ["chunk": .array(try await hs.rooms.clientEvents(page.chunk.reversed(), for: requester)),
                                            "end": .string(page.start)]
                messages["start"] = .string(page.end ?? page.start)
                var json: JSONObject = [
                    "room_id": .string(roomID.rawValue),
                    "messages": .object(messages),
                    "state": .array(try await hs.rooms.clientEvents(stateEvents, for: requester)),
                    "account_data": .array(roomData.map { ["type": .string($0.type), "content": .object($0.content)] }),
                    "presence": [],
                    "visibility": .string(try await hs.storage.rooms.room(roomID)?.isPublic == true ? "public" : "private"),
                ]
                if let membership = try await hs.rooms.membership(of: requester.userID, in: roomID) {
                    json["membership"] = .string(membership)
                }
                return MatrixResponse(json: json)
            },
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/context/{eventId}")) { request, requester in
                let context = try await hs.rooms.context(try request.roomID(), eventID: try request.eventID(), for: requester.userID,
                                                         limit: try request.queryInt("limit") ?? 10, filter: try filter(request))
                return MatrixResponse(json: [
                    "event": .object(try await hs.rooms.clientEvent(context.event, for: requester)),
                    "events_before": .array(try await hs.rooms.clientEvents(context.before, for: requester)),
                    "events_after": .array(try await hs.rooms.clientEvents(context.after, for: requester)),
                    "start": .string(context.start),
                    "end": .string(context.end),
                    "state": .array(try await hs.rooms.clientEvents(context.state, for: requester)),
                ])
            },
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/members")) { request, requester in
                let memberships = ["join", "invite", "knock", "leave", "ban"]
                for key in ["membership", "not_membership"] {
                    if let value = request.query(key), !memberships.contains(value) {
                        throw MatrixError.invalidParam("\(key) must be one of \(memberships.joined(separator: ", "))")
                    }
                }
                let at = try request.paginationToken("at")
                let events = try await hs.rooms.memberEvents(try request.roomID(), for: requester.userID, at: at,
                                                             membership: request.query("membership"),
                                                             notMembership: request.query("not_membership"))
                return MatrixResponse(json: ["chunk": .array(try await hs.rooms.clientEvents(events, for: requester))])
            },
            e.authed(.get, ClientEndpoint.client("/rooms/{roomId}/joined_members")) { request, requester in
                let roomID = try request.roomID()
                try await hs.rooms.requireJoined(requester.userID, roomID)
                let state = try await hs.rooms.currentState(roomID)
                let events = try await hs.rooms.pdus(state.filter { $0.key.type == "m.room.member" }.map(\.value))
                var joined = JSONObject()
                for event in events.values where event.content["membership"]?.stringValue == "join" {
                    var entry = JSONObject()
                    if let name = event.content["displayname"]?.stringValue { entry["display_name"] = .string(name) }
                    if let avatar = event.content["avatar_url"]?.stringValue { entry["avatar_url"] = .string(avatar) }
                    joined[event.stateKey ?? ""] = .object(entry)
                }
                return MatrixResponse(json: ["joined": .object(joined)])
            },
        ]
    }
}
