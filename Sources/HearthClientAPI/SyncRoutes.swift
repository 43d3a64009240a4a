import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// /sync and filters.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#syncing
enum SyncRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            e.authed(.get, ClientEndpoint.client("/sync")) { request, requester in
                let since = try request.query("since").map { text throws(MatrixError) -> SyncToken in
                    if let token = SyncToken(text) { return token }
                    throw MatrixError(.unknownPos, status: 400, "Unknown since token")
                }
                var filterJSON: JSONObject? = nil
                if let filter = request.query("filter") {
                    if filter.hasPrefix("{") {
                        guard let object = (try? JSONValue.parse(filter))?.objectValue else { throw MatrixError.badJSON("Invalid filter") }
                        filterJSON = object
                    } else {
                        guard let stored = try await hs.storage.userData.filter(requester.userID, id: filter) else {
                            throw MatrixError.notFound("Filter not found")
                        }
                        filterJSON = stored
                    }
                }
                let timeoutMs = max(0, min(try request.queryInt("timeout") ?? 0, 300_000))
                if let presence = request.query("set_presence"), ["online", "unavailable", "offline"].contains(presence) {
                    if presence != "offline" { hs.ephemeral.setPresence(requester.userID, state: presence, statusMessage: nil) }
                } else if hs.ephemeral.presence(of: requester.userID)?.state != "online" {
                    hs.ephemeral.setPresence(requester.userID, state: "online", statusMessage: nil)
                }
                let response = try await hs.sync.sync(
                    Sync.Request(since: since, filter: SyncFilter(filterJSON), fullState: try request.queryBool("full_state") ?? false,
                                 timeout: .milliseconds(timeoutMs)),
                    for: requester)
                return MatrixResponse(json: response)
            },
            e.authed(.post, ClientEndpoint.client("/user/{userId}/filter")) { request, requester in
                guard try request.userID() == requester.userID else { throw MatrixError.forbidden("Cannot create filters for other users") }
                let filter = try request.jsonBody()
                try SyncFilter.validate(filter)
                return MatrixResponse(json: ["filter_id": .string(try await hs.storage.userData.saveFilter(requester.userID, filter))])
            },
            e.authed(.get, ClientEndpoint.client("/user/{userId}/filter/{filterId}")) { request, requester in
                guard try request.userID() == requester.userID else { throw MatrixError.forbidden("Cannot read filters of other users") }
                guard let filter = try await hs.storage.userData.filter(requester.userID, id: try request.path("filterId")) else {
                    throw MatrixError.notFound("Filter not found")
                }
                return MatrixResponse(json: filter)
            },
        ]
    }
}
