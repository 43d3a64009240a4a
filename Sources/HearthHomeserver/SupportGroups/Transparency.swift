public import HearthCore

/// The transparency page: what this server keeps, for how long, and what leaves for whom,
/// generated from the configuration in force (so it changes with a policy reload).
public enum TransparencyPage {
    public static func html(_ settings: HomeserverSettings) -> String {
        let policy = settings.policy.current
        let retention = settings.retention
        var sections: [(String, [String])] = []

        var kept = [
            "Accounts: user ID, password hash (never the password), display name and avatar, devices with the time and address they were last seen.",
            "Rooms: every event of the rooms members take part in, as the Matrix protocol needs them. End-to-end encrypted messages are kept encrypted; this server cannot read them.",
            "Uploads (media) until they are deleted, expire with their messages, or their uploader's account is erased.",
        ]
        if retention.enabled, let lifetime = retention.defaultMaxLifetime {
            kept.append("Messages are deleted \(duration(lifetime)) after they were sent, unless a room asks for a different lifetime.")
        } else if retention.enabled {
            kept.append("Messages are kept until deleted, unless a room sets a lifetime (m.room.retention).")
        } else {
            kept.append("Messages are kept until deleted or redacted; rooms cannot set lifetimes on this server.")
        }
        if let minimum = retention.allowedLifetimeMin, retention.enabled { kept.append("A room's own lifetime is held to at least \(duration(minimum)).") }
        if let maximum = retention.allowedLifetimeMax, retention.enabled { kept.append("A room's own lifetime is held to at most \(duration(maximum)).") }
        kept.append("A message whose sender sets an expiry time (m.self_destruct_after) is deleted at that time.")
        kept.append("Deleted and expired content is removed from the database files, not only hidden.")
        kept.append("Members can download a copy of their account, profile, devices, settings, rooms, messages and uploads, and erase their messages, uploads and profile when they deactivate their account.")
        kept.append(policy.auditRetention.map { "The record of what left this server is kept for \(duration($0))." }
            ?? "The record of what left this server is kept indefinitely.")
        sections.append(("What this server keeps", kept))

        var leaves: [String] = []
        switch policy.federation {
        case .off: leaves.append("Nothing: this server does not talk to any other server.")
        case .allowlist(let patterns):
            leaves.append(patterns.isEmpty ? "Nothing: no other server is allowed."
                          : "Only these servers are contacted: \(patterns.map(\.text).joined(separator: ", ")).")
        case .open(let deny):
            leaves.append(deny.isEmpty ? "Any Matrix server taking part in a shared room can be contacted."
                          : "Any Matrix server but these: \(deny.map(\.text).joined(separator: ", ")).")
        }
        if case .off = policy.federation {} else {
            leaves.append("New rooms are \(classText(policy.rooms.defaultClass)) unless their creator chooses otherwise"
                          + (policy.rooms.partners.isEmpty ? "." : "; partner servers: \(policy.rooms.partners.map(\.rawValue).joined(separator: ", "))."))
            let sharing = policy.sharing
            leaves.append("Typing notices: \(ephemeralText(sharing.typing)). Read receipts: \(ephemeralText(sharing.receipts)).")
            leaves.append("Presence (online status): \(sharing.presence ? "shared" : "not shared"). Device names: \(sharing.deviceDisplayNames ? "shared" : "not shared").")
            switch sharing.profileQueries {
            case .allow: leaves.append("Profiles (display name, avatar) are answered to servers that ask.")
            case .sharedRooms: leaves.append("Profiles are answered only about members who share a room with someone on the asking server.")
            case .refuse: leaves.append("Profiles are not answered to other servers.")
            }
            leaves.append("The public room directory is \(sharing.roomDirectory ? "" : "not ")shown to other servers.")
            switch sharing.media {
            case .allow: leaves.append("Uploads are served to other servers that ask for them.")
            case .rooms: leaves.append("Uploads are served only to servers that may see a room they were posted in.")
            case .refuse: leaves.append("Uploads are not served to other servers.")
            }
            for (pattern, _) in policy.destinationSharing { leaves.append("\(pattern.text) has its own sharing settings.") }
            switch policy.federatedProfile {
            case .real: break
            case .none: leaves.append("In rooms shared with other servers, members appear without display name or avatar.")
            case .pseudonym: leaves.append("In rooms shared with other servers, members appear under a per-room pseudonym, without avatar.")
            }
        }
        leaves.append("Every decision about what leaves is recorded in a tamper-evident log that the server's administrators can read.")
        sections.append(("What leaves this server, and for whom", leaves))

        var joining: [String] = []
        if !settings.enableRegistration { joining.append("Accounts are created by the administrators.") }
        else if settings.registrationRequiresToken { joining.append("Joining needs an invitation token from the administrators.") }
        else { joining.append("Anyone can create an account.") }
        sections.append(("Joining", joining))

        let body = sections.map { title, lines in
            "<h2>\(HTML.escape(title))</h2>\n<ul>\n" + lines.map { "<li>\(HTML.escape($0))</li>" }.joined(separator: "\n") + "\n</ul>"
        }.joined(separator: "\n")
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(settings.serverName.rawValue)): how your data is handled</title>
            <style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.5}</style></head>
            <body><h1>\(HTML.escape(settings.serverName.rawValue)): how your data is handled</h1>
            <p>This page is generated from the server's configuration as it is in force now.</p>
            \(body)
            </body></html>
            """
    }

    static func classText(_ roomClass: RoomClass) -> String {
        switch roomClass {
        case .localOnly: return "local-only (they never leave this server)"
        case .partners: return "shared only with partner servers"
        case .open: return "open to any allowed server"
        }
    }

    static func ephemeralText(_ sharing: EphemeralSharing) -> String {
        if sharing.roomClasses.isEmpty { return "not shared" }
        if sharing.roomClasses == [.partners] { return "shared only in partner rooms" }
        if sharing.roomClasses == [.open] { return "shared only in open rooms" }
        return "shared in rooms that federate"
    }

    /// A duration in the largest whole unit.
    static func duration(_ milliseconds: Int64) -> String {
        let units: [(Int64, String)] = [(31_536_000_000, "year"), (604_800_000, "week"), (86_400_000, "day"), (3_600_000, "hour"),
                                        (60_000, "minute"), (1000, "second")]
        for (size, name) in units where milliseconds >= size && milliseconds % size == 0 {
            let count = milliseconds / size
            return "\(count) \(name)\(count == 1 ? "" : "s")"
        }
        return "\(milliseconds) ms"
    }
}
