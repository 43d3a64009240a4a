public import HearthCore
public import HearthHTTP
public import HearthHomeserver
import Hummingbird

/// Events, state and history of rooms, for servers that lack them.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#retrieving-events and
/// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events
enum EventRoutes {
    static func routes(_ e: FederationEndpoint, _ federation: RoomFederation) -> [Route] {
        @Sendable func eventIDQuery(_ request: MatrixRequest) throws -> EventID {
            guard let text = request.query("event_id") else { throw MatrixError.missingParam("Missing event_id") }
            guard let id = EventID(text) else { throw MatrixError.invalidParam("Invalid event_id") }
            return id
        }
        return [
            e.signed(.get, FederationEndpoint.federation("/event/{eventId}")) { request, origin in
                MatrixResponse(json: try await federation.event(try request.eventID(), origin: origin))
            },
            e.signed(.get, FederationEndpoint.federation("/state/{roomId}")) { request, origin in
                MatrixResponse(json: try await federation.state(try request.roomID(), at: try eventIDQuery(request),
                                                                origin: origin, idsOnly: false))
            },
            e.signed(.get, FederationEndpoint.federation("/state_ids/{roomId}")) { request, origin in
                MatrixResponse(json: try await federation.state(try request.roomID(), at: try eventIDQuery(request),
                                                                origin: origin, idsOnly: true))
            },
            e.signed(.get, FederationEndpoint.federation("/event_auth/{roomId}/{eventId}")) { request, origin in
                MatrixResponse(json: try await federation.eventAuth(try request.roomID(), eventID: try request.eventID(),
                                                                    origin: origin))
            },
            e.signed(.get, FederationEndpoint.federation("/backfill/{roomId}")) { request, origin in
                let from = (request.query["v"] ?? []).compactMap(EventID.init)
                guard !from.isEmpty else { throw MatrixError.missingParam("Missing v") }
                let limit = try request.queryInt("limit") ?? 10
                return MatrixResponse(json: try await federation.backfill(try request.roomID(), from: from, limit: limit,
                                                                          origin: origin))
            },
            e.signed(.post, FederationEndpoint.federation("/get_missing_events/{roomId}")) { request, origin in
                MatrixResponse(json: try await federation.missingEvents(try request.roomID(), body: try request.jsonBody(),
                                                                        origin: origin))
            },
        ]
    }
}
