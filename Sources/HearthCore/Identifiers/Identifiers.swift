/// Identifier grammars and length limits.
/// Spec: https://spec.matrix.org/v1.19/appendices/#common-identifier-format
///
/// Every identifier is at most 255 bytes including its sigil and domain.
enum IdentifierLimits {
    static let maxLength = 255

    /// Splits `sigil localpart ":" server` at the first colon (localparts cannot contain one).
    static func split(_ text: String, sigil: UInt8) -> (localpart: Substring, server: ServerName)? {
        guard text.utf8.count <= maxLength, text.utf8.first == sigil,
              let colon = text.firstIndex(of: ":") else { return nil }
        let localpart = text[text.index(after: text.startIndex)..<colon]
        guard let server = ServerName(String(text[text.index(after: colon)...])) else { return nil }
        return (localpart, server)
    }
}

/// A user ID, `@localpart:server`.
/// Spec: https://spec.matrix.org/v1.19/appendices/#user-identifiers
///
/// Parsing accepts the historical grammar (any code point but `:` and NUL in the localpart,
/// even empty), because remote servers created such IDs before the grammar tightened.
/// `isGrammarValid` tells whether the ID is one this server may create.
public struct UserID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String
    public let localpart: String
    public let server: ServerName

    public init?(_ text: String) {
        guard let (localpart, server) = IdentifierLimits.split(text, sigil: UInt8(ascii: "@")),
              !localpart.unicodeScalars.contains(where: { $0.value == 0 })
        else { return nil }
        self.rawValue = text
        self.localpart = String(localpart)
        self.server = server
    }

    public init?(localpart: String, server: ServerName) {
        self.init("@\(localpart):\(server.rawValue)")
    }

    /// `user_id_char = DIGIT / %x61-7A / "-" / "." / "=" / "_" / "/" / "+"`, non-empty.
    public static func isValidLocalpart(_ localpart: some StringProtocol) -> Bool {
        !localpart.isEmpty && localpart.utf8.allSatisfy { b in
            ServerName.isDigit(b) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
                || b == UInt8(ascii: "=") || b == UInt8(ascii: "_") || b == UInt8(ascii: "/") || b == UInt8(ascii: "+")
        }
    }

    /// Whether the ID matches the current grammar (what a server may create today).
    public var isGrammarValid: Bool { UserID.isValidLocalpart(localpart) }

    /// Not "non-compliant" in the sense of the historical rules: a non-empty localpart of
    /// characters U+0021–U+007E.
    public var isCompliant: Bool {
        !localpart.isEmpty && localpart.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    public var description: String { rawValue }
    public static func < (a: UserID, b: UserID) -> Bool { JSONObject.compare(a.rawValue, b.rawValue) < 0 }
    public static func == (a: UserID, b: UserID) -> Bool { a.rawValue.hasSameUTF8(as: b.rawValue) }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}

/// A room ID. Up to room version 11 it is `!opaque:server`; from room version 12 it is
/// `!` followed by the URL-safe unpadded base64 reference hash of the room's create event,
/// with no server part.
/// Spec: https://spec.matrix.org/v1.19/appendices/#room-ids
public struct RoomID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String
    /// The server part, if the ID has one (not for room version 12 IDs).
    public let server: ServerName?

    public init?(_ text: String) {
        guard text.utf8.count <= IdentifierLimits.maxLength, text.utf8.count > 1, text.utf8.first == UInt8(ascii: "!")
        else { return nil }
        if text.utf8.contains(UInt8(ascii: ":")) {
            guard let (opaque, server) = IdentifierLimits.split(text, sigil: UInt8(ascii: "!")), !opaque.isEmpty
            else { return nil }
            self.server = server
        } else {
            // Version 12 form: the create event's reference hash (43 base64 characters).
            let hash = text.utf8.dropFirst()
            guard hash.count == 43, hash.allSatisfy(EventID.isURLSafeBase64Char) else { return nil }
            self.server = nil
        }
        self.rawValue = text
    }

    /// The room ID a room version 12 create event implies: `!` + its reference hash.
    public init(createEventID: EventID) {
        self.rawValue = "!" + createEventID.rawValue.dropFirst()
        self.server = nil
    }

    public var description: String { rawValue }
    public static func < (a: RoomID, b: RoomID) -> Bool { JSONObject.compare(a.rawValue, b.rawValue) < 0 }
    public static func == (a: RoomID, b: RoomID) -> Bool { a.rawValue.hasSameUTF8(as: b.rawValue) }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}

/// An event ID. Room versions 1–2: `$opaque:server`. Version 3: `$` + standard unpadded
/// base64 of the reference hash. Version 4 and later: URL-safe unpadded base64.
/// Spec: https://spec.matrix.org/v1.19/appendices/#event-ids
public struct EventID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public init?(_ text: String) {
        guard text.utf8.count <= IdentifierLimits.maxLength, text.utf8.count > 1, text.utf8.first == UInt8(ascii: "$"),
              !text.unicodeScalars.contains(where: { $0.value == 0 })
        else { return nil }
        self.rawValue = text
    }

    /// Trusted construction from a computed reference hash.
    init(hashString: String) { self.rawValue = "$" + hashString }

    /// The server part of a room version 1–2 event ID, if present.
    public var server: ServerName? {
        guard let colon = rawValue.firstIndex(of: ":") else { return nil }
        return ServerName(String(rawValue[rawValue.index(after: colon)...]))
    }

    static func isURLSafeBase64Char(_ b: UInt8) -> Bool {
        ServerName.isAlphanumeric(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }

    public var description: String { rawValue }
    public static func < (a: EventID, b: EventID) -> Bool { JSONObject.compare(a.rawValue, b.rawValue) < 0 }
    public static func == (a: EventID, b: EventID) -> Bool { a.rawValue.hasSameUTF8(as: b.rawValue) }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}

/// A room alias, `#localpart:server`.
/// Spec: https://spec.matrix.org/v1.19/appendices/#room-aliases
public struct RoomAlias: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public let localpart: String
    public let server: ServerName

    public init?(_ text: String) {
        guard let (localpart, server) = IdentifierLimits.split(text, sigil: UInt8(ascii: "#")), !localpart.isEmpty,
              !localpart.unicodeScalars.contains(where: { $0.value == 0 })
        else { return nil }
        self.rawValue = text
        self.localpart = String(localpart)
        self.server = server
    }

    public var description: String { rawValue }
}

/// Grammar checks for identifiers that have no type of their own.
public enum IdentifierGrammar {
    /// Room version identifiers: 1–32 code points of `[a-z0-9.-]`.
    /// Spec: https://spec.matrix.org/v1.19/rooms/#room-version-grammar
    public static func isValidRoomVersion(_ text: String) -> Bool {
        (1...32).contains(text.utf8.count) && text.utf8.allSatisfy { b in
            ServerName.isDigit(b) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
        }
    }

    /// Namespaced identifiers: `[a-z][a-z0-9._-]{0,254}`.
    /// Spec: https://spec.matrix.org/v1.19/appendices/#common-namespaced-identifier-grammar
    public static func isValidNamespacedIdentifier(_ text: String) -> Bool {
        guard let first = text.utf8.first, first >= 0x61, first <= 0x7A, text.utf8.count <= 255 else { return false }
        return text.utf8.allSatisfy { b in
            ServerName.isDigit(b) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
                || b == UInt8(ascii: "-")
        }
    }
}
