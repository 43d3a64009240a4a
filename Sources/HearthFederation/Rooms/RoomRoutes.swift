public import HearthCore
public import HearthHTTP
public import HearthHomeserver
import Hummingbird

/// The room layer's federation endpoints, one file per area, each a `routes` function built
/// with the signed route builder (X-Matrix authentication and the egress gate are applied
/// there; ACLs and room membership by the homeserver's `RoomFederation`).
public enum RoomRoutes {
    public static func routes(_ e: FederationEndpoint, _ homeserver: Homeserver) -> [Route] {
        TransactionRoutes.routes(e, homeserver.federation)
            + MembershipRoutes.routes(e, homeserver.federation)
            + EventRoutes.routes(e, homeserver.federation)
            + QueryRoutes.routes(e, homeserver)
            + FederationMediaRoutes.routes(e, homeserver)
    }
}
