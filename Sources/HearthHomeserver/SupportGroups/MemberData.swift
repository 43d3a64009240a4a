public import HearthCore
public import HearthStorage

/// A member's own data: everything the server holds about them, exported as one documented
/// JSON archive (Spec/support-groups.md), and erased on request.
extension Homeserver {
    public static let exportFormat = "org.hearth.export.v1"

    /// The archive of everything this server holds about `user`: account and profile,
    /// devices, account data, rooms and memberships, every event they sent (as stored), and
    /// their uploads with their bytes.
    public func exportMember(_ user: UserID) async throws -> JSONObject {
        guard user.server == serverName, let account = try await storage.accounts.account(user) else {
            throw MatrixError.notFound("Unknown user \(user)")
        }
        var accountObject: JSONObject = [
            "user_id": .string(user.rawValue), "created_at": .int(account.createdAt), "is_admin": .bool(account.isAdmin),
            "is_guest": .bool(account.isGuest), "deactivated": .bool(account.isDeactivated),
        ]
        if let name = account.displayName { accountObject["displayname"] = .string(name) }
        if let avatar = account.avatarURL { accountObject["avatar_url"] = .string(avatar) }
        let fields = try await storage.accounts.profileFields(user)
        if !fields.isEmpty { accountObject["profile_fields"] = .object(fields) }

        let devices: [JSONValue] = try await accounts.devices(of: user).map { device in
            var object: JSONObject = ["device_id": .string(device.deviceID)]
            if let name = device.displayName { object["display_name"] = .string(name) }
            if let seen = device.lastSeenAt { object["last_seen_ts"] = .int(seen) }
            if let ip = device.lastSeenIP { object["last_seen_ip"] = .string(ip) }
            return .object(object)
        }

        var globalData = JSONObject()
        var roomData = JSONObject()
        for entry in try await storage.userData.accountData(user, changedAfter: 0) {
            if let room = entry.roomID {
                var forRoom = roomData[room.rawValue]?.objectValue ?? [:]
                forRoom[entry.type] = .object(entry.content)
                roomData[room.rawValue] = .object(forRoom)
            } else {
                globalData[entry.type] = .object(entry.content)
            }
        }

        let memberships: [JSONValue] = try await rooms.memberships(of: user).map { membership in
            ["room_id": .string(membership.roomID.rawValue), "membership": .string(membership.membership),
             "event_id": .string(membership.eventID.rawValue)]
        }

        var events: [JSONValue] = []
        var after: StreamPosition = 0
        while true {
            let batch = try await storage.privacy.eventsSent(by: user, timelineOnly: false, after: after, limit: 1000)
            guard let last = batch.last else { break }
            events += batch.map { .object($0.pdu.json) }
            after = last.stream
        }

        var uploads: [JSONValue] = []
        for record in try await storage.privacy.mediaUploaded(by: user) {
            var object: JSONObject = [
                "content_uri": .string("mxc://\(serverName.rawValue)/\(record.mediaID)"), "content_type": .string(record.contentType),
                "size": .int(record.size), "created_at": .int(record.createdAt), "sha256": .string(record.sha256),
            ]
            if let name = record.fileName { object["file_name"] = .string(name) }
            if let content = try? await media.download(server: serverName.rawValue, mediaID: record.mediaID) {
                object["content_base64"] = .string(Base64.encode(content.bytes))
            }
            uploads.append(.object(object))
        }

        return [
            "format": .string(Self.exportFormat), "exported_at": .int(clock.now()), "server_name": .string(serverName.rawValue),
            "account": .object(accountObject), "devices": .array(devices),
            "account_data": ["global": .object(globalData), "rooms": .object(roomData)],
            "rooms": .array(memberships), "events": .array(events), "media": .array(uploads),
        ]
    }

    /// Erasure, before deactivation: every message the user sent loses its content (by a
    /// redaction in their name where they are still in the room, so other servers drop it
    /// too; otherwise here), their member events lose name and avatar, their uploads and
    /// personal data (account data, filters, receipts, key backups, profile fields) go.
    @discardableResult
    func eraseMember(_ user: UserID) async throws -> ExpiryReport {
        var report = ExpiryReport()
        var after: StreamPosition = 0
        while true {
            let batch = try await storage.privacy.eventsSent(by: user, timelineOnly: false, after: after, limit: 500)
            guard let last = batch.last else { break }
            after = last.stream
            for stored in batch where stored.pdu.stateKey == nil || stored.pdu.type == "m.room.member" {
                if stored.pdu.type == "m.room.redaction" || stored.redactedBy != nil { continue }
                if try await rooms.expireByRedaction(stored.pdu, reason: "erased at the sender's request") {
                    report.redacted += 1
                } else {
                    try await rooms.eraseContent(of: stored.pdu)
                    report.erased += 1
                }
            }
        }
        for record in try await storage.privacy.mediaUploaded(by: user) {
            try await media.delete(mediaID: record.mediaID)
            report.mediaDeleted += 1
        }
        try await storage.privacy.deletePersonalData(of: user)
        return report
    }
}
