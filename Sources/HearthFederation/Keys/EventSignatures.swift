public import HearthCore
public import HearthStorage

extension KeyRing {
    /// The servers whose signatures `pdu` must carry:
    /// - the sender's server;
    /// - room versions 1–2: also the server of the event ID, if different;
    /// - a join through a restricted join rule (v8+): the server of the user named in
    ///   `join_authorised_via_users_server`;
    /// - a third-party invite is signed by the server of the invited `mxid` instead of the
    ///   sender's, as the invitee's server builds it on the inviter's behalf.
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#validating-hashes-and-signatures-on-received-events
    /// and https://spec.matrix.org/v1.19/rooms/v8/#authorization-rules
    public static func requiredSigners(of pdu: PDU) -> [ServerName] {
        var servers: [ServerName] = []
        func add(_ server: ServerName) { if !servers.contains(server) { servers.append(server) } }
        let membership = pdu.type == "m.room.member" ? pdu.content["membership"]?.stringValue : nil
        if membership == "invite", let mxid = pdu.content["third_party_invite"]?["signed"]?["mxid"]?.stringValue,
           let invitee = UserID(mxid) {
            add(invitee.server)
        } else {
            add(pdu.sender.server)
        }
        if pdu.roomVersion.auth.requiresEventIDDomainSignature, let server = pdu.eventID.server { add(server) }
        if pdu.roomVersion.auth.allowsRestrictedJoins, membership == "join",
           let via = pdu.content["join_authorised_via_users_server"]?.stringValue, let user = UserID(via) {
            add(user.server)
        }
        return servers
    }

    /// Checks every required signature of `pdu` (see `requiredSigners`) on its redacted form,
    /// so a redacted copy verifies like the full event.
    ///
    /// For each required server, every signature made with a key known and valid at the
    /// event's `origin_server_ts` (room versions 5+; any known key before) must verify, and at
    /// least one must exist. Signatures with unknown or expired keys are skipped.
    /// The content hash is a separate check (`EventHashing.hasValidContentHash`).
    public func verifyEventSignatures(_ pdu: PDU) async throws(EventSignatureError) {
        let redacted = Redaction.redact(pdu.json, version: pdu.roomVersion)
        let validAt = pdu.roomVersion.enforcesKeyValidity ? pdu.originServerTS : nil
        for server in Self.requiredSigners(of: pdu) {
            let keyIDs = JSONSigning.ed25519KeyIDs(in: redacted, by: server.rawValue).sorted()
            guard !keyIDs.isEmpty else { throw .missingSignature(server) }
            var verified = false
            for keyID in keyIDs {
                guard let key = try? await verifyKey(for: server, keyID: keyID, validAt: validAt) else { continue }
                do { try JSONSigning.verify(redacted, by: server.rawValue, keyID: keyID, key: key) } catch {
                    throw .badSignature(server, keyID: keyID)
                }
                verified = true
            }
            guard verified else { throw .noUsableKey(server) }
        }
    }

    /// Checks that `object` carries a valid signature by `server` (with a key valid now, or at
    /// `validAt`). For signed JSON other than events: third-party invites, key responses.
    public func verifySignature(of object: JSONObject, by server: ServerName,
                                validAt: Milliseconds? = nil) async throws(EventSignatureError) {
        let keyIDs = JSONSigning.ed25519KeyIDs(in: object, by: server.rawValue).sorted()
        guard !keyIDs.isEmpty else { throw .missingSignature(server) }
        for keyID in keyIDs {
            guard let key = try? await verifyKey(for: server, keyID: keyID, validAt: validAt) else { continue }
            do { try JSONSigning.verify(object, by: server.rawValue, keyID: keyID, key: key) } catch {
                throw .badSignature(server, keyID: keyID)
            }
            return
        }
        throw .noUsableKey(server)
    }
}
