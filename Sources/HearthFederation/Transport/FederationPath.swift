/// Building federation request paths.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#api-standards
public enum FederationPath {
    /// `/_matrix/federation/<version>` followed by `segments`, each percent-encoded so room IDs,
    /// event IDs and user IDs (`!`, `$`, `@`, `:`, `/`) survive as single path segments.
    ///
    /// `FederationPath.make("v1", "state", roomID.rawValue)` is `/_matrix/federation/v1/state/%21room%3Aserver`.
    public static func make(_ version: String, _ segments: String...) -> String {
        "/_matrix/federation/" + version + segments.map { "/" + encodeSegment($0) }.joined()
    }

    /// Percent-encodes everything outside RFC 3986's unreserved set.
    public static func encodeSegment(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// A query string (without `?`) with keys and values percent-encoded, in the given order.
    public static func query(_ items: [(String, String)]) -> String {
        items.map { encodeSegment($0.0) + "=" + encodeSegment($0.1) }.joined(separator: "&")
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
