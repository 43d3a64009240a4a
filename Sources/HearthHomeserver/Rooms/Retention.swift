public import HearthCore
import HearthStorage
import Logging
import Synchronization

/// How long messages live: room retention policies (MSC1763's `m.room.retention`) within the
/// server's bounds, and per-message expiry chosen by the sender (MSC2228's
/// `m.self_destruct_after`). Configured as Synapse's `retention` section.
public struct RetentionSettings: Sendable, Equatable {
    /// Room retention policies are applied (self-destructing messages always are).
    public var enabled = false
    /// The lifetime of messages in rooms without an `m.room.retention` event (ms); nil: forever.
    public var defaultMaxLifetime: Milliseconds? = nil
    /// Bounds on what a room's policy may ask for (ms).
    public var allowedLifetimeMin: Milliseconds? = nil
    public var allowedLifetimeMax: Milliseconds? = nil
    /// How often the expiry job runs (ms).
    public var purgeInterval: Milliseconds = 60_000

    public init() {}

    /// The lifetime applied to a room whose `m.room.retention` asks for `requested` (ms). A
    /// request that is not positive is ignored: a room's state (which another server can send)
    /// must not make every message expire at once.
    public func effectiveMaxLifetime(requested: Milliseconds?) -> Milliseconds? {
        let requested = requested.flatMap { $0 > 0 ? $0 : nil }
        guard enabled, var lifetime = requested ?? defaultMaxLifetime else { return nil }
        if let minimum = allowedLifetimeMin { lifetime = max(lifetime, minimum) }
        if let maximum = allowedLifetimeMax { lifetime = min(lifetime, maximum) }
        return lifetime > 0 ? lifetime : nil
    }
}

/// What one expiry pass did.
public struct ExpiryReport: Sendable, Equatable {
    /// Expired by a redaction this server sent (it federates to the room's other servers).
    public var redacted = 0
    /// Erased here only (another server's message, or one nobody here may redact).
    public var erased = 0
    public var mediaDeleted = 0

    public init() {}
}

extension Homeserver {
    /// Expires what is due at `now`: messages past their room's lifetime and self-destructing
    /// messages past their time. The content leaves the database (a redaction replaces the
    /// stored event with its redacted form), uploads only those messages used are deleted, and
    /// the database's freed space is zeroed. A local user's message is expired by a redaction
    /// in their name, which federates, so the room's other servers drop it too.
    /// Spec: MSC1763 (room retention), MSC2228 (self-destructing events).
    @discardableResult
    public func expireMessages(now: Milliseconds) async throws -> ExpiryReport {
        var report = ExpiryReport()
        var due: [EventID] = try await storage.privacy.selfDestructsDue(at: now, limit: 1000)
        let retention = settings.retention
        if retention.enabled {
            for roomID in try await storage.privacy.allRooms() {
                let requested = try await rooms.currentStateEvent(roomID, StateKey("m.room.retention", ""))?
                    .content["max_lifetime"]?.intValue
                guard let lifetime = retention.effectiveMaxLifetime(requested: requested) else { continue }
                due += try await storage.privacy.eventsToExpire(in: roomID, sentBefore: now - lifetime, limit: 1000)
            }
        }
        for eventID in Set(due) {
            guard let stored = try await storage.rooms.event(eventID), !stored.pdu.content.isEmpty else { continue }
            let uploads = Self.localMedia(in: stored.pdu.content, server: serverName)
            if try await rooms.expireByRedaction(stored.pdu) { report.redacted += 1 } else {
                try await rooms.eraseContent(of: stored.pdu)
                report.erased += 1
            }
            for mxc in uploads where try await !storage.privacy.isMediaMentioned(mxc) {
                try await media.delete(mediaID: String(mxc.dropFirst("mxc://\(serverName.rawValue)/".count)))
                report.mediaDeleted += 1
            }
        }
        // Redactions (these, or any since the last pass) leave old pages in the write-ahead
        // log until it is checkpointed and truncated.
        if rooms.scrubPending.withLock({ pending in defer { pending = false }; return pending }) || report != ExpiryReport() {
            try await storage.privacy.scrubFreedSpace()
        }
        if report != ExpiryReport() {
            logger.info("messages expired", metadata: ["redacted": "\(report.redacted)", "erased": "\(report.erased)",
                                                       "media_deleted": "\(report.mediaDeleted)"])
        }
        return report
    }

    /// This server's uploads that a content object points at (`url`, `info.thumbnail_url`,
    /// `file.url`, at any depth).
    static func localMedia(in content: JSONObject, server: ServerName) -> Set<String> {
        let prefix = "mxc://\(server.rawValue)/"
        var found: Set<String> = []
        func walk(_ value: JSONValue) {
            switch value {
            case .string(let text) where text.hasPrefix(prefix): found.insert(text)
            case .object(let object): for member in object { walk(member.value) }
            case .array(let array): array.forEach(walk)
            default: break
            }
        }
        walk(.object(content))
        return found
    }
}

extension Rooms {
    /// Redacts an expired message in the name of its local sender, or of a local member
    /// allowed to redact others' events. False when nobody here can (a remote sender's
    /// message, or a room everyone here has left).
    func expireByRedaction(_ pdu: PDU, reason: String = "expired") async throws -> Bool {
        let levels = try await powerLevels(pdu.roomID)
        var candidates: [UserID] = []
        if pdu.sender.server == settings.serverName { candidates.append(pdu.sender) }
        // Then local moderators: the sender may have left the room.
        for member in try await members(of: pdu.roomID)
        where member.membership == "join" && member.userID.server == settings.serverName && member.userID != pdu.sender
            && levels.userLevel(member.userID) >= .finite(levels.redact) {
            candidates.append(member.userID)
        }
        for sender in candidates where try await membership(of: sender, in: pdu.roomID) == "join" {
            do {
                try await send(pdu.roomID, sender: sender, type: "m.room.redaction", content: ["reason": .string(reason)], redacts: pdu.eventID)
                return true
            } catch {
                logger.info("expiry redaction refused", metadata: ["event_id": "\(pdu.eventID)", "error": "\(error)"])
            }
        }
        return false
    }

    /// Erases an event's content here only, keeping its redacted form (which still carries
    /// the hashes and signatures the room's history needs).
    func eraseContent(of pdu: PDU) async throws {
        let redacted = pdu.redacted()
        try await privacy.eraseContent(of: pdu.eventID, redactedJSON: redacted.json)
        eventCache.put(redacted)
        scrubPending.withLock { $0 = true }
    }
}
