import Foundation
public import HearthCore
import Synchronization

/// How far a room's events may travel. Assigned when the room is created (or first seen) and
/// enforced for the room's whole life at the egress gate.
public enum RoomClass: String, Sendable, CaseIterable, Comparable {
    /// Never federates: no event, receipt, typing notice or state of the room leaves.
    case localOnly = "local_only"
    /// Federates only with the room's named partner servers.
    case partners
    /// Federates with any server the federation rule allows.
    case open

    /// Narrower classes sort first.
    public static func < (a: RoomClass, b: RoomClass) -> Bool { a.rank < b.rank }
    private var rank: Int {
        switch self {
        case .localOnly: return 0
        case .partners: return 1
        case .open: return 2
        }
    }
}

/// A room's class as assigned, with the partner servers of a `partners` room (empty: the
/// policy's default partners).
public struct RoomPolicy: Sendable, Equatable {
    public var roomClass: RoomClass
    public var partners: [ServerName]
    /// False when nothing was assigned and the class comes from the policy's defaults.
    public var assigned: Bool

    public init(roomClass: RoomClass, partners: [ServerName] = [], assigned: Bool = true) {
        self.roomClass = roomClass
        self.partners = partners
        self.assigned = assigned
    }
}

/// A server-name pattern: `*` and `?` globs. A pattern with a port (`clinic.example:8448`) is
/// matched against the whole server name; one without, against the host name (any port).
public struct ServerPattern: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    private let glob: GlobPattern
    private let includesPort: Bool

    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, !trimmed.contains("/"), !trimmed.contains(" ") else { return nil }
        self.text = trimmed
        glob = GlobPattern(trimmed.lowercased())
        // An IPv6 literal is bracketed; its colons are not a port.
        let afterBracket = trimmed.hasPrefix("[") ? String(trimmed.drop { $0 != "]" }) : trimmed
        includesPort = afterBracket.contains(":")
    }

    public func matches(_ server: ServerName) -> Bool {
        glob.matches(includesPort ? server.rawValue.lowercased() : server.hostname.lowercased())
    }

    public var description: String { text }
}

extension [ServerPattern] {
    func firstMatch(_ server: ServerName) -> ServerPattern? { first { $0.matches(server) } }
}


/// Where a kind of room-bound ephemeral data (typing, receipts) may go: nowhere, or to the
/// servers of rooms of these classes (which the room class must allow in the first place).
public struct EphemeralSharing: Sendable, Equatable {
    public var roomClasses: Set<RoomClass>

    public static let never = EphemeralSharing(roomClasses: [])
    public static let always = EphemeralSharing(roomClasses: [.partners, .open])

    public init(roomClasses: Set<RoomClass>) { self.roomClasses = roomClasses.subtracting([.localOnly]) }

    public func allows(_ roomClass: RoomClass) -> Bool { roomClasses.contains(roomClass) }
}

/// What personal and ephemeral data a destination receives.
public struct DataSharing: Sendable, Equatable {
    public enum ProfileQueries: String, Sendable, CaseIterable {
        /// `/query/profile` is refused.
        case refuse
        /// Answered only about users who share a room with someone on the asking server.
        case sharedRooms = "shared_rooms"
        case allow
    }

    public enum MediaSharing: String, Sendable, CaseIterable {
        case refuse
        /// Media served only if it was posted in a room whose class lets it reach the asker.
        case rooms
        case allow
    }

    public var typing: EphemeralSharing = .always
    public var receipts: EphemeralSharing = .always
    /// `m.presence` EDUs.
    public var presence = true
    /// Device display names in device-list updates, `/user/devices` and `/user/keys/query`.
    public var deviceDisplayNames = true
    public var profileQueries: ProfileQueries = .allow
    /// `/publicRooms` and `/query/directory` (aliases) answers. (`/hierarchy` answers are
    /// filtered by room class instead, so partners can still join a shared space.)
    public var roomDirectory = true
    /// Media answers. `allow` by default: attachments of encrypted rooms carry their mxc://
    /// URI inside the ciphertext, so `rooms` cannot find their room and withholds them.
    public var media: MediaSharing = .allow

    public init() {}

    /// Shares nothing beyond the room events themselves.
    public static var minimal: DataSharing {
        var sharing = DataSharing()
        sharing.typing = .never
        sharing.receipts = .never
        sharing.presence = false
        sharing.deviceDisplayNames = false
        sharing.profileQueries = .refuse
        sharing.roomDirectory = false
        sharing.media = .rooms
        return sharing
    }
}

/// Which servers this server talks to at all.
public enum FederationRule: Sendable, Equatable {
    /// Nothing leaves; no remote server is contacted or answered.
    case off
    /// Only servers matching one of these patterns.
    case allowlist([ServerPattern])
    /// Every server but those matching one of these patterns.
    case open(deny: [ServerPattern])
}

