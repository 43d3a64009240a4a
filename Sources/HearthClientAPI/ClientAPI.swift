public import HearthHTTP
public import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging
import HearthCore

/// `/_matrix/client`, `/_matrix/media` and the client discovery endpoints.
///
/// Each spec section has its own file with a `routes` function; to add an endpoint, add it to
/// the section's list. Authentication and rate limiting are applied by `ClientEndpoint`, never
/// inside a handler.
public enum ClientAPI {
    public static func routes(_ homeserver: Homeserver, limiter: RateLimiter = RateLimiter()) -> [Route] {
        let endpoint = ClientEndpoint(homeserver: homeserver, limiter: limiter)
        return DiscoveryRoutes.routes(endpoint)
            + RegistrationRoutes.routes(endpoint)
            + SessionRoutes.routes(endpoint)
            + AccountRoutes.routes(endpoint)
            + DeviceRoutes.routes(endpoint)
            + ProfileRoutes.routes(endpoint)
            + RoomMembershipRoutes.routes(endpoint)
            + RoomEventRoutes.routes(endpoint)
            + RoomReadRoutes.routes(endpoint)
            + RelationRoutes.routes(endpoint)
            + DirectoryRoutes.routes(endpoint)
            + ThirdPartyRoutes.routes(endpoint)
            + SearchRoutes.routes(endpoint)
            + SyncRoutes.routes(endpoint)
            + EphemeralRoutes.routes(endpoint)
            + AccountDataRoutes.routes(endpoint)
            + PushRuleRoutes.routes(endpoint)
            + MediaRoutes.routes(endpoint)
            + ReportingRoutes.routes(endpoint)
            + EndToEndRoutes.routes(endpoint)
            + PolicyRoutes.routes(endpoint)
            + SupportGroupRoutes.routes(endpoint)
            + AdminRoutes.routes(endpoint)
    }
}
