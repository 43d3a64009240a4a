/// A JSON object whose members are kept sorted by the UTF-8 bytes of their keys, which is the
/// order canonical JSON requires (byte order of UTF-8 equals code-point order).
///
/// Keys are distinct byte strings: two keys that Swift would call equal because they are
/// canonically equivalent Unicode stay two members, as they do in Python and on the wire.
public struct JSONObject: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSONValue

        public static func == (lhs: Member, rhs: Member) -> Bool {
            lhs.key.hasSameUTF8(as: rhs.key) && lhs.value == rhs.value
        }
        public func hash(into hasher: inout Hasher) {
            for byte in key.utf8 { hasher.combine(byte) }
            hasher.combine(value)
        }
    }

    /// Members in canonical order.
    public private(set) var members: [Member]

    public init() { members = [] }

    /// Builds from members already known to be sorted and distinct (the parser's fast path).
    init(sortedMembers: [Member]) { members = sortedMembers }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    /// Index of `key`, or where it would be inserted.
    private func position(of key: String) -> (index: Int, found: Bool) {
        var low = 0
        var high = members.count
        while low < high {
            let mid = (low + high) / 2
            let order = JSONObject.compare(members[mid].key, key)
            if order == 0 { return (mid, true) }
            if order < 0 { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }

    public subscript(key: String) -> JSONValue? {
        get {
            let (index, found) = position(of: key)
            // Not `found ? value : nil`: JSONValue is ExpressibleByNilLiteral, so the ternary
            // would turn `nil` into `.null` and a missing key would read as a present null.
            guard found else { return nil }
            return members[index].value
        }
        set {
            let (index, found) = position(of: key)
            switch (found, newValue) {
            case (true, .some(let value)): members[index].value = value
            case (true, .none): members.remove(at: index)
            case (false, .some(let value)): members.insert(Member(key: key, value: value), at: index)
            case (false, .none): break
            }
        }
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        let old = self[key]
        self[key] = nil
        return old
    }

    /// Keeps only the members whose key passes `isIncluded`.
    public func filter(_ isIncluded: (String) -> Bool) -> JSONObject {
        JSONObject(sortedMembers: members.filter { isIncluded($0.key) })
    }

    /// Byte-wise three-way comparison of two keys' UTF-8 encodings.
    static func compare(_ a: String, _ b: String) -> Int {
        var a = a
        var b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let n = Swift.min(x.count, y.count)
                for i in 0..<n where x[i] != y[i] {
                    return x[i] < y[i] ? -1 : 1
                }
                return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
            }
        }
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init()
        for (key, value) in elements { self[key] = value }
    }
}

extension JSONObject: Sequence {
    public func makeIterator() -> IndexingIterator<[Member]> { members.makeIterator() }
}
