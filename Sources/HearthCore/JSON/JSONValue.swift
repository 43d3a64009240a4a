/// A JSON value as Matrix needs it: integers and floats kept apart, strings and object keys
/// compared byte for byte (UTF-8), never by Unicode canonical equivalence.
///
/// Swift's `String` equality treats "é" (U+00E9) and "e" + U+0301 as equal; Matrix hashes and
/// signatures do not. Every comparison in this type therefore goes through the UTF-8 bytes.
/// Spec: https://spec.matrix.org/v1.19/appendices/#canonical-json
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    /// A number written with a fraction or an exponent. Canonical JSON has no floats; room
    /// versions 1–5 tolerate them in events, later versions reject them.
    case float(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// Largest magnitude canonical JSON allows: integers in [-(2^53)+1, (2^53)-1].
    public static let maxSafeInteger: Int64 = (1 << 53) - 1
}

extension JSONValue: Equatable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.float(a), .float(b)): return a == b
        case let (.string(a), .string(b)): return a.hasSameUTF8(as: b)
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)): return a == b
        default: return false
        }
    }
}

extension JSONValue: Hashable {
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0 as UInt8)
        case .bool(let b): hasher.combine(1 as UInt8); hasher.combine(b)
        case .int(let i): hasher.combine(2 as UInt8); hasher.combine(i)
        case .float(let d): hasher.combine(3 as UInt8); hasher.combine(d)
        case .string(let s): hasher.combine(4 as UInt8); for byte in s.utf8 { hasher.combine(byte) }
        case .array(let a): hasher.combine(5 as UInt8); hasher.combine(a)
        case .object(let o): hasher.combine(6 as UInt8); hasher.combine(o)
        }
    }
}

// MARK: - Accessors

extension JSONValue {
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var intValue: Int64? { if case .int(let i) = self { return i } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// Member of an object, or nil for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] } else { return nil }
    }

    /// The value as a number, accepting integral floats (used where a field is numeric by
    /// intent, such as `origin_server_ts`, but legacy rooms may carry it as `1.0`).
    public var numberValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .float(let d): return d
        default: return nil
        }
    }
}

// MARK: - Literals (for building events and responses in code)

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .float(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject()
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }
}

extension JSONValue {
    public init(_ string: String) { self = .string(string) }
    public init(_ int: Int) { self = .int(Int64(int)) }
    public init(_ int: Int64) { self = .int(int) }
    public init(_ strings: [String]) { self = .array(strings.map { .string($0) }) }
    public init(_ object: JSONObject) { self = .object(object) }
}
