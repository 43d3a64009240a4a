/// A glob pattern: `*` matches zero or more characters, `?` exactly one, everything else
/// itself. Matching is case-insensitive and works on Unicode scalars.
/// Spec: https://spec.matrix.org/v1.19/appendices/#glob-style-matching
///
/// Matching simulates the pattern as a small automaton (one state per pattern element), so
/// it takes time proportional to text length × pattern length whatever the input: there is
/// no backtracking for a hostile pattern such as `*a*a*a*a*b` to exploit.
public struct GlobPattern: Sendable, Hashable {
    enum Element: Sendable, Hashable {
        case literal(Unicode.Scalar)
        case any  // ?
        case star  // *
    }

    let elements: [Element]
    /// The pattern as written.
    public let pattern: String

    public init(_ pattern: String) {
        self.pattern = pattern
        var elements: [Element] = []
        for scalar in pattern.unicodeScalars {
            switch scalar {
            case "*":
                if elements.last != .star { elements.append(.star) }  // `**` is `*`
            case "?": elements.append(.any)
            default: elements.append(.literal(GlobPattern.fold(scalar)))
            }
        }
        self.elements = elements
    }

    /// A pattern that matches `text` literally (`*` and `?` in it are ordinary characters).
    public init(literal text: String) {
        self.pattern = text
        self.elements = text.unicodeScalars.map { .literal(GlobPattern.fold($0)) }
    }

    /// Whether the pattern matches the whole of `text`.
    public func matches(_ text: String) -> Bool {
        run(Array(text.unicodeScalars), startAt: { _, i in i == 0 }, isEnd: { scalars, i in i == scalars.count })
    }

    /// Whether the pattern matches some substring of `text` that starts and ends at a word
    /// boundary: the start or end of the text, or next to a character outside `[A-Za-z0-9_]`.
    /// This is how push rules match `content.body`.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#conditions-1
    public func matchesWordBounded(in text: String) -> Bool {
        run(Array(text.unicodeScalars),
            startAt: { scalars, i in i == 0 || !GlobPattern.isWordCharacter(scalars[i - 1]) },
            isEnd: { scalars, i in i == scalars.count || !GlobPattern.isWordCharacter(scalars[i]) })
    }

    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F: return true
        default: return false
        }
    }

    /// Simple (one-to-one) lower-casing, so that `?` still stands for exactly one character.
    static func fold(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        if scalar.isASCII {
            return (0x41...0x5A).contains(scalar.value) ? Unicode.Scalar(scalar.value + 0x20)! : scalar
        }
        let lower = scalar.properties.lowercaseMapping.unicodeScalars
        return lower.count == 1 ? lower.first! : scalar
    }

    /// Runs the automaton. States are positions in `elements`; state `elements.count` accepts.
    /// `startAt(text, i)` says whether a match may begin before scalar `i` (whole-value
    /// matching begins only at 0); `isEnd(text, i)` whether one may end there.
    private func run(_ text: [Unicode.Scalar], startAt: ([Unicode.Scalar], Int) -> Bool,
                     isEnd: ([Unicode.Scalar], Int) -> Bool) -> Bool {
        let count = elements.count
        var current = [Bool](repeating: false, count: count + 1)
        var next = current
        var anyActive = false

        func add(_ state: Int, to set: inout [Bool]) {
            var s = state
            // A star can match nothing, so entering it also enters what follows it.
            while s <= count, !set[s] {
                set[s] = true
                guard s < count, elements[s] == .star else { break }
                s += 1
            }
        }

        for i in 0...text.count {
            if startAt(text, i) {
                add(0, to: &current)
                anyActive = true
            }
            if current[count], isEnd(text, i) { return true }
            if i == text.count || !anyActive { continue }
            let scalar = GlobPattern.fold(text[i])
            anyActive = false
            for s in 0..<count where current[s] {
                switch elements[s] {
                case .star:
                    add(s, to: &next)
                    anyActive = true
                case .any:
                    add(s + 1, to: &next)
                    anyActive = true
                case .literal(let c):
                    if c == scalar {
                        add(s + 1, to: &next)
                        anyActive = true
                    }
                }
            }
            swap(&current, &next)
            for s in 0...count { next[s] = false }
        }
        return false
    }
}
