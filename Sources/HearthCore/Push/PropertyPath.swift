/// A dot-separated path to a property of an event, such as `content.m\.relates_to.rel_type`.
/// Spec: https://spec.matrix.org/v1.19/appendices/#dot-separated-property-paths
///
/// A dot or backslash inside a property name is escaped with a backslash; any other
/// backslash sequence stays as it is (`a\x` is a backslash followed by `x`).
public struct PropertyPath: Sendable, Hashable, CustomStringConvertible {
    /// The property names, outermost first.
    public let segments: [String]

    public init(segments: [String]) { self.segments = segments }

    /// Splits a dotted path, undoing the `\.` and `\\` escapes.
    public init(_ dotted: String) {
        var segments: [String] = []
        var current = String.UnicodeScalarView()
        var scalars = dotted.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            switch scalar {
            case ".":
                segments.append(String(current))
                current = String.UnicodeScalarView()
            case "\\":
                guard let next = scalars.next() else {
                    current.append(scalar)
                    break
                }
                switch next {
                case ".", "\\":
                    current.append(next)
                default:
                    // Not an escape: a literal backslash followed by `next`, an ordinary
                    // character (neither a dot nor a backslash).
                    current.append(scalar)
                    current.append(next)
                }
            default:
                current.append(scalar)
            }
        }
        segments.append(String(current))
        self.segments = segments
    }

    /// The dotted form, with dots and backslashes in names escaped.
    public var description: String {
        segments.map { segment in
            var out = ""
            for scalar in segment.unicodeScalars {
                if scalar == "." || scalar == "\\" { out.append("\\") }
                out.unicodeScalars.append(scalar)
            }
            return out
        }.joined(separator: ".")
    }

    /// The value at this path in `object`, or nil when a step is missing or not an object.
    public func value(in object: JSONObject) -> JSONValue? {
        var value: JSONValue = .object(object)
        for segment in segments {
            guard let next = value[segment] else { return nil }
            value = next
        }
        return value
    }
}
