/// A homeserver's name: `hostname [ ":" port ]`, where the hostname is a DNS name, an IPv4
/// literal or a bracketed IPv6 literal.
/// Spec: https://spec.matrix.org/v1.19/appendices/#server-name
///
/// Server names are case-sensitive and compared byte for byte.
public struct ServerName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public enum Host: Hashable, Sendable {
        case dns(String)
        case ipv4(String)
        /// Without the brackets.
        case ipv6(String)
    }

    public let host: Host
    public let port: Int?

    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 255 else { return nil }
        let bytes = Array(text.utf8)
        var hostEnd = bytes.count
        var port: Int? = nil
        let host: Host
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let inner = bytes[1..<close]
            guard inner.count >= 2, inner.count <= 45,
                  inner.allSatisfy({ ServerName.isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }),
                  inner.contains(UInt8(ascii: ":"))
            else { return nil }
            host = .ipv6(String(decoding: inner, as: UTF8.self))
            hostEnd = close + 1
            if hostEnd < bytes.count {
                guard bytes[hostEnd] == UInt8(ascii: ":") else { return nil }
            }
        } else {
            if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) { hostEnd = colon }
            let name = bytes[0..<hostEnd]
            guard !name.isEmpty, name.count <= 255,
                  name.allSatisfy({ ServerName.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") })
            else { return nil }
            let string = String(decoding: name, as: UTF8.self)
            if name.allSatisfy({ ServerName.isDigit($0) || $0 == UInt8(ascii: ".") }) {
                // All digits and dots: it must be a dotted-quad IPv4 literal with octets 0–255.
                let parts = string.split(separator: ".", omittingEmptySubsequences: false)
                guard parts.count == 4,
                      parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && (Int($0) ?? 256) <= 255 })
                else { return nil }
                host = .ipv4(string)
            } else {
                host = .dns(string)
            }
        }
        if hostEnd < bytes.count {
            let digits = bytes[(hostEnd + 1)...]
            guard (1...5).contains(digits.count), digits.allSatisfy(ServerName.isDigit),
                  let value = Int(String(decoding: digits, as: UTF8.self)), value <= 65535
            else { return nil }
            port = value
        }
        self.rawValue = text
        self.host = host
        self.port = port
    }

    /// The host part as used for SNI and DNS (IPv6 without brackets).
    public var hostname: String {
        switch host {
        case .dns(let s), .ipv4(let s), .ipv6(let s): return s
        }
    }

    public var isIPLiteral: Bool {
        if case .dns = host { return false } else { return true }
    }

    public var description: String { rawValue }
    public static func < (a: ServerName, b: ServerName) -> Bool { JSONObject.compare(a.rawValue, b.rawValue) < 0 }
    public static func == (a: ServerName, b: ServerName) -> Bool { a.rawValue.hasSameUTF8(as: b.rawValue) }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isHexDigit(_ b: UInt8) -> Bool { isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66) }
    static func isAlphanumeric(_ b: UInt8) -> Bool { isDigit(b) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
}
