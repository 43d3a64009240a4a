public import HearthCore
public import HearthStorage
import Crypto
import Logging
import Synchronization

/// Pseudonymous and anonymous posting, from any client, through a relay account
/// (`@anonymous:<server>`) that members message directly:
///
///     post <room> <text>      posts under the member's own pseudonym for that room
///     anon <room> <text>      posts as the room's shared "Anonymous" identity
///     feedback <room> <text>  anonymous feedback to the room's moderators (moderation queue)
///
/// A pseudonym is a separate account (a mask) that joins the room; nothing in the room's
/// history links it to the member. Which member is behind a mask is sealed with a key derived
/// from the server's signing key, or not kept at all when the room's `org.hearth.pseudonyms`
/// says `keep_link: false`; only an audited break-glass action by a server admin unseals it.
/// Moderators kick or ban a mask like any member, without learning who it is, and a banned
/// member cannot make a new mask in that room. Spec/support-groups.md describes it.
extension Homeserver {
    public static let pseudonymSettingsType = "org.hearth.pseudonyms"

    public var relayUserID: UserID { Rooms.relayUserID(on: serverName) }

    /// Handles a local event the relay should see: an invite of the relay (accepted), or a
    /// member's message in a room the relay is in (a command).
    func relayObserve(_ pdu: PDU) async {
        let relay = relayUserID
        do {
            if pdu.type == "m.room.member", pdu.stateKey == relay.rawValue, pdu.content["membership"]?.stringValue == "invite" {
                try await rooms.ensureServiceAccount(relay)
                _ = try await rooms.join(pdu.roomID, user: relay)
                try await relayReply(in: pdu.roomID, Self.relayHelp)
                return
            }
            guard pdu.type == "m.room.message", pdu.sender != relay, pdu.sender.server == serverName,
                  let body = pdu.content["body"]?.stringValue,
                  try await rooms.membership(of: relay, in: pdu.roomID) == "join",
                  try await storage.privacy.pseudonymMask(pdu.sender) == nil
            else { return }
            let reply: String
            do { reply = try await relayCommand(body, from: pdu.sender) } catch let error as MatrixError { reply = error.message }
            // The command carried the text: it leaves the member's chat with the relay (a
            // redaction of their own message), so the only copy is the anonymous one.
            if let verb = body.split(separator: " ").first?.lowercased(), ["post", "anon", "feedback"].contains(verb) {
                _ = try? await rooms.send(pdu.roomID, sender: pdu.sender, type: "m.room.redaction",
                                          content: ["reason": "sent through the anonymous relay"], redacts: pdu.eventID)
            }
            try await relayReply(in: pdu.roomID, reply)
        } catch {
            logger.warning("relay could not handle an event", metadata: ["event_id": "\(pdu.eventID)", "error": "\(error)"])
        }
    }

    static let relayHelp = """
        I post for you without showing your name. Write to me:
        post <room> <text> — post under your own pseudonym for that room (the same one each time)
        anon <room> <text> — post as the room's shared "Anonymous"
        feedback <room> <text> — send anonymous feedback to the room's moderators
        <room> is the room's ID (!…) or address (#…). You must be a member of the room, and the room must allow pseudonyms.
        """

    /// Replies self-destruct after ten minutes: a reply naming the member's pseudonym must not
    /// stay in the database as a plain link between the two.
    private func relayReply(in roomID: RoomID, _ text: String) async throws {
        _ = try await rooms.send(roomID, sender: relayUserID, type: "m.room.message", content: [
            "msgtype": "m.notice", "body": .string(text), "m.self_destruct_after": .int(clock.now() + Self.relayReplyLifetime),
        ])
    }

    static let relayReplyLifetime: Milliseconds = 600_000

    /// Runs one command; returns the reply.
    func relayCommand(_ body: String, from member: UserID) async throws -> String {
        let words = body.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
        guard let verb = words.first?.lowercased(), ["post", "anon", "feedback"].contains(verb) else { return Self.relayHelp }
        guard words.count == 3 else { return "Write: \(verb) <room> <text>" }
        let roomID: RoomID
        if let id = RoomID(words[1]) {
            roomID = id
        } else if let alias = RoomAlias(words[1]), let id = try await storage.rooms.roomID(forAlias: alias) {
            roomID = id
        } else {
            return "I don't know the room \(words[1])."
        }
        let text = words[2]
        guard try await rooms.exists(roomID), try await rooms.membership(of: member, in: roomID) == "join" else {
            return "You can only post in rooms you are a member of."
        }
        if verb == "feedback" {
            try await storage.userData.saveReport(reporter: relayUserID, roomID: roomID, eventID: nil, userID: nil,
                                                  reason: "Anonymous feedback: \(text)", score: nil, at: clock.now())
            return "Your feedback went to the room's moderators, without your name."
        }
        guard let settings = try await rooms.currentStateEvent(roomID, StateKey(Self.pseudonymSettingsType, ""))?.content,
              settings["enabled"]?.boolValue == true else {
            return "This room does not allow pseudonymous posts."
        }
        let keepLink = settings["keep_link"]?.boolValue ?? true
        // A member whose own pseudonym was banned may not go on anonymously either.
        if verb == "anon", let own = try await storage.privacy.pseudonymMask(memberDigest: memberDigest(member, roomID)),
           try await rooms.membership(of: own.maskID, in: roomID) == "ban" {
            return "Your pseudonym was banned from this room; you cannot post there anonymously."
        }
        let mask = try await mask(for: verb == "anon" ? nil : member, in: roomID, keepLink: keepLink)
        let membership = try await rooms.membership(of: mask.maskID, in: roomID)
        if membership == "ban" { return "Your pseudonym was banned from this room; you cannot post there under one." }
        // Before joining: the join itself needs the agreement accepted.
        try await acceptAgreementForMask(mask.maskID, of: member, in: roomID)
        if membership != "join" {
            try await joinMask(mask.maskID, roomID, enabler: try await rooms.currentStateEvent(roomID, StateKey(Self.pseudonymSettingsType, ""))?.sender)
        }
        _ = try await rooms.send(roomID, sender: mask.maskID, type: "m.room.message", content: ["msgtype": "m.text", "body": .string(text)])
        let shown = try await storage.accounts.account(mask.maskID)?.displayName ?? mask.maskID.rawValue
        return "Posted as \(shown)."
    }

