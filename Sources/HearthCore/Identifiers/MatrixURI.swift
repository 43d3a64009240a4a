/// A link to a Matrix entity: a `matrix:` URI or a matrix.to link.
/// Spec: https://spec.matrix.org/v1.19/appendices/#uris
///
/// Both forms name a user, a room alias or a room ID, optionally followed by an event in
/// that room, plus query arguments (`via`, `action`, custom ones).
public struct MatrixURI: Sendable, Hashable {
    /// The entity a link is about.
    public enum Entity: Sendable, Hashable {
        case user(UserID)
        case roomAlias(RoomAlias)
        case roomID(RoomID)

        public var identifier: String {
            switch self {
            case .user(let id): return id.rawValue
            case .roomAlias(let alias): return alias.rawValue
            case .roomID(let id): return id.rawValue
            }
        }
    }

    public var entity: Entity
    /// An event in the room (only with a room ID or, deprecated, a room alias).
    public var event: EventID?
    /// Query arguments in order, percent-decoded.
    public var query: [(name: String, value: String)]

    public init(entity: Entity, event: EventID? = nil, query: [(name: String, value: String)] = []) {
        self.entity = entity
        self.event = event
        self.query = query
    }

    /// The identifiers the link names, with sigils, in order (entity, then event).
    public var identifiers: [String] { [entity.identifier] + (event.map { [$0.rawValue] } ?? []) }
    /// The `via` servers to route through.
    public var via: [String] { query.filter { $0.name == "via" }.map(\.value) }
    /// The suggested action (`join`, `chat`), if any.
    public var action: String? { query.first { $0.name == "action" }?.value }

    public static func == (a: MatrixURI, b: MatrixURI) -> Bool {
        a.entity == b.entity && a.event == b.event && a.query.elementsEqual(b.query) { $0 == $1 }
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(entity)
        hasher.combine(event)
        for (name, value) in query { hasher.combine(name); hasher.combine(value) }
    }

    /// Parses either form; nil if the text is neither or names no valid identifier.
    public init?(_ text: String) {
        if text.hasPrefix("matrix:") {
            self.init(matrixScheme: text)
        } else if text.hasPrefix(MatrixURI.matrixToPrefix) {
            self.init(matrixTo: text)
        } else {
            return nil
        }
    }

    static let matrixToPrefix = "https://matrix.to/#/"

    // MARK: - matrix: scheme

    /// `matrix:[//authority/]type/id[/type/id][?query][#fragment]`; the authority and the
    /// fragment are reserved and ignored. Types: `u` user, `r` alias, `roomid` room ID, `e`
    /// event; the legacy `user`, `room` and `event` are read as `u`, `r` and `e`.
    private init?(matrixScheme text: String) {
        var rest = Substring(text.dropFirst("matrix:".count))
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var queryText: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        if rest.hasPrefix("//") {
            let afterAuthority = rest.dropFirst(2)
            guard let slash = afterAuthority.firstIndex(of: "/") else { return nil }
            rest = afterAuthority[afterAuthority.index(after: slash)...]
        }
        let segments = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count == 2 || segments.count == 4 else { return nil }
        guard let id = MatrixURI.percentDecode(segments[1]), !id.isEmpty else { return nil }
        let entity: Entity
        switch segments[0] {
        case "u", "user":
            guard let user = UserID("@" + id) else { return nil }
            entity = .user(user)
        case "r", "room":
            guard let alias = RoomAlias("#" + id) else { return nil }
            entity = .roomAlias(alias)
        case "roomid":
            guard let room = RoomID("!" + id) else { return nil }
            entity = .roomID(room)
        default:
            return nil
        }
        var event: EventID? = nil
        if segments.count == 4 {
            guard segments[2] == "e" || segments[2] == "event", entity.isRoom,
                  let eventText = MatrixURI.percentDecode(segments[3]), let id = EventID("$" + eventText)
            else { return nil }
            event = id
        }
        guard let query = MatrixURI.parseQuery(queryText) else { return nil }
        self.init(entity: entity, event: event, query: query)
    }

    // MARK: - matrix.to

