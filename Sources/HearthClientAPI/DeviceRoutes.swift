import HearthCore
import HearthHTTP
import HearthHomeserver
import Hummingbird
import Logging
import HearthStorage

/// Device management.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#device-management
enum DeviceRoutes {
    static func json(_ device: Device) -> JSONValue {
        var object: JSONObject = ["device_id": .string(device.deviceID)]
        if let name = device.displayName { object["display_name"] = .string(name) }
        if let seen = device.lastSeenAt { object["last_seen_ts"] = .int(seen) }
        if let ip = device.lastSeenIP { object["last_seen_ip"] = .string(ip) }
        return .object(object)
    }

    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            e.authed(.get, ClientEndpoint.client("/devices")) { _, requester in
                MatrixResponse(json: ["devices": .array(try await hs.accounts.devices(of: requester.userID).map(json))])
            },
            e.authed(.get, ClientEndpoint.client("/devices/{deviceId}")) { request, requester in
                guard let device = try await hs.accounts.device(requester.userID, try request.path("deviceId")) else {
                    throw MatrixError.notFound("Device not found")
                }
                return MatrixResponse(json: json(device))
            },
            e.authed(.put, ClientEndpoint.client("/devices/{deviceId}")) { request, requester in
                let body = try request.jsonBody()
                guard var device = try await hs.accounts.device(requester.userID, try request.path("deviceId")) else {
                    throw MatrixError.notFound("Device not found")
                }
                if let name = try body.optionalString("display_name") { device.displayName = name }
                try await hs.accounts.saveDevice(device)
                return .empty
            },
            e.authed(.delete, ClientEndpoint.client("/devices/{deviceId}")) { request, requester in
                let deviceID = try request.path("deviceId")
                guard try await hs.accounts.device(requester.userID, deviceID) != nil else { throw MatrixError.notFound("Device not found") }
                try await hs.accounts.requirePassword(request.jsonBody().optionalObject("auth"), for: requester, purpose: "delete_device")
                try await hs.deleteDevices(requester.userID, [deviceID])
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/delete_devices")) { request, requester in
                let body = try request.jsonBody()
                guard let ids = try body.optionalArray("devices")?.compactMap(\.stringValue) else {
                    throw MatrixError.missingParam("Missing devices")
                }
                try await hs.accounts.requirePassword(body.optionalObject("auth"), for: requester, purpose: "delete_devices")
                try await hs.deleteDevices(requester.userID, ids)
                return .empty
            },
        ]
    }
}