    /// The member's mask in the room (nil member: the room's shared anonymous identity),
    /// made on first use.
    private func mask(for member: UserID?, in roomID: RoomID, keepLink: Bool) async throws -> PseudonymMask {
        let digest = member.map { memberDigest($0, roomID) } ?? "anonymous:" + roomID.rawValue
        if let existing = try await storage.privacy.pseudonymMask(memberDigest: digest) { return existing }
        let maskID = UserID(localpart: "p-" + Tokens.letters(12).lowercased(), server: serverName)!
        let name = member == nil ? "Anonymous" : rooms.pseudonym(of: maskID, in: roomID)
        _ = try await accounts.createAccount(userID: maskID, password: nil, displayName: name, inhibitLogin: true)
        let sealed: [UInt8]? = if let member, keepLink {
            Array(try AES.GCM.seal(Array(member.rawValue.utf8), using: sealingKey).combined!)
        } else {
            nil
        }
        let mask = PseudonymMask(maskID: maskID, roomID: roomID, memberDigest: digest, sealedMember: sealed, createdAt: clock.now())
        try await storage.privacy.savePseudonymMask(mask)
        return mask
    }

    /// Finds a member's mask without storing who the member is.
    private func memberDigest(_ member: UserID, _ roomID: RoomID) -> String {
        Base64.encode(signingKey.keyedDigest(label: "pseudonym-member", Array("\(member.rawValue)\n\(roomID.rawValue)".utf8)), alphabet: .urlSafe)
    }

    private var sealingKey: SymmetricKey { SymmetricKey(data: signingKey.keyedDigest(label: "pseudonym-seal", [])) }

    /// Joins a mask to the room: directly where anyone may join, otherwise invited by whoever
    /// allowed pseudonyms in the room (so no invite names the member).
    private func joinMask(_ mask: UserID, _ roomID: RoomID, enabler: UserID?) async throws {
        let rule = try await rooms.currentStateEvent(roomID, StateKey("m.room.join_rules", ""))?.content["join_rule"]?.stringValue
        if rule != "public" {
            guard let enabler, enabler.server == serverName, try await rooms.membership(of: enabler, in: roomID) == "join" else {
                throw MatrixError.forbidden("This room is invite-only and whoever allowed pseudonyms has left it; ask a moderator.")
            }
            try await rooms.setMembership(roomID, sender: enabler, target: mask, membership: "invite")
        }
        _ = try await rooms.join(roomID, user: mask)
    }

    /// A mask speaks for a member who accepted the room's agreement: it has accepted it too.
    private func acceptAgreementForMask(_ mask: UserID, of member: UserID, in roomID: RoomID) async throws {
        guard let agreement = try await rooms.agreement(roomID),
              try await storage.privacy.hasAcceptedAgreement(roomID, member, version: agreement.version) else { return }
        try await storage.privacy.recordAgreementAcceptance(AgreementAcceptance(roomID: roomID, userID: mask, version: agreement.version,
                                                                                acceptedAt: clock.now()))
    }

    /// Break glass: who is behind a mask, for a server admin with a stated reason. The reveal
    /// is recorded in the tamper-evident audit log before anything is returned.
    public func revealPseudonym(_ maskID: UserID, by admin: UserID, reason: String) async throws -> UserID {
        guard !reason.isEmpty else { throw MatrixError.missingParam("A reason is required") }
        guard let mask = try await storage.privacy.pseudonymMask(maskID) else { throw MatrixError.notFound("\(maskID) is not a pseudonym") }
        guard let sealed = mask.sealedMember else {
            throw MatrixError.notFound("This room keeps no link between pseudonyms and members")
        }
        try await storage.federation.appendAuditRecords([EgressAuditRecord(
            timestamp: clock.now(), destination: nil, kind: "break_glass", method: "POST",
            path: "/_hearth/admin/v1/pseudonyms/\(maskID.rawValue)/reveal", decision: "reveal", reason: reason, bodyDigest: nil,
            bodySize: 0, dataKind: "pseudonym", roomID: mask.roomID.rawValue, userID: admin.rawValue, rule: "break_glass")])
        let opened = try AES.GCM.open(try AES.GCM.SealedBox(combined: sealed), using: sealingKey)
        guard let member = UserID(String(decoding: opened, as: UTF8.self)) else { throw MatrixError.unknown("The sealed link is damaged") }
        return member
    }
}

extension Rooms {
    static func relayUserID(on server: ServerName) -> UserID { UserID(localpart: "anonymous", server: server)! }

    /// Creates a server-operated account (the relay) the first time it is needed.
    func ensureServiceAccount(_ user: UserID) async throws {
        guard user == Self.relayUserID(on: settings.serverName), try await accounts.account(user) == nil else { return }
        do {
            try await accounts.createAccount(Account(userID: user, passwordHash: nil, createdAt: clock.now(), displayName: "Anonymous relay"))
        } catch StorageError.conflict {
            // Created meanwhile.
        }
    }
}
