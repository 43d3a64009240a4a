import Foundation
import NIOCore

/// An IPv4 or IPv6 address as 4 or 16 bytes. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
/// are unwrapped to IPv4 so a blocklist cannot be dodged by writing an address the other way.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            self.bytes = Array(bytes[12..<16])
        } else {
            self.bytes = bytes
        }
    }

    /// Parses a dotted-quad IPv4 or a textual IPv6 address (with or without brackets).
    public init?(_ text: String) {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if let v4 = IPAddress.parseIPv4(text) {
            self.init(bytes: v4)
        } else if let v6 = IPAddress.parseIPv6(text) {
            self.init(bytes: v6)
        } else {
            return nil
        }
    }

    public var isIPv4: Bool { bytes.count == 4 }

    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), radix: 16)) }
        return groups.joined(separator: ":")
    }

    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(\.isASCII), let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        guard text.contains(":") else { return nil }
        // A scope (`fe80::1%eth0`) does not change the address class.
        let text = text.split(separator: "%", maxSplits: 1).first ?? text
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, piece.contains("."), let v4 = parseIPv4(piece) {
                    out += v4
                    continue
                }
                guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                out += [UInt8(value >> 8), UInt8(value & 0xFF)]
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count <= 14 else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    public init?(_ address: SocketAddress) {
        guard let ip = address.ipAddress else { return nil }
        self.init(ip)
    }
}

/// A CIDR range such as `10.0.0.0/8` or `fe80::/10`.
public struct IPRange: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let maxLength = address.bytes.count * 8
        let length: Int
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maxLength).contains(value) else { return nil }
            // An IPv4-mapped range written in IPv6 form counts its prefix over the IPv6 bits.
            length = address.isIPv4 && String(parts[0]).contains(":") ? max(0, value - 96) : value
        } else {
            length = maxLength
        }
        network = address
        prefixLength = length
    }

    public func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        for i in 0..<network.bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if address.bytes[i] & mask != network.bytes[i] & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(network)/\(prefixLength)" }
}

/// Which addresses federation traffic may go to (SSRF protection). Synapse's model: an address
/// in the blocklist is refused unless it is also in the allowlist. The unspecified addresses
/// (`0.0.0.0`, `::`) are always refused: connecting to them reaches the local host.
public struct AddressPolicy: Sendable, Hashable {
    public var blocked: [IPRange]
    public var allowed: [IPRange]

    public init(blocked: [IPRange] = AddressPolicy.defaultBlocked, allowed: [IPRange] = []) {
        self.blocked = blocked
        self.allowed = allowed
    }

    /// Private, loopback, link-local, unique-local, carrier-grade NAT, documentation,
    /// benchmarking, multicast and reserved ranges (Synapse's default `ip_range_blacklist`).
    public static let defaultBlockedText = [
        "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "192.0.0.0/24",
        "169.254.0.0/16", "192.88.99.0/24", "198.18.0.0/15", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4", "0.0.0.0/8", "::1/128", "fe80::/10", "fc00::/7", "2001:db8::/32", "ff00::/8",
        "fec0::/10", "64:ff9b::/96",
    ]
    public static let defaultBlocked = defaultBlockedText.compactMap(IPRange.init)

    public func permits(_ address: IPAddress) -> Bool {
        if address.bytes.allSatisfy({ $0 == 0 }) { return false }
        if allowed.contains(where: { $0.contains(address) }) { return true }
        return !blocked.contains(where: { $0.contains(address) })
    }
}
