/// Why a value has no canonical JSON form.
public struct CanonicalJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// A float that is not an integral value (canonical JSON has no floats).
        case nonIntegralNumber
        /// An integer outside [-(2^53)+1, (2^53)-1].
        case integerOutOfRange
    }
    public var reason: Reason
    public var description: String {
        switch reason {
        case .nonIntegralNumber: return "canonical JSON does not allow non-integral numbers"
        case .integerOutOfRange: return "canonical JSON integers must lie in [-(2^53)+1, (2^53)-1]"
        }
    }
}

extension JSONValue {
    /// The canonical JSON encoding: keys in code-point order, no insignificant whitespace,
    /// UTF-8 written raw, only the mandatory escapes, integers only.
    ///
    /// An integral float such as `1e10` or `-0.0` is written as the integer it denotes, as the
    /// spec's example requires; any other float makes the value non-canonical.
    public func canonicalBytes() throws(CanonicalJSONError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        try JSONWriter.write(self, into: &out, canonical: true)
        return out
    }

    public func canonicalString() throws(CanonicalJSONError) -> String {
        String(decoding: try canonicalBytes(), as: UTF8.self)
    }

    /// Compact JSON for responses and storage: same layout as canonical JSON, but floats and
    /// out-of-range integers (legal in old room versions) are written as they are.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        try! JSONWriter.write(self, into: &out, canonical: false)  // non-canonical mode cannot fail
        return out
    }

    public func encodedString() -> String { String(decoding: encoded(), as: UTF8.self) }

    /// Whether the value is canonical JSON as room versions 6+ require: no floats at all, and
    /// every integer within the safe range.
    public var isStrictlyCanonical: Bool {
        switch self {
        case .null, .bool, .string: return true
        case .int(let i): return i >= -JSONValue.maxSafeInteger && i <= JSONValue.maxSafeInteger
        case .float: return false
        case .array(let a): return a.allSatisfy(\.isStrictlyCanonical)
        case .object(let o): return o.members.allSatisfy(\.value.isStrictlyCanonical)
        }
    }
}

extension JSONObject {
    public func canonicalBytes() throws(CanonicalJSONError) -> [UInt8] { try JSONValue.object(self).canonicalBytes() }
    public func encoded() -> [UInt8] { JSONValue.object(self).encoded() }
    public func encodedString() -> String { JSONValue.object(self).encodedString() }
}

enum JSONWriter {
    static func write(_ value: JSONValue, into out: inout [UInt8], canonical: Bool) throws(CanonicalJSONError) {
        switch value {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(true): out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        case .bool(false): out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        case .int(let i):
            if canonical, i < -JSONValue.maxSafeInteger || i > JSONValue.maxSafeInteger {
                throw CanonicalJSONError(reason: .integerOutOfRange)
            }
            writeInteger(i, into: &out)
        case .float(let d):
            if d.rounded() == d, abs(d) <= Double(JSONValue.maxSafeInteger) {
                writeInteger(Int64(d), into: &out)
            } else if canonical {
                throw CanonicalJSONError(reason: d.rounded() == d ? .integerOutOfRange : .nonIntegralNumber)
            } else {
                out.append(contentsOf: "\(d)".utf8)
            }
        case .string(let s): writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try write(element, into: &out, canonical: canonical)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (i, member) in object.members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                try write(member.value, into: &out, canonical: canonical)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeInteger(_ value: Int64, into out: inout [UInt8]) {
        if value == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[i]) }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Escapes `"`, `\` and the C0 controls (short forms where JSON has them, `\u00XX`
    /// otherwise); every other character is written as raw UTF-8.
    static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            var runStart = 0
            for i in 0..<bytes.count {
                let byte = bytes[i]
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                runStart = i + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case 0x22: out.append(0x22)
                case 0x5C: out.append(0x5C)
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                            hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
                }
            }
            if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count])) }
        }
        out.append(UInt8(ascii: "\""))
    }
}
