public import HearthCore
public import HearthStorage
import Logging

/// `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}`: another server invites one of this
/// server's users; this server checks and countersigns the event.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#inviting-to-a-room
extension RoomFederation {
    public func receiveInvite(roomID: RoomID, eventID: EventID, body: JSONObject, origin: ServerName) async throws -> JSONObject {
        // The organization policy decides which servers may invite local users; refused
        // before anything is stored or shown to the invitee.
        let admission = rooms.policy.acceptsInvite(from: origin)
        guard admission.allowed else { throw admission.error }
        guard let versionText = body["room_version"]?.stringValue else { throw MatrixError.missingParam("Missing room_version") }
        guard let version = RoomVersion(versionText) else {
            throw MatrixError(.incompatibleRoomVersion, status: 400, "Room version \(versionText) is not supported",
                              extra: ["room_version": .string(versionText)])
        }
        guard let json = body["event"]?.objectValue else { throw MatrixError.missingParam("Missing event") }
        let parsed: PDU
        do { parsed = try PDU(json: json, version: version) } catch { throw MatrixError.badJSON("Invalid event: \(error.reason)") }
        guard parsed.eventID == eventID, parsed.roomID == roomID else {
            throw MatrixError.invalidParam("The event's ID or room does not match the request")
        }
        guard parsed.type == "m.room.member", parsed.content["membership"]?.stringValue == "invite",
              parsed.sender.server == origin, let invitee = parsed.stateKey.flatMap(UserID.init), isLocal(invitee)
        else { throw MatrixError.invalidParam("Not an invite of a user of this server from a user of \(origin)") }
        guard let account = try await accounts.account(invitee), !account.isDeactivated else {
            throw MatrixError.notFound("Unknown user \(invitee)")
        }
        try await rooms.checkPolicyLists(roomID: roomID, sender: parsed.sender, target: invitee, membership: "invite")
        if try await rooms.exists(roomID) { try await requireAllowedByACL(origin, in: roomID) }
        let checked: PDU
        do { checked = try await checkedPDU(parsed.json, version: version) } catch let error as DroppedPDU {
            throw MatrixError.invalidParam("Invite refused: \(error.description)")
        }
        let roomState = try await validatedInviteRoomState(body["invite_room_state"], room: roomID, version: version)
        let signed = try addOwnSignature(checked)

        if try await isResident(roomID) {
            // The invite will also come in a transaction; accept it now as any event.
            try await fetchMissingAuthEvents(of: signed, from: origin)
            let outcome = try await persistReceived(signed, fetchedStates: try await statesAtUnknownPrevEvents(of: signed, from: origin))
            switch outcome {
            case .accepted, .alreadyKnown: break
            case .rejected(let why), .softFailed(let why), .dropped(let why): throw MatrixError.forbidden("Invite not allowed: \(why)")
            }
        } else {
            try await recordOutsideRoom(signed, version: version, roomState: ("invite_room_state", roomState))
        }
        return ["event": .object(signed.federationJSON)]
    }

    /// `invite_room_state` as the spec has it since v1.16: PDUs of the room's version, in the
    /// invite's room, the create event among them, each validly signed. Enforced for room
    /// version 12; for earlier versions invalid entries are dropped with a warning (the spec's
    /// migration allowance), keeping what stripped state the entries offer.
    func validatedInviteRoomState(_ value: JSONValue?, room: RoomID, version: RoomVersion) async throws -> [JSONValue] {
        let entries = value?.arrayValue ?? []
        let strict = !version.auth.createEventIsAuthEvent
        var kept: [JSONValue] = []
        var hasCreate = false
        for entry in entries {
            guard let json = entry.objectValue else { continue }
            do {
                let pdu = try await checkedPDU(json, version: version)
                guard pdu.roomID == room else { throw DroppedPDU("an entry is in room \(pdu.roomID)") }
                if pdu.type == "m.room.create" { hasCreate = true }
                kept.append(entry)
            } catch {
                if strict { throw MatrixError.invalidParam("Invalid invite_room_state: \(error)") }
                logger.warning("invite_room_state entry is not a valid PDU", metadata: ["room": "\(room)", "error": "\(error)"])
                if json["type"]?.stringValue != nil, json["content"]?.objectValue != nil { kept.append(entry) }
            }
        }
        if strict, !hasCreate { throw MatrixError.invalidParam("invite_room_state has no m.room.create event") }
        return kept
    }
}