/// What the display name and avatar of a local user look like in the member events of rooms
/// that federate. Chosen when the event is created; signed events are never changed later.
public enum FederatedProfile: String, Sendable, CaseIterable {
    /// The user's own display name and avatar.
    case real
    /// No display name and no avatar: other servers see the Matrix ID only.
    case none
    /// A per-room pseudonym (stable for the user in that room, unlinkable across rooms) and
    /// no avatar.
    case pseudonym
}

/// Invitations across the boundary.
public struct InvitePolicy: Sendable, Equatable {
    public enum Inbound: Sendable, Equatable {
        case all
        case none
        case servers([ServerPattern])
    }
    public enum Outbound: Sendable, Equatable {
        case all
        /// Only server admins invite remote users.
        case admins
        case none
        /// These local users (and server admins).
        case users(Set<UserID>)
    }
    /// Which remote servers may invite local users.
    public var inbound: Inbound = .all
    /// Which local users may invite remote users.
    public var outbound: Outbound = .all

    public init() {}
}

/// Defaults and limits for room classes.
public struct RoomClassRules: Sendable, Equatable {
    /// The class of a new room when nothing more specific applies.
    public var defaultClass: RoomClass = .open
    /// By `creation_content.type` (`m.space`, or a custom type); `""` names ordinary rooms.
    public var defaultByRoomType: [String: RoomClass] = [:]
    /// The class of rooms created by server admins, when set.
    public var defaultForAdmins: RoomClass? = nil
    /// Partners of a `partners` room when the room names none.
    public var partners: [ServerName] = []
    /// The classes a room admin may choose (at creation or later). Server admins may choose any.
    public var roomAdminsMayChoose: Set<RoomClass> = Set(RoomClass.allCases)

    public init() {}

    /// The class a new room starts with.
    public func initialClass(roomType: String?, creatorIsAdmin: Bool) -> RoomClass {
        if creatorIsAdmin, let admin = defaultForAdmins { return admin }
        return defaultByRoomType[roomType ?? ""] ?? defaultClass
    }
}

/// The organization's boundary: which servers this server federates with, how far each room
/// reaches, and what personal and ephemeral data leaves. Evaluated at the egress gate for
/// everything that leaves, and by the client API where a client's action would need to cross
/// the boundary (so the client hears M_FORBIDDEN naming the rule).
/// The configuration format is documented in Spec/policy.md.
public struct OrganizationPolicy: Sendable, Equatable {
    public var federation: FederationRule = .open(deny: [])
    public var rooms = RoomClassRules()
    /// What every destination receives, unless an override matches it.
    public var sharing = DataSharing()
    /// Per-destination sharing; the first matching pattern wins.
    public var destinationSharing: [(pattern: ServerPattern, sharing: DataSharing)] = []
    public var federatedProfile: FederatedProfile = .real
    public var invites = InvitePolicy()
    /// How long audit records are kept (ms); nil keeps them forever.
    public var auditRetention: Int64? = nil
    /// Rooms of moderation policy rules (MSC2313) applied to joins and invites
    /// (`policy_lists`, a top-level key; reloaded with the rest on SIGHUP).
    public var policyLists: [RoomID] = []

    /// Everything allowed: what a server without an `organization_policy` section does.
    public init() {}

    public static func == (a: OrganizationPolicy, b: OrganizationPolicy) -> Bool {
        a.federation == b.federation && a.rooms == b.rooms && a.sharing == b.sharing
            && a.destinationSharing.map(\.pattern) == b.destinationSharing.map(\.pattern)
            && a.destinationSharing.map(\.sharing) == b.destinationSharing.map(\.sharing)
            && a.federatedProfile == b.federatedProfile && a.invites == b.invites && a.auditRetention == b.auditRetention
            && a.policyLists == b.policyLists
    }

    // MARK: Verdicts

    /// Whether this server may talk to `server` at all.
    public func federates(with server: ServerName) -> PolicyVerdict {
        switch federation {
        case .off:
            return .refuse("federation.off", "federation is off on this server")
        case .allowlist(let patterns):
            if let match = patterns.firstMatch(server) { return .allow("federation.allowlist", "\(server) matches '\(match)'") }
            return .refuse("federation.allowlist", "\(server) is not on this server's federation allowlist")
        case .open(let deny):
            if let match = deny.firstMatch(server) {
                return .refuse("federation.denylist", "\(server) matches the federation denylist entry '\(match)'")
            }
            return .allow("federation.open", "federation is open")
        }
    }

    /// The sharing settings for a destination.
    public func sharing(for server: ServerName?) -> DataSharing {
        guard let server else { return sharing }
        return destinationSharing.first { $0.pattern.matches(server) }?.sharing ?? sharing
    }

    /// Whether a room's events, state and membership may reach `server`.
    public func room(_ room: RoomPolicy, reaches server: ServerName) -> PolicyVerdict {
        let link = federates(with: server)
        guard link.allowed else { return link }
        switch room.roomClass {
        case .localOnly:
            return .refuse("room_class.local_only", "the room is local-only")
        case .partners:
            let partners = room.partners.isEmpty ? rooms.partners : room.partners
            if partners.contains(server) { return .allow("room_class.partners", "\(server) is a partner of the room") }
            return .refuse("room_class.partners", "\(server) is not a partner server of the room")
        case .open:
            return .allow("room_class.open", "the room is open")
        }
    }

