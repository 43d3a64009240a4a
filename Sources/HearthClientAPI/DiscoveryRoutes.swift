import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Server discovery and capabilities.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-discovery
enum DiscoveryRoutes {
    static let specVersions = ["r0.5.0", "r0.6.0", "r0.6.1"] + (1...19).map { "v1.\($0)" }

    static func routes(_ e: ClientEndpoint) -> [Route] {
        let settings = e.homeserver.settings
        return [
            e.open(.get, ["/_matrix/client/versions"]) { _ in
                MatrixResponse(json: ["versions": JSONValue(specVersions), "unstable_features": [:]])
            },
            e.open(.get, ["/.well-known/matrix/client"]) { _ in
                guard let base = settings.publicBaseURL else { throw MatrixError.notFound("No client discovery information") }
                return MatrixResponse(json: ["m.homeserver": ["base_url": .string(base)]])
            },
            e.authed(.get, ClientEndpoint.client("/capabilities")) { _, _ in
                var available = JSONObject()
                for version in RoomVersion.all { available[version.identifier] = "stable" }
                return MatrixResponse(json: ["capabilities": [
                    "m.change_password": ["enabled": true],
                    "m.room_versions": ["default": .string(settings.defaultRoomVersion.identifier), "available": .object(available)],
                    "m.set_displayname": ["enabled": true],
                    "m.set_avatar_url": ["enabled": true],
                    "m.profile_fields": ["enabled": true],
                    "m.3pid_changes": ["enabled": false],
                    "m.get_login_token": ["enabled": false],
                ]])
            },
        ]
    }
}
