public import HearthCore
import HearthStorage
import Logging
import Synchronization

/// EDUs other servers send: typing, receipts, presence, device lists, to-device messages.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#edus
///
/// Each EDU is about users of the sending server only; anything claiming another server's
/// user is ignored. Room-scoped EDUs are ignored when the room's ACL denies the origin or the
/// user is not joined.
extension RoomFederation {
    public func receiveEDU(_ edu: JSONObject, from origin: ServerName) async {
        guard let type = edu["edu_type"]?.stringValue, let content = edu["content"]?.objectValue else {
            logger.info("ignored a malformed EDU", metadata: ["origin": "\(origin)"])
            return
        }
        do {
            switch type {
            case "m.typing": try await receiveTyping(content, from: origin)
            case "m.receipt": try await receiveReceipts(content, from: origin)
            case "m.presence": receivePresence(content, from: origin)
            case "m.device_list_update", "m.signing_key_update": try await receiveDeviceListUpdate(type, content, from: origin)
            case "m.direct_to_device": try await receiveToDevice(content, from: origin)
            default: logger.debug("ignored an EDU", metadata: ["origin": "\(origin)", "type": "\(type)"])
            }
        } catch {
            logger.info("failed to apply an EDU", metadata: ["origin": "\(origin)", "type": "\(type)", "error": "\(error)"])
        }
    }

    /// A remote user of `origin` who is joined to the room, which admits `origin`.
    private func remoteMember(_ userText: String?, of origin: ServerName, in roomID: RoomID) async throws -> UserID? {
        guard let userText, let user = UserID(userText), user.server == origin, try await rooms.exists(roomID),
              try await isAllowedByACL(origin, in: roomID),
              try await rooms.membership(of: user, in: roomID) == "join"
        else { return nil }
        return user
    }

    /// `m.typing`: https://spec.matrix.org/v1.19/server-server-api/#typing-notifications
    private func receiveTyping(_ content: JSONObject, from origin: ServerName) async throws {
        guard let roomID = content["room_id"]?.stringValue.flatMap(RoomID.init),
              let typing = content["typing"]?.boolValue,
              let user = try await remoteMember(content["user_id"]?.stringValue, of: origin, in: roomID)
        else { return }
        ephemeral.setTyping(user, in: roomID, typing: typing, timeout: content["timeout"]?.intValue ?? 30_000)
    }

    /// `m.receipt`: https://spec.matrix.org/v1.19/server-server-api/#receipts
    private func receiveReceipts(_ content: JSONObject, from origin: ServerName) async throws {
        for room in content {
            guard let roomID = RoomID(room.key), let byType = room.value.objectValue else { continue }
            for entry in byType {
                let type = entry.key
                guard type == "m.read", let byUser = entry.value.objectValue else { continue }
                for member in byUser {
                    let receipt = member.value
                    guard let user = try await remoteMember(member.key, of: origin, in: roomID),
                          let eventID = receipt["event_ids"]?.arrayValue?.last?.stringValue.flatMap(EventID.init),
                          let event = try await store.event(eventID), event.pdu.roomID == roomID
                    else { continue }
                    let data = receipt["data"]
                    try await userData.setReceipt(Receipt(
                        roomID: roomID, userID: user, type: type, eventID: eventID,
                        threadID: data?["thread_id"]?.stringValue, timestamp: data?["ts"]?.intValue ?? clock.now(), stream: 0))
                    notifier.notify(rooms: [roomID.rawValue])
                }
            }
        }
    }

    /// `m.presence`: https://spec.matrix.org/v1.19/server-server-api/#presence
    private func receivePresence(_ content: JSONObject, from origin: ServerName) {
        for update in content["push"]?.arrayValue ?? [] {
            guard let user = update["user_id"]?.stringValue.flatMap(UserID.init), user.server == origin,
                  let presence = update["presence"]?.stringValue, ["online", "offline", "unavailable"].contains(presence)
            else { continue }
            ephemeral.setPresence(user, state: presence, statusMessage: update["status_msg"]?.stringValue)
        }
    }

    /// `m.device_list_update` and `m.signing_key_update`: the user's devices changed, so local
    /// clients sharing a room with them re-query their keys (through /user/keys/query).
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#device-management
    private func receiveDeviceListUpdate(_ type: String, _ content: JSONObject, from origin: ServerName) async throws {
        guard let user = content["user_id"]?.stringValue.flatMap(UserID.init), user.server == origin,
              let keys = endToEnd.withLock({ $0 })
        else { return }
        try await keys.store.markDeviceListChanged(user)
        await keys.notifyDeviceListChange(user)
    }

    /// `m.direct_to_device`: queued for the local devices named (`*`: all of the user's).
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#send-to-device-messaging
    private func receiveToDevice(_ content: JSONObject, from origin: ServerName) async throws {
        guard let sender = content["sender"]?.stringValue.flatMap(UserID.init), sender.server == origin,
              let type = content["type"]?.stringValue, let messages = content["messages"]?.objectValue,
              let messageID = content["message_id"]?.stringValue, let keys = endToEnd.withLock({ $0 })
        else { return }
        var byUser: [UserID: [String: JSONObject]] = [:]
        for recipient in messages {
            guard let user = UserID(recipient.key), isLocal(user), let devices = recipient.value.objectValue else { continue }
            for device in devices { if let body = device.value.objectValue { byUser[user, default: [:]][device.key] = body } }
        }
        guard !byUser.isEmpty else { return }
        try await keys.receiveToDevice(sender: sender, type: type, messages: byUser, messageID: "\(origin.rawValue)/\(messageID)")
    }
}
