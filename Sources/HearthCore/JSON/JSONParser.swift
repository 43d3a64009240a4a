/// Why a JSON text was refused. `offset` is the byte where the problem was found.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case invalidUTF8
        case invalidEscape
        case loneSurrogate
        case controlCharacterInString
        case invalidNumber
        case numberOutOfRange
        case duplicateKey(String)
        case tooDeep(limit: Int)
        case trailingData
    }
    public var reason: Reason
    public var offset: Int

    public var description: String {
        switch reason {
        case .unexpectedEnd: return "unexpected end of JSON"
        case .unexpectedByte(let b): return "unexpected byte 0x\(String(b, radix: 16)) at offset \(offset)"
        case .invalidUTF8: return "invalid UTF-8 at offset \(offset)"
        case .invalidEscape: return "invalid escape sequence at offset \(offset)"
        case .loneSurrogate: return "unpaired UTF-16 surrogate escape at offset \(offset)"
        case .controlCharacterInString: return "unescaped control character in string at offset \(offset)"
        case .invalidNumber: return "invalid number at offset \(offset)"
        case .numberOutOfRange: return "number out of range at offset \(offset)"
        case .duplicateKey(let k): return "duplicate key \"\(k)\" at offset \(offset)"
        case .tooDeep(let limit): return "JSON nested deeper than \(limit) levels"
        case .trailingData: return "data after the JSON value at offset \(offset)"
        }
    }
}

extension JSONValue {
    /// Nesting limit for everything Hearth parses. Matrix events are shallow; a deep document
    /// is an attack on the parser's stack, not data.
    public static let defaultMaxDepth = 100

    /// Parses RFC 8259 JSON strictly: valid UTF-8 only, no duplicate keys, no lone surrogates,
    /// nothing after the value, at most `maxDepth` levels of nesting.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) -> JSONValue in
            var parser = JSONParser(bytes: buffer, maxDepth: maxDepth)
            return try parser.parseDocument()
        }
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        try parse(Array(bytes), maxDepth: maxDepth)
    }
}

struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var index = 0
    var depth = 0
    /// Reused scratch space for strings with escapes.
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func fail(_ reason: JSONParseError.Reason) -> JSONParseError {
        JSONParseError(reason: reason, offset: index)
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw fail(.trailingData) }
        return value
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw fail(.unexpectedEnd) }
        switch bytes[index] {
        case UInt8(ascii: "{"): return .object(try parseObject())
        case UInt8(ascii: "["): return .array(try parseArray())
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail(.unexpectedByte(bytes[index]))
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail(.unexpectedEnd) }
        let start = literal.utf8Start
        for i in 0..<count where bytes[index + i] != start[i] {
            index += i
            throw fail(.unexpectedByte(bytes[index]))
        }
        index += count
    }

    private mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > maxDepth { throw fail(.tooDeep(limit: maxDepth)) }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONObject {
        try enter()
        defer { depth -= 1 }
        index += 1  // {
        var members: [JSONObject.Member] = []
        var sorted = true
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return JSONObject()
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            guard bytes[index] == UInt8(ascii: "\"") else { throw fail(.unexpectedByte(bytes[index])) }
            let keyOffset = index
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            guard bytes[index] == UInt8(ascii: ":") else { throw fail(.unexpectedByte(bytes[index])) }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            if let last = members.last {
                let order = JSONObject.compare(last.key, key)
                if order == 0 { throw JSONParseError(reason: .duplicateKey(key), offset: keyOffset) }
                if order > 0 { sorted = false }
            }
            members.append(JSONObject.Member(key: key, value: value))
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                if !sorted {
                    members.sort { JSONObject.compare($0.key, $1.key) < 0 }
                    for i in 1..<members.count where JSONObject.compare(members[i - 1].key, members[i].key) == 0 {
                        throw JSONParseError(reason: .duplicateKey(members[i].key), offset: keyOffset)
                    }
                }
                return JSONObject(sortedMembers: members)
            default: throw fail(.unexpectedByte(bytes[index]))
            }
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> [JSONValue] {
        try enter()
        defer { depth -= 1 }
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return elements
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return elements
            default: throw fail(.unexpectedByte(bytes[index]))
            }
        }
    }

    /// Parses a string starting at the opening quote. Validates UTF-8 as it goes.
    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes, ASCII or valid multi-byte UTF-8 copied as is.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return s
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail(.controlCharacterInString) }
            if byte < 0x80 { index += 1 } else { try skipUTF8Sequence() }
        }
        guard index < bytes.count else { throw fail(.unexpectedEnd) }
        // Slow path: the string has escapes.
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: scratch, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fail(.unexpectedEnd) }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5C)
                case UInt8(ascii: "/"): scratch.append(0x2F)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"): try appendUnicodeEscape()
                default: index -= 1; throw fail(.invalidEscape)
                }
            default:
                if byte < 0x20 { throw fail(.controlCharacterInString) }
                if byte < 0x80 {
                    scratch.append(byte)
                    index += 1
                } else {
                    let begin = index
                    try skipUTF8Sequence()
                    scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[begin..<index]))
                }
            }
        }
        throw fail(.unexpectedEnd)
    }

    private mutating func readHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail(.unexpectedEnd) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail(.invalidEscape)
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private mutating func appendUnicodeEscape() throws(JSONParseError) {
        var scalar = try readHex4()
        if (0xD800...0xDBFF).contains(scalar) {
            // A high surrogate must be followed by an escaped low surrogate.
            guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw fail(.loneSurrogate) }
            index += 2
            let low = try readHex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw fail(.loneSurrogate) }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw fail(.loneSurrogate)
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw fail(.invalidEscape) }
        scratch.append(contentsOf: UTF8.encode(unicode)!)
    }

    /// Validates one multi-byte UTF-8 sequence at `index` (RFC 3629: no overlongs, no
    /// surrogates, nothing above U+10FFFF) and moves past it.
    private mutating func skipUTF8Sequence() throws(JSONParseError) {
        let lead = bytes[index]
        let length: Int
        var lowerBound: UInt8 = 0x80
        var upperBound: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lowerBound = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upperBound = 0x9F
        case 0xF0: length = 4; lowerBound = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upperBound = 0x8F
        default: throw fail(.invalidUTF8)
        }
        guard index + length <= bytes.count else { throw fail(.invalidUTF8) }
        let second = bytes[index + 1]
        guard second >= lowerBound, second <= upperBound else { throw fail(.invalidUTF8) }
        for i in 2..<max(2, length) where bytes[index + i] & 0xC0 != 0x80 {
            throw fail(.invalidUTF8)
        }
        index += length
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < bytes.count else { throw fail(.unexpectedEnd) }
        var magnitude: UInt64 = 0
        var overflow = false
        let digitsStart = index
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                overflow = overflow || o1 || o2
                magnitude = m2
                index += 1
            }
        } else {
            throw fail(.invalidNumber)
        }
        _ = digitsStart
        var isFloat = false
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isFloat = true
            index += 1
            guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index])
            else { throw fail(.invalidNumber) }
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isFloat = true
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index])
            else { throw fail(.invalidNumber) }
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        }
        if isFloat {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else {
                index = start
                throw fail(.numberOutOfRange)
            }
            return .float(value)
        }
        if overflow || magnitude > UInt64(Int64.max) + (negative ? 1 : 0) {
            index = start
            throw fail(.numberOutOfRange)
        }
        if negative {
            return .int(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
        }
        return .int(Int64(magnitude))
    }
}
