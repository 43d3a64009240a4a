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

extension MatrixRequest {
    func roomIDParameter(_ name: String = "roomId") throws(MatrixError) -> RoomID {
        let text = try path(name)
        guard let id = RoomID(text) else { throw .invalidParam("Invalid room ID \(text)") }
        return id
    }

    func userIDParameter(_ name: String = "userId") throws(MatrixError) -> UserID {
        let text = try path(name)
        guard let id = UserID(text) else { throw .invalidParam("Invalid user ID \(text)") }
        return id
    }

    func eventIDParameter(_ name: String = "eventId") throws(MatrixError) -> EventID {
        let text = try path(name)
        guard let id = EventID(text) else { throw .invalidParam("Invalid event ID \(text)") }
        return id
    }
}
