public import HearthCore
public import HearthStorage
public import HearthHTTP
import Hummingbird

/// The transport layer's own routes: server keys, the notary, and the version.
public enum TransportRoutes {
    /// How many servers one notary query may ask about (a larger query is refused, so one
    /// request cannot make this server fetch from arbitrarily many others).
    static let maxNotaryServers = 100

    public static func routes(_ e: FederationEndpoint, version: String = "0.1.0") -> [Route] {
        let keyRing = e.keyRing
        return [
            // https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2server
            e.open(.get, ["/_matrix/key/v2/server", "/_matrix/key/v2/server/{keyId}"]) { _ in
                MatrixResponse(json: keyRing.local.serverKeysResponse(now: e.now()))
            },
            // https://spec.matrix.org/v1.19/server-server-api/#post_matrixkeyv2query
            e.open(.post, ["/_matrix/key/v2/query"]) { request in
                let body = try request.jsonBody()
                guard let servers = body["server_keys"]?.objectValue else { throw MatrixError.badJSON("server_keys must be an object") }
                guard servers.count <= maxNotaryServers else { throw MatrixError.badJSON("too many servers in one query") }
                var queries: [(ServerName, Int64)] = []
                for member in servers {
                    let (name, criteria) = (member.key, member.value)
                    guard let server = ServerName(name) else { continue }
                    let minimum = criteria.objectValue?.map(\.value).compactMap { $0["minimum_valid_until_ts"]?.intValue }.max()
                    queries.append((server, minimum ?? e.now()))
                }
                return MatrixResponse(json: ["server_keys": .array(await notaryAnswers(e, queries))])
            },
            // https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2queryservername
            e.open(.get, ["/_matrix/key/v2/query/{serverName}"]) { request in
                let name = try request.path("serverName")
                guard let server = ServerName(name) else { throw MatrixError.invalidParam("Invalid server name") }
                let minimum = try request.queryInt("minimum_valid_until_ts").map(Int64.init) ?? e.now()
                return MatrixResponse(json: ["server_keys": .array(await notaryAnswers(e, [(server, minimum)]))])
            },
            // https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1version
            e.open(.get, FederationEndpoint.federation("/version")) { _ in
                MatrixResponse(json: ["server": ["name": "Hearth", "version": .string(version)]])
            },
        ]
    }

    /// Each server's key responses, counter-signed by this server as notary.
    static func notaryAnswers(_ e: FederationEndpoint, _ queries: [(ServerName, Int64)]) async -> [JSONValue] {
        var out: [JSONValue] = []
        for (server, minimum) in queries {
            for response in await e.keyRing.responsesForNotary(server, minimumValidUntil: minimum) {
                guard let signed = try? JSONSigning.sign(response, as: e.serverName.rawValue, with: e.keyRing.local.current) else { continue }
                out.append(.object(signed))
            }
        }
        return out
    }

    /// `/.well-known/matrix/server` delegating to `delegate` (`serve_server_wellknown`).
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#getwell-knownmatrixserver
    public static func wellKnownRoute(delegate: String) -> Route {
        Route(.get, ["/.well-known/matrix/server"]) { _ in
            var response = MatrixResponse(json: ["m.server": .string(delegate)])
            response.headers[.cacheControl] = "max-age=86400"
            return response
        }
    }
}
