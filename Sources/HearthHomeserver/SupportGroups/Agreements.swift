public import HearthCore
public import HearthStorage

/// Confidentiality agreements: a room's `org.hearth.agreement` state event (text and version)
/// that local members must accept before they join, and again before they post when the
/// version changes. Any client can follow it: the refused join or send is M_CONSENT_NOT_GIVEN
/// with a `consent_uri` to a page this server serves (Element shows the link), and accepting
/// there is recorded with its time and version. Spec/support-groups.md describes the event.
extension Rooms {
    public static let agreementType = "org.hearth.agreement"

    /// The room's agreement now, if it has one with a version.
    public func agreement(_ roomID: RoomID) async throws -> (version: String, text: String, title: String?)? {
        guard try await exists(roomID),
              let content = try await currentStateEvent(roomID, StateKey(Self.agreementType, ""))?.content,
              let version = content["version"]?.stringValue, !version.isEmpty else { return nil }
        return (version, content["text"]?.stringValue ?? "", content["title"]?.stringValue)
    }

    /// Refuses with M_CONSENT_NOT_GIVEN a local user's join of, or post to, a room whose
    /// current agreement they have not accepted. Leaving, redacting and changing the
    /// agreement itself are always possible.
    func requireAgreement(_ roomID: RoomID, sender: UserID, type: String, stateKey: String?, content: JSONObject) async throws {
        guard sender.server == settings.serverName else { return }
        if type == "m.room.redaction" || type == Self.agreementType { return }
        if type == "m.room.member" {
            guard stateKey == sender.rawValue, content["membership"]?.stringValue == "join" else { return }
            // A profile change of someone already joined is not a post.
            if try await exists(roomID), try await membership(of: sender, in: roomID) == "join" { return }
        }
        guard let agreement = try await agreement(roomID) else { return }
        if try await privacy.hasAcceptedAgreement(roomID, sender, version: agreement.version) { return }
        throw MatrixError(.consentNotGiven, status: 403,
                          "This room asks its members to accept its agreement (version \(agreement.version)) first: \(consentURI(roomID, sender))",
                          extra: ["consent_uri": .string(consentURI(roomID, sender))])
    }

    /// The page where `user` reads and accepts the room's agreement. The link carries a keyed
    /// digest instead of a login, so it works when opened from any client.
    public func consentURI(_ roomID: RoomID, _ user: UserID) -> String {
        let base = (settings.publicBaseURL ?? "http://\(settings.serverName.rawValue)/").trimmingSuffix("/")
        return "\(base)/_hearth/consent?room=\(MatrixURI.percentEncode(roomID.rawValue))&user=\(MatrixURI.percentEncode(user.rawValue))&h=\(consentDigest(roomID, user))"
    }

    public func consentDigest(_ roomID: RoomID, _ user: UserID) -> String {
        Base64.encode(signingKey.keyedDigest(label: "consent", Array("\(roomID.rawValue)\n\(user.rawValue)".utf8)), alphabet: .urlSafe)
    }

    /// Records `user`'s acceptance of the room's current agreement (from the consent page,
    /// after checking its digest); returns the version accepted.
    @discardableResult
    public func acceptAgreement(_ roomID: RoomID, _ user: UserID, version: String) async throws -> String {
        guard let agreement = try await agreement(roomID) else { throw MatrixError.notFound("This room has no agreement") }
        guard agreement.version == version else {
            throw MatrixError(.unknown, status: 409, "The agreement changed to version \(agreement.version); read it again")
        }
        try await privacy.recordAgreementAcceptance(AgreementAcceptance(roomID: roomID, userID: user, version: version,
                                                                             acceptedAt: clock.now()))
        return version
    }

    /// Who accepted which version, for the room's moderators (those who may kick) and server
    /// admins.
    public func agreementAcceptances(_ roomID: RoomID, requester: UserID, isServerAdmin: Bool) async throws -> [AgreementAcceptance] {
        guard try await exists(roomID) else { throw MatrixError.notFound("Unknown room") }
        if !isServerAdmin {
            let levels = try await powerLevels(roomID)
            guard try await membership(of: requester, in: roomID) == "join", levels.userLevel(requester) >= .finite(levels.kick) else {
                throw MatrixError.forbidden("Only the room's moderators and server admins see who accepted its agreement")
            }
        }
        return try await privacy.agreementAcceptances(roomID)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