    /// Whether a room-bound ephemeral kind (`typing`, `receipts`) of a room reaches `server`.
    public func ephemeral(_ kind: EphemeralKind, of room: RoomPolicy, reaches server: ServerName) -> PolicyVerdict {
        let reach = self.room(room, reaches: server)
        guard reach.allowed else { return reach }
        let setting = kind == .typing ? sharing(for: server).typing : sharing(for: server).receipts
        if setting.allows(room.roomClass) { return .allow("sharing.\(kind.rawValue)", "\(kind.rawValue) shared with \(server)") }
        return .refuse("sharing.\(kind.rawValue)", "\(kind.rawValue) of \(room.roomClass.rawValue) rooms is not shared with \(server)")
    }

    public func presence(reaches server: ServerName) -> PolicyVerdict {
        let link = federates(with: server)
        guard link.allowed else { return link }
        return sharing(for: server).presence
            ? .allow("sharing.presence", "presence shared with \(server)")
            : .refuse("sharing.presence", "presence is not shared with \(server)")
    }

    public func deviceDisplayNames(reach server: ServerName) -> PolicyVerdict {
        let link = federates(with: server)
        guard link.allowed else { return link }
        return sharing(for: server).deviceDisplayNames
            ? .allow("sharing.device_display_names", "device names shared with \(server)")
            : .refuse("sharing.device_display_names", "device display names are not shared with \(server)")
    }

    public func roomDirectory(reaches server: ServerName?) -> PolicyVerdict {
        if let server {
            let link = federates(with: server)
            guard link.allowed else { return link }
        }
        return sharing(for: server).roomDirectory
            ? .allow("sharing.room_directory", "the room directory is shared")
            : .refuse("sharing.room_directory", "the room directory is not shared over federation")
    }

    /// Whether a remote server may invite local users.
    public func acceptsInvite(from server: ServerName) -> PolicyVerdict {
        let link = federates(with: server)
        guard link.allowed else { return link }
        switch invites.inbound {
        case .all: return .allow("invites.inbound", "invites accepted from any server")
        case .none: return .refuse("invites.inbound", "this server accepts no invites from other servers")
        case .servers(let patterns):
            if let match = patterns.firstMatch(server) { return .allow("invites.inbound", "\(server) matches '\(match)'") }
            return .refuse("invites.inbound", "invites from \(server) are not accepted")
        }
    }

    /// Whether `user` (a server admin or not) may invite a user of another server.
    public func mayInviteRemoteUsers(_ user: UserID, isAdmin: Bool) -> PolicyVerdict {
        switch invites.outbound {
        case .all: return .allow("invites.outbound", "any local user may invite remote users")
        case .none: return .refuse("invites.outbound", "inviting users of other servers is disabled on this server")
        case .admins:
            return isAdmin ? .allow("invites.outbound", "server admins may invite remote users")
                : .refuse("invites.outbound", "only server admins may invite users of other servers")
        case .users(let users):
            return isAdmin || users.contains(user) ? .allow("invites.outbound", "\(user) may invite remote users")
                : .refuse("invites.outbound", "\(user) may not invite users of other servers")
        }
    }

    /// Whether a room admin (not a server admin) may give a room this class.
    public func roomAdminMayChoose(_ roomClass: RoomClass) -> PolicyVerdict {
        rooms.roomAdminsMayChoose.contains(roomClass)
            ? .allow("rooms.room_admins_may_choose", "room admins may choose \(roomClass.rawValue)")
            : .refuse("rooms.room_admins_may_choose", "only server admins may make a room \(roomClass.rawValue)")
    }
}

public enum EphemeralKind: String, Sendable {
    case typing
    case receipts
}

/// A policy's answer, with the rule that gave it (for the audit and for error messages).
public struct PolicyVerdict: Sendable, Equatable {
    public var allowed: Bool
    /// A stable rule name, e.g. `room_class.partners` (Spec/policy.md lists them).
    public var rule: String
    public var reason: String

    public static func allow(_ rule: String, _ reason: String) -> PolicyVerdict { PolicyVerdict(allowed: true, rule: rule, reason: reason) }
    public static func refuse(_ rule: String, _ reason: String) -> PolicyVerdict { PolicyVerdict(allowed: false, rule: rule, reason: reason) }

    /// The client-facing error for a refusal: M_FORBIDDEN naming the rule.
    public var error: MatrixError { .forbidden("Refused by this server's policy (\(rule)): \(reason)") }
}

/// The policy in force, replaced as a whole when the configuration is reloaded.
public final class PolicyHolder: Sendable {
    private let state: Mutex<OrganizationPolicy>

    public init(_ policy: OrganizationPolicy = OrganizationPolicy()) { state = Mutex(policy) }

    public var current: OrganizationPolicy { state.withLock { $0 } }

    public func replace(_ policy: OrganizationPolicy) { state.withLock { $0 = policy } }
}
