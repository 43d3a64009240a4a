public import HearthCore
import HearthStorage
import Logging

/// Handing this server's events and EDUs to the outgoing queues, addressed to every other
/// server in the room.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#transactions
extension RoomFederation {
    /// The servers an event of this room goes to: those with joined members after it, plus the
    /// server of a member it removes or invites (which must learn about it), minus this one.
    func destinations(for pdu: PDU) async throws -> Set<ServerName> {
        var servers = try await serversInRoom(pdu.roomID)
        if pdu.type == "m.room.member", let target = pdu.stateKey.flatMap(UserID.init),
           ["leave", "ban", "invite", "knock"].contains(pdu.content["membership"]?.stringValue ?? "") {
            servers.insert(target.server)
        }
        servers.remove(serverName)
        return servers
    }

    /// Queues an event for the other servers in its room.
    func broadcast(_ pdu: PDU, except excluded: Set<ServerName> = []) async {
        do {
            let servers = try await destinations(for: pdu).subtracting(excluded)
            guard !servers.isEmpty else { return }
            await ports.outbox.enqueue(pdu: pdu, to: servers)
        } catch {
            logger.warning("could not queue an event for federation", metadata: ["event_id": "\(pdu.eventID)", "error": "\(error)"])
        }
    }

    /// A local user's typing notification, for the other servers in the room.
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#typing-notifications
    public func sendTyping(_ user: UserID, in roomID: RoomID, typing: Bool, timeout: Milliseconds) async {
        var content: JSONObject = ["room_id": .string(roomID.rawValue), "user_id": .string(user.rawValue), "typing": .bool(typing)]
        if typing { content["timeout"] = .int(timeout) }
        await sendEDU("m.typing", content, toServersIn: [roomID])
    }

    /// A local user's public read receipt.
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#receipts
    public func sendReceipt(_ user: UserID, in roomID: RoomID, eventID: EventID, type: String, threadID: String?,
                            at timestamp: Milliseconds) async {
        guard type == "m.read" else { return }
        var data: JSONObject = ["ts": .int(timestamp)]
        if let threadID { data["thread_id"] = .string(threadID) }
        let content: JSONObject = [
            roomID.rawValue: [type: [user.rawValue: ["event_ids": [.string(eventID.rawValue)], "data": .object(data)]]],
        ]
        await sendEDU("m.receipt", content, toServersIn: [roomID])
    }

    /// A local user's presence, for every server sharing a room with them.
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#presence
    public func sendPresence(_ user: UserID, state: String, statusMessage: String?) async {
        var update: JSONObject = ["user_id": .string(user.rawValue), "presence": .string(state), "last_active_ago": 0,
                                  "currently_active": .bool(state == "online")]
        if let statusMessage { update["status_msg"] = .string(statusMessage) }
        let joined = (try? await store.memberships(of: user).filter { $0.membership == "join" }.map(\.roomID)) ?? []
        await sendEDU("m.presence", ["push": [.object(update)]], toServersIn: joined)
    }

    func sendEDU(_ type: String, _ content: JSONObject, toServersIn roomIDs: [RoomID]) async {
        var servers = Set<ServerName>()
        for roomID in roomIDs {
            if let inRoom = try? await serversInRoom(roomID) { servers.formUnion(inRoom) }
        }
        servers.remove(serverName)
        guard !servers.isEmpty else { return }
        await ports.outbox.enqueue(edu: ["edu_type": .string(type), "content": .object(content)], to: servers)
    }
}
