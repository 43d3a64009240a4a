public import HearthCore
import HearthStorage

/// What would and would not leave for one destination (and optionally one room and one user),
/// and why: the same verdicts the egress gate reaches, evaluated without sending or recording
/// anything. `hearth policy explain` and `GET /_hearth/admin/v1/policy/explain` print it.
public struct PolicyExplanation: Sendable {
    public struct Line: Sendable {
        /// What the line is about: `federation`, `room events`, `typing`, `profile queries`…
        public var subject: String
        public var allowed: Bool
        public var rule: String
        public var reason: String

        public var json: JSONValue {
            ["subject": .string(subject), "decision": .string(allowed ? "allow" : "refuse"), "rule": .string(rule),
             "reason": .string(reason)]
        }
    }

    public var destination: ServerName
    public var roomID: RoomID?
    public var roomPolicy: RoomPolicy?
    public var userID: UserID?
    public var lines: [Line]

    public static func explain(destination: ServerName, roomID: RoomID?, userID: UserID?, rooms: Rooms) async throws -> PolicyExplanation {
        let policy = rooms.policy
        var lines: [Line] = []
        func add(_ subject: String, _ verdict: PolicyVerdict) {
            lines.append(Line(subject: subject, allowed: verdict.allowed, rule: verdict.rule, reason: verdict.reason))
        }
        add("federation", policy.federates(with: destination))
        var roomPolicy: RoomPolicy? = nil
        if let roomID {
            guard try await rooms.exists(roomID) else { throw MatrixError.notFound("Unknown room \(roomID)") }
            let room = try await rooms.roomPolicy(roomID)
            roomPolicy = room
            add("room events, state and membership", policy.room(room, reaches: destination))
            add("typing notices", policy.ephemeral(.typing, of: room, reaches: destination))
            add("read receipts", policy.ephemeral(.receipts, of: room, reaches: destination))
            add("joins, knocks and invites involving \(destination)", policy.room(room, reaches: destination))
        }
        add("presence", policy.presence(reaches: destination))
        add("device display names", policy.deviceDisplayNames(reach: destination))
        add("room directory", policy.roomDirectory(reaches: destination))
        let sharing = policy.sharing(for: destination)
        let link = policy.federates(with: destination)
        switch sharing.profileQueries {
        case _ where !link.allowed: add("profile queries", link)
        case .allow: add("profile queries", .allow("profiles.allow", "profiles are answered"))
        case .refuse: add("profile queries", .refuse("profiles.refuse", "profile queries from \(destination) are refused"))
        case .sharedRooms:
            if let userID {
                let shares = try await rooms.sharesRoom(userID, with: destination)
                add("profile of \(userID)", shares ? .allow("profiles.shared_rooms", "\(userID) shares a room with \(destination)")
                    : .refuse("profiles.shared_rooms", "\(userID) shares no room with \(destination)"))
            } else {
                add("profile queries", .allow("profiles.shared_rooms", "answered only about users who share a room with \(destination)"))
            }
        }
        switch sharing.media {
        case _ where !link.allowed: add("media", link)
        case .allow: add("media", .allow("media.allow", "media is served to \(destination)"))
        case .refuse: add("media", .refuse("media.refuse", "media is not served to \(destination)"))
        case .rooms: add("media", .allow("media.rooms", "only media posted in rooms that reach \(destination)"))
        }
        add("invites from \(destination) to local users", policy.acceptsInvite(from: destination))
        if let userID {
            let isAdmin = try await rooms.accounts.account(userID)?.isAdmin ?? false
            add("invites by \(userID) to users of other servers", policy.mayInviteRemoteUsers(userID, isAdmin: isAdmin))
            if let roomID, let roomPolicy, roomPolicy.roomClass != .localOnly, policy.federatedProfile != .real {
                let shown = policy.federatedProfile == .pseudonym ? "the pseudonym '\(rooms.pseudonym(of: userID, in: roomID))'" : "no name"
                add("display name and avatar of \(userID) in the room", .allow("federated_profile.\(policy.federatedProfile.rawValue)",
                                                                               "member events carry \(shown) and no avatar"))
            }
        }
        return PolicyExplanation(destination: destination, roomID: roomID, roomPolicy: roomPolicy, userID: userID, lines: lines)
    }

    public var json: JSONObject {
        var object: JSONObject = ["destination": .string(destination.rawValue), "lines": .array(lines.map(\.json))]
        if let roomID { object["room_id"] = .string(roomID.rawValue) }
        if let roomPolicy {
            object["room_class"] = .string(roomPolicy.roomClass.rawValue)
            object["room_class_assigned"] = .bool(roomPolicy.assigned)
        }
        if let userID { object["user_id"] = .string(userID.rawValue) }
        return object
    }

    /// One line per verdict, for a terminal.
    public var text: String {
        var header = "To \(destination)"
        if let roomID, let roomPolicy { header += ", room \(roomID) (\(roomPolicy.roomClass.rawValue)\(roomPolicy.assigned ? "" : ", by default"))" }
        if let userID { header += ", user \(userID)" }
        let width = lines.map(\.subject.count).max() ?? 0
        return ([header + ":"] + lines.map { line in
            let padding = String(repeating: " ", count: max(0, width - line.subject.count))
            return "  \(line.allowed ? "leaves " : "stays  ") \(line.subject)\(padding)  [\(line.rule)] \(line.reason)"
        }).joined(separator: "\n")
    }
}
