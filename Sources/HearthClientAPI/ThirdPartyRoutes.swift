import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Third-party networks. Hearth has no bridges (application services), so it knows no
/// protocols: the list is empty and lookups find nothing. Element asks for the list when it
/// shows the room directory.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#third-party-networks
enum ThirdPartyRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        [
            e.authed(.get, ClientEndpoint.client("/thirdparty/protocols")) { _, _ in MatrixResponse(json: JSONObject()) },
            e.authed(.get, ClientEndpoint.client("/thirdparty/protocol/{protocol}")) { request, _ in
                throw MatrixError.notFound("Unknown protocol \(try request.path("protocol"))")
            },
            e.authed(.get, ClientEndpoint.client("/thirdparty/location/{protocol}")) { request, _ in
                throw MatrixError.notFound("Unknown protocol \(try request.path("protocol"))")
            },
            e.authed(.get, ClientEndpoint.client("/thirdparty/user/{protocol}")) { request, _ in
                throw MatrixError.notFound("Unknown protocol \(try request.path("protocol"))")
            },
            e.authed(.get, ClientEndpoint.client("/thirdparty/location")) { request, _ in
                guard request.query("alias") != nil else { throw MatrixError.missingParam("Missing alias") }
                return MatrixResponse(json: .array([]))
            },
            e.authed(.get, ClientEndpoint.client("/thirdparty/user")) { request, _ in
                guard request.query("userid") != nil else { throw MatrixError.missingParam("Missing userid") }
                return MatrixResponse(json: .array([]))
            },
        ]
    }
}