    /// `https://matrix.to/#/<identifier>[/<event ID>][?<arguments>]`, each part
    /// percent-encoded or not (historical links often are not). Event IDs of room version 3
    /// may carry unencoded `/`, so the event part starts at the first `/` followed by `$`.
    private init?(matrixTo text: String) {
        var rest = Substring(text.dropFirst(MatrixURI.matrixToPrefix.count))
        var queryText: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var entityPart = rest
        var eventPart: Substring? = nil
        var search = rest.startIndex
        while let slash = rest[search...].firstIndex(of: "/") {
            let after = rest[rest.index(after: slash)...]
            if after.hasPrefix("$") || after.lowercased().hasPrefix("%24") {
                entityPart = rest[..<slash]
                eventPart = after
                break
            }
            search = rest.index(after: slash)
        }
        guard let identifier = MatrixURI.percentDecode(entityPart), let sigil = identifier.unicodeScalars.first
        else { return nil }
        let entity: Entity
        switch sigil {
        case "@":
            guard let user = UserID(identifier) else { return nil }
            entity = .user(user)
        case "#":
            guard let alias = RoomAlias(identifier) else { return nil }
            entity = .roomAlias(alias)
        case "!":
            guard let room = RoomID(identifier) else { return nil }
            entity = .roomID(room)
        default:
            return nil
        }
        var event: EventID? = nil
        if let eventPart {
            guard entity.isRoom, let decoded = MatrixURI.percentDecode(eventPart), let id = EventID(decoded) else {
                return nil
            }
            event = id
        }
        guard let query = MatrixURI.parseQuery(queryText) else { return nil }
        self.init(entity: entity, event: event, query: query)
    }

    // MARK: - Producing links

    /// The `matrix:` URI (`u`, `r`, `roomid`, `e`), identifiers percent-encoded.
    public var matrixURIString: String {
        let (type, sigilless): (String, String) = {
            switch entity {
            case .user(let id): return ("u", String(id.rawValue.dropFirst()))
            case .roomAlias(let alias): return ("r", String(alias.rawValue.dropFirst()))
            case .roomID(let id): return ("roomid", String(id.rawValue.dropFirst()))
            }
        }()
        var out = "matrix:" + type + "/" + MatrixURI.percentEncode(sigilless)
        if let event { out += "/e/" + MatrixURI.percentEncode(String(event.rawValue.dropFirst())) }
        return out + queryString
    }

    /// The matrix.to link, identifiers percent-encoded.
    public var matrixToString: String {
        var out = MatrixURI.matrixToPrefix + MatrixURI.percentEncode(entity.identifier)
        if let event { out += "/" + MatrixURI.percentEncode(event.rawValue) }
        return out + queryString
    }

    private var queryString: String {
        query.isEmpty ? "" : "?" + query.map { MatrixURI.percentEncode($0.name) + "=" + MatrixURI.percentEncode($0.value) }
            .joined(separator: "&")
    }

    // MARK: - Percent-encoding (RFC 3986)

    /// Decodes `%XX` sequences; nil if one is malformed or the result is not UTF-8.
    public static func percentDecode(_ text: Substring) -> String? {
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2]) else {
                    return nil
                }
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Encodes everything but RFC 3986's unreserved characters.
    public static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in text.utf8 {
            if ServerName.isAlphanumeric(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
                || b == UInt8(ascii: "_") || b == UInt8(ascii: "~") {
                out.append(b)
            } else {
                out.append(contentsOf: [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func parseQuery(_ text: Substring) -> [(name: String, value: String)]? {
        var items: [(name: String, value: String)] = []
        for item in text.split(separator: "&") {
            let (rawName, rawValue): (Substring, Substring)
            if let eq = item.firstIndex(of: "=") {
                (rawName, rawValue) = (item[..<eq], item[item.index(after: eq)...])
            } else {
                (rawName, rawValue) = (item, "")
            }
            guard let name = percentDecode(rawName), let value = percentDecode(rawValue) else { return nil }
            items.append((name, value))
        }
        return items
    }
}

extension MatrixURI.Entity {
    var isRoom: Bool {
        switch self {
        case .user: return false
        case .roomAlias, .roomID: return true
        }
    }
}
