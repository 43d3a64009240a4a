public import HearthCore
public import HearthHomeserver

/// The `organization_policy` section of the configuration (format: Spec/policy.md).
/// Without the section the policy allows everything, as a server without Hearth's boundary
/// would.
enum PolicyConfig {
    static func parse(_ root: ConfigMapping) throws -> OrganizationPolicy {
        var policy = OrganizationPolicy()
        guard let section = try root.mapping("organization_policy") else { return policy }

        if let federation = try section.mapping("federation") {
            let mode = try federation.string("mode") ?? "open"
            let servers = try patterns(federation, "servers")
            let deny = try patterns(federation, "deny")
            switch mode {
            case "off": policy.federation = .off
            case "allowlist": policy.federation = .allowlist(servers)
            case "open":
                guard servers.isEmpty else { throw ConfigError("\(federation.path).servers is for mode allowlist; open mode takes deny") }
                policy.federation = .open(deny: deny)
            default: throw ConfigError("\(federation.path).mode must be off, allowlist or open")
            }
            if mode == "allowlist", !deny.isEmpty { throw ConfigError("\(federation.path).deny is for mode open") }
            try federation.finish()
        }

        if let rooms = try section.mapping("rooms") {
            if let text = try rooms.string("default_class") { policy.rooms.defaultClass = try roomClass(text, rooms.path + ".default_class") }
            for (type, text) in try rooms.stringMap("default_class_by_room_type") ?? [] {
                policy.rooms.defaultByRoomType[type] = try roomClass(text, rooms.path + ".default_class_by_room_type." + type)
            }
            if let text = try rooms.string("default_class_for_admins") {
                policy.rooms.defaultForAdmins = try roomClass(text, rooms.path + ".default_class_for_admins")
            }
            policy.rooms.partners = try (rooms.strings("partners") ?? []).map { text in
                guard let name = ServerName(text) else { throw ConfigError("\(rooms.path).partners: '\(text)' is not a server name") }
                return name
            }
            if let classes = try rooms.strings("room_admins_may_choose") {
                policy.rooms.roomAdminsMayChoose = Set(try classes.map { try roomClass($0, rooms.path + ".room_admins_may_choose") })
            }
            try rooms.finish()
        }

        if let sharing = try section.mapping("sharing") {
            policy.sharing = try parseSharing(sharing, base: DataSharing())
        }
        for destination in try section.mappings("destinations") ?? [] {
            let servers = try patterns(destination, "servers")
            guard !servers.isEmpty else { throw ConfigError("\(destination.path).servers must name at least one server") }
            let sharing = try destination.mapping("sharing").map { try parseSharing($0, base: policy.sharing) } ?? policy.sharing
            for server in servers { policy.destinationSharing.append((server, sharing)) }
            try destination.finish()
        }

        if let text = try section.string("federated_profile") {
            guard let value = FederatedProfile(rawValue: text) else {
                throw ConfigError("\(section.path).federated_profile must be real, none or pseudonym")
            }
            policy.federatedProfile = value
        }

        if let invites = try section.mapping("invites") {
            switch try invites.scalarOrList("from_servers") {
            case nil, .scalar("all", _): policy.invites.inbound = .all
            case .scalar("none", _): policy.invites.inbound = .none
            case .list(let list, let line): policy.invites.inbound = .servers(try list.map { try pattern($0, "\(invites.path).from_servers", line) })
            case .scalar(_, let line): throw ConfigError("\(invites.path).from_servers at line \(line) must be all, none or a list of servers")
            }
            switch try invites.scalarOrList("remote_invites_by") {
            case nil, .scalar("all", _): policy.invites.outbound = .all
            case .scalar("none", _): policy.invites.outbound = .none
            case .scalar("admins", _): policy.invites.outbound = .admins
            case .list(let list, let line):
                policy.invites.outbound = .users(Set(try list.map { text in
                    guard let user = UserID(text) else { throw ConfigError("\(invites.path).remote_invites_by at line \(line): '\(text)' is not a user ID") }
                    return user
                }))
            case .scalar(_, let line): throw ConfigError("\(invites.path).remote_invites_by at line \(line) must be all, admins, none or a list of users")
            }
            try invites.finish()
        }

        if let audit = try section.mapping("audit") {
            policy.auditRetention = try audit.duration("retention")
            try audit.finish()
        }
        try section.finish()
        return policy
    }

    private static func parseSharing(_ mapping: ConfigMapping, base: DataSharing) throws -> DataSharing {
        var sharing = base
        if let value = try ephemeral(mapping, "typing") { sharing.typing = value }
        if let value = try ephemeral(mapping, "receipts") { sharing.receipts = value }
        if let value = try mapping.bool("presence") { sharing.presence = value }
        if let value = try mapping.bool("device_display_names") { sharing.deviceDisplayNames = value }
        if let value = try mapping.bool("room_directory") { sharing.roomDirectory = value }
        if let text = try mapping.string("profile_queries") {
            guard let value = DataSharing.ProfileQueries(rawValue: text) else {
                throw ConfigError("\(mapping.path).profile_queries must be refuse, shared_rooms or allow")
            }
            sharing.profileQueries = value
        }
        if let text = try mapping.string("media") {
            guard let value = DataSharing.MediaSharing(rawValue: text) else { throw ConfigError("\(mapping.path).media must be refuse, rooms or allow") }
            sharing.media = value
        }
        try mapping.finish()
        return sharing
    }

    /// `true`, `false`, or a list of room classes.
    private static func ephemeral(_ mapping: ConfigMapping, _ key: String) throws -> EphemeralSharing? {
        switch try mapping.scalarOrList(key) {
        case nil: return nil
        case .scalar("true", _): return .always
        case .scalar("false", _): return .never
        case .list(let list, _): return EphemeralSharing(roomClasses: Set(try list.map { try roomClass($0, "\(mapping.path).\(key)") }))
        case .scalar(_, let line): throw ConfigError("\(mapping.path).\(key) at line \(line) must be true, false or a list of room classes")
        }
    }

    private static func roomClass(_ text: String, _ key: String) throws -> RoomClass {
        guard let value = RoomClass(rawValue: text) else { throw ConfigError("\(key): '\(text)' must be local_only, partners or open") }
        return value
    }

    private static func patterns(_ mapping: ConfigMapping, _ key: String) throws -> [ServerPattern] {
        try (mapping.strings(key) ?? []).map { try pattern($0, "\(mapping.path).\(key)", nil) }
    }

    private static func pattern(_ text: String, _ key: String, _ line: Int?) throws -> ServerPattern {
        guard let pattern = ServerPattern(text) else {
            throw ConfigError("\(key)\(line.map { " at line \($0)" } ?? ""): '\(text)' is not a server name pattern")
        }
        return pattern
    }
}
