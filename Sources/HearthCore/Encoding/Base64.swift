/// Unpadded Base64, as Matrix uses it for keys, signatures and hashes.
/// Spec: https://spec.matrix.org/v1.19/appendices/#unpadded-base64
///
/// Foundation's decoder refuses unpadded input, so Hearth carries its own.
public enum Base64 {
    public enum Alphabet: Sendable {
        /// `+` and `/` (signatures, keys, content hashes).
        case standard
        /// `-` and `_` (event IDs from room version 4, room IDs in version 12).
        case urlSafe
    }

    private static let standardTable: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlSafeTable: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Maps a byte to its 6-bit value; 0xFF for bytes outside both alphabets. Both alphabets
    /// decode, because peers are not consistent about which one they send.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in standardTable.enumerated() { table[Int(c)] = UInt8(i) }
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    public static func encode(_ bytes: some Collection<UInt8>, alphabet: Alphabet = .standard) -> String {
        let table = alphabet == .standard ? standardTable : urlSafeTable
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out.append(table[Int(n >> 18 & 63)])
            out.append(table[Int(n >> 12 & 63)])
            out.append(table[Int(n >> 6 & 63)])
            out.append(table[Int(n & 63)])
            i += 3
        }
        let rest = input.count - i
        if rest == 1 {
            let n = UInt32(input[i]) << 16
            out.append(table[Int(n >> 18 & 63)])
            out.append(table[Int(n >> 12 & 63)])
        } else if rest == 2 {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
            out.append(table[Int(n >> 18 & 63)])
            out.append(table[Int(n >> 12 & 63)])
            out.append(table[Int(n >> 6 & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes unpadded or padded Base64 in either alphabet. Returns nil for anything else,
    /// including a length that no encoding produces (4n+1).
    public static func decode(_ text: String) -> [UInt8]? {
        var bytes = Array(text.utf8)
        while bytes.last == UInt8(ascii: "=") { bytes.removeLast() }
        if bytes.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in bytes {
            let value = decodeTable[Int(byte)]
            if value == 0xFF { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits are dropped even when non-zero: the spec's own signing-key seed
        // (`YJDBA9…XA1`) has non-zero trailing bits, and other implementations accept it.
        return out
    }
}
