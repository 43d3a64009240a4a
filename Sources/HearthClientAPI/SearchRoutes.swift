import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Server-side search of room events.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-side-search
enum SearchRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            e.authed(.post, ClientEndpoint.client("/search"), rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                guard let categories = try body.optionalObject("search_categories") else {
                    throw MatrixError.missingParam("Missing search_categories")
                }
                guard let criteria = try categories.optionalObject("room_events") else {
                    return MatrixResponse(json: ["search_categories": [:]])
                }
                let term = try criteria.requireString("search_term")
                let keys = try criteria.optionalArray("keys")?.map { value throws(MatrixError) -> String in
                    guard let key = value.stringValue, Rooms.searchKeys.contains(key) else {
                        throw MatrixError.badJSON("keys may only hold \(Rooms.searchKeys.joined(separator: ", "))")
                    }
                    return key
                } ?? Rooms.searchKeys
                if let order = try criteria.optionalString("order_by"), order != "recent", order != "rank" {
                    throw MatrixError.badJSON("order_by must be recent or rank")
                }
                let filter = EventFilter(try criteria.optionalObject("filter"))
                let page = try await hs.rooms.search(term, keys: keys, filter: filter, nextBatch: request.query("next_batch"),
                                                     for: requester.userID)
                let context = try criteria.optionalObject("event_context")
                var results: [JSONValue] = []
                for event in page.results {
                    var result: JSONObject = ["rank": 1, "result": .object(try await hs.rooms.clientEvent(event, for: requester))]
                    if let context {
                        result["context"] = .object(try await contextJSON(hs, event, context, requester))
                    }
                    results.append(.object(result))
                }
                var roomEvents: JSONObject = [
                    "results": .array(results), "count": .int(Int64(page.count)), "highlights": JSONValue(page.highlights),
                ]
                if let next = page.nextBatch { roomEvents["next_batch"] = .string(next) }
                if try criteria.optionalBool("include_state") == true {
                    var state = JSONObject()
                    for roomID in Set(page.results.map(\.pdu.roomID)) {
                        let ids = try await hs.rooms.visibleState(roomID, for: requester.userID)
                        let events = try await hs.rooms.storedEvents(Array(ids.values)).values.sorted { $0.stream < $1.stream }
                        state[roomID.rawValue] = .array(try await hs.rooms.clientEvents(events, for: requester))
                    }
                    roomEvents["state"] = .object(state)
                }
                return MatrixResponse(json: ["search_categories": ["room_events": .object(roomEvents)]])
            },
        ]
    }

    /// A result's surrounding events, as /context would give them, with the senders' profiles.
    static func contextJSON(_ hs: Homeserver, _ event: StoredEvent, _ request: JSONObject, _ requester: Requester) async throws -> JSONObject {
        let before = Int(clamping: try request.optionalInt("before_limit") ?? 5)
        let after = Int(clamping: try request.optionalInt("after_limit") ?? 5)
        let around = try await hs.rooms.context(event.pdu.roomID, eventID: event.pdu.eventID, for: requester.userID,
                                                limit: 2 * max(before, after), filter: .all)
        let eventsBefore = Array(around.before.prefix(max(0, before)))
        let eventsAfter = Array(around.after.prefix(max(0, after)))
        var json: JSONObject = [
            "events_before": .array(try await hs.rooms.clientEvents(eventsBefore, for: requester)),
            "events_after": .array(try await hs.rooms.clientEvents(eventsAfter, for: requester)),
            "start": .string(around.start), "end": .string(around.end),
        ]
        if try request.optionalBool("include_profile") == true {
            var profiles = JSONObject()
            for member in around.state where member.pdu.type == "m.room.member" {
                guard let user = member.pdu.stateKey,
                      ([event] + eventsBefore + eventsAfter).contains(where: { $0.pdu.sender.rawValue == user }) else { continue }
                var profile = JSONObject()
                if let name = member.pdu.content["displayname"] { profile["displayname"] = name }
                if let avatar = member.pdu.content["avatar_url"] { profile["avatar_url"] = avatar }
                profiles[user] = .object(profile)
            }
            json["profile_info"] = .object(profiles)
        }
        return json
    }
}
