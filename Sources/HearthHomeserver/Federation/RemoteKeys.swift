public import HearthCore
import HearthStorage
import Logging
import Synchronization

/// End-to-end encryption across servers: key queries and claims for remote users, to-device
/// messages for them, and telling the servers that share a room with a local user when that
/// user's devices change.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#end-to-end-encryption
extension RoomFederation: RemoteKeyService {
    /// `POST /_matrix/federation/v1/user/keys/query` on `server`.
    public func queryKeys(_ request: [UserID: [String]], from server: ServerName) async throws -> JSONObject {
        var deviceKeys = JSONObject()
        for (user, devices) in request { deviceKeys[user.rawValue] = JSONValue(devices) }
        return try await remotes.object(FederationRequest(method: "POST", path: "/_matrix/federation/v1/user/keys/query",
                                                          body: ["device_keys": .object(deviceKeys)]), from: server)
    }

    /// `POST /_matrix/federation/v1/user/keys/claim` on `server`.
    public func claimKeys(_ request: [UserID: [String: String]], from server: ServerName) async throws -> JSONObject {
        var oneTimeKeys = JSONObject()
        for (user, devices) in request {
            var perDevice = JSONObject()
            for (device, algorithm) in devices { perDevice[device] = .string(algorithm) }
            oneTimeKeys[user.rawValue] = .object(perDevice)
        }
        return try await remotes.object(FederationRequest(method: "POST", path: "/_matrix/federation/v1/user/keys/claim",
                                                          body: ["one_time_keys": .object(oneTimeKeys)]), from: server)
    }

    /// An `m.direct_to_device` EDU for `server`, through the outgoing queue.
    public func sendToDevice(type: String, sender: UserID, messages: [UserID: [String: JSONObject]], to server: ServerName) async throws {
        var byUser = JSONObject()
        for (user, devices) in messages {
            var byDevice = JSONObject()
            for (device, content) in devices { byDevice[device] = .object(content) }
            byUser[user.rawValue] = .object(byDevice)
        }
        let content: JSONObject = ["sender": .string(sender.rawValue), "type": .string(type),
                                   "message_id": .string(Tokens.random(bytes: 12)), "messages": .object(byUser)]
        await ports.outbox.enqueue(edu: ["edu_type": "m.direct_to_device", "content": .object(content)], to: [server])
    }

    /// `m.device_list_update` for each of the user's devices (`stream_id` the server-wide
    /// stream position, which `/user/devices` also reports), to every server sharing a room.
    public func announceDeviceListChange(of user: UserID) async {
        guard let keys = endToEnd.withLock({ $0 }) else { return }
        do {
            let joined = try await store.memberships(of: user).filter { $0.membership == "join" }.map(\.roomID)
            var servers = Set<ServerName>()
            for room in joined { servers.formUnion(try await serversInRoom(room)) }
            servers.remove(serverName)
            guard !servers.isEmpty else { return }
            let listing = try await keys.devicesForServer(user)
            let streamID = listing["stream_id"] ?? 0
            for device in listing["devices"]?.arrayValue ?? [] {
                var content: JSONObject = ["user_id": .string(user.rawValue), "device_id": device["device_id"] ?? "",
                                           "stream_id": streamID, "prev_id": [], "deleted": false]
                if let keys = device["keys"]?.objectValue, !keys.isEmpty { content["keys"] = .object(keys) }
                if let name = device["device_display_name"] { content["device_display_name"] = name }
                await ports.outbox.enqueue(edu: ["edu_type": "m.device_list_update", "content": .object(content)], to: servers)
            }
        } catch {
            logger.warning("could not announce a device list change", metadata: ["user": "\(user)", "error": "\(error)"])
        }
    }
}
