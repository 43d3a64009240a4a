import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Relations and threads.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#relationships
enum RelationRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        let base = "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}"
        return [
            e.authed(.get, [base, base + "/{relType}", base + "/{relType}/{eventType}"]) { request, requester in
                let direction = request.query("dir") ?? "b"
                guard direction == "b" || direction == "f" else { throw MatrixError.invalidParam("dir must be b or f") }
                let from = try request.paginationToken("from")
                let to = try request.paginationToken("to")
                let page = try await hs.rooms.relations(
                    try request.roomID(), parent: try request.eventID(), relType: request.pathParameters["relType"],
                    eventType: request.pathParameters["eventType"], from: from, to: to, backwards: direction == "b",
                    limit: try request.queryInt("limit") ?? 20, recurse: try request.queryBool("recurse"), for: requester)
                var json: JSONObject = ["chunk": .array(try await hs.rooms.clientEvents(page.chunk, for: requester))]
                if let next = page.nextBatch { json["next_batch"] = .string(next) }
                if let from = request.query("from") { json["prev_batch"] = .string(from) }
                if let depth = page.recursionDepth { json["recursion_depth"] = .int(Int64(depth)) }
                return MatrixResponse(json: json)
            },
            e.authed(.get, ["/_matrix/client/v1/rooms/{roomId}/threads"]) { request, requester in
                let include = request.query("include") ?? "all"
                guard include == "all" || include == "participated" else {
                    throw MatrixError.invalidParam("include must be all or participated")
                }
                let page = try await hs.rooms.threads(try request.roomID(), participatedOnly: include == "participated",
                                                      from: request.query("from"), limit: try request.queryInt("limit") ?? 20,
                                                      for: requester)
                var json: JSONObject = ["chunk": .array(try await hs.rooms.clientEvents(page.roots, for: requester))]
                if let next = page.nextBatch { json["next_batch"] = .string(next) }
                return MatrixResponse(json: json)
            },
        ]
    }
}

extension MatrixRequest {
    /// A `from`/`to`/`at` query parameter holding a pagination or sync token.
    func paginationToken(_ name: String) throws(MatrixError) -> PaginationToken? {
        guard let text = query(name) else { return nil }
        guard let token = PaginationToken(text) else { throw MatrixError.invalidParam("Invalid \(name) token") }
        return token
    }
}
