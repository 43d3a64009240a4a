/// A room's server access control list, the content of its `m.room.server_acl` state event.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#mroomserver_acl and
/// https://spec.matrix.org/v1.19/server-server-api/#server-access-control-lists-acls
public struct ServerACL: Sendable, Hashable {
    /// Glob patterns of servers allowed in the room. Empty denies everyone.
    public var allow: [GlobPattern]
    /// Glob patterns of servers denied, checked before `allow`.
    public var deny: [GlobPattern]
    /// Whether servers named by an IPv4 or IPv6 literal may take part.
    public var allowIPLiterals: Bool

    public init(allow: [String], deny: [String] = [], allowIPLiterals: Bool = true) {
        self.allow = allow.map { GlobPattern($0) }
        self.deny = deny.map { GlobPattern($0) }
        self.allowIPLiterals = allowIPLiterals
    }

    /// Reads the event content as the schema describes: `allow` and `deny` default to empty
    /// lists (entries that are not strings are skipped), `allow_ip_literals` defaults to true
    /// when missing or not a boolean.
    public init(content: JSONObject) {
        func patterns(_ key: String) -> [String] {
            content[key]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
        self.init(allow: patterns("allow"), deny: patterns("deny"),
                  allowIPLiterals: content["allow_ip_literals"]?.boolValue ?? true)
    }

    /// The ACL's decision for `server`, whose port (if any) is not considered:
    /// 1. an IP literal with `allow_ip_literals` false is denied;
    /// 2. a match in `deny` is denied;
    /// 3. a match in `allow` is allowed;
    /// 4. anything else is denied.
    public func allows(_ server: ServerName) -> Bool {
        if server.isIPLiteral, !allowIPLiterals { return false }
        let host = server.hostForACL
        if deny.contains(where: { $0.matches(host) }) { return false }
        return allow.contains(where: { $0.matches(host) })
    }

    /// The decision for a room: with no `m.room.server_acl` event in its state, every server
    /// is allowed.
    public static func allows(_ server: ServerName, acl: ServerACL?) -> Bool {
        acl?.allows(server) ?? true
    }
}

extension ServerName {
    /// The server name without its port, as ACLs see it (IPv6 literals keep their brackets).
    var hostForACL: String {
        switch host {
        case .dns(let s), .ipv4(let s): return s
        case .ipv6(let s): return "[" + s + "]"
        }
    }
}
