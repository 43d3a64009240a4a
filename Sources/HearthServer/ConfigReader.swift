import Yams

/// A configuration error that names the key and the line, so an operator can fix it.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
    init(_ message: String) { self.message = message }
}

/// Reads a YAML mapping with a fixed set of known keys. Every key in the file must be read or
/// declared ignorable; `finish()` reports the first key nobody asked for, with its line.
final class ConfigMapping {
    let path: String
    fileprivate let pairs: [(key: String, value: Node, line: Int)]
    fileprivate var consumed: Set<String> = []

    init(_ node: Node, path: String) throws {
        guard let mapping = node.mapping else {
            throw ConfigError("\(path.isEmpty ? "configuration" : path) must be a mapping (line \(ConfigMapping.line(node)))")
        }
        self.path = path
        var pairs: [(String, Node, Int)] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw ConfigError("non-string key at line \(ConfigMapping.line(key))") }
            if pairs.contains(where: { $0.0 == name }) {
                throw ConfigError("duplicate key '\(ConfigMapping.qualified(path, name))' at line \(ConfigMapping.line(key))")
            }
            pairs.append((name, value, ConfigMapping.line(key)))
        }
        self.pairs = pairs
    }

    static func line(_ node: Node) -> Int { (node.mark?.line ?? 0) }
    static func qualified(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func entry(_ key: String) -> (value: Node, line: Int)? {
        consumed.insert(key)
        guard let pair = pairs.first(where: { $0.key == key }) else { return nil }
        if case .scalar(let scalar) = pair.value, scalar.string == "" || scalar.string == "~" || scalar.string == "null",
           scalar.style == .plain {
            return nil
        }
        return (pair.value, pair.line)
    }

    func string(_ key: String) throws -> String? {
        guard let (value, line) = entry(key) else { return nil }
        guard case .scalar(let scalar) = value else {
            throw ConfigError("'\(Self.qualified(path, key))' at line \(line) must be a string")
        }
        return scalar.string
    }

    func bool(_ key: String) throws -> Bool? {
        guard let (value, line) = entry(key) else { return nil }
        guard let result = value.bool else { throw ConfigError("'\(Self.qualified(path, key))' at line \(line) must be true or false") }
        return result
    }

    func int(_ key: String) throws -> Int? {
        guard let (value, line) = entry(key) else { return nil }
        guard let result = value.int else { throw ConfigError("'\(Self.qualified(path, key))' at line \(line) must be an integer") }
        return result
    }

    func double(_ key: String) throws -> Double? {
        guard let (value, line) = entry(key) else { return nil }
        guard let result = value.float ?? value.int.map(Double.init) else {
            throw ConfigError("'\(Self.qualified(path, key))' at line \(line) must be a number")
        }
        return result
    }

    /// Sizes as Synapse writes them: `50M`, `1G`, `512K` or plain bytes.
    func size(_ key: String) throws -> Int? {
        guard let text = try string(key) else { return nil }
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = text.uppercased().last, let unit = units[last], let number = Int(text.dropLast()) { return number * unit }
        if let number = Int(text) { return number }
        throw ConfigError("'\(Self.qualified(path, key))' must be a size such as 50M")
    }

    func strings(_ key: String) throws -> [String]? {
        guard let (value, line) = entry(key) else { return nil }
        guard let sequence = value.sequence else {
            throw ConfigError("'\(Self.qualified(path, key))' at line \(line) must be a list")
        }
        return try sequence.map { item in
            guard let string = item.string else {
                throw ConfigError("entries of '\(Self.qualified(path, key))' at line \(Self.line(item)) must be strings")
            }
            return string
        }
    }

    enum ScalarOrList {
        case scalar(String, line: Int)
        case list([String], line: Int)
    }

    /// A value that may be written as one word (`true`, `refuse`) or as a list of strings.
    func scalarOrList(_ key: String) throws -> ScalarOrList? {
        guard let (value, line) = entry(key) else { return nil }
        if let text = value.string { return .scalar(text, line: line) }
        guard value.sequence != nil, let list = try strings(key) else {
            throw ConfigError("'\(Self.qualified(path, key))' at line \(line) must be a word or a list")
        }
        return .list(list, line: line)
    }

    /// A mapping of strings to strings (e.g. `verify_keys`), in file order.
    func stringMap(_ key: String) throws -> [(String, String)]? {
        guard let mapping = try mapping(key) else { return nil }
        mapping.consumed.formUnion(mapping.pairs.map(\.key))
        return try mapping.pairs.map { pair in
            guard let value = pair.value.string else {
                throw ConfigError("'\(Self.qualified(mapping.path, pair.key))' at line \(pair.line) must be a string")
            }
            return (pair.key, value)
        }
    }

    func mapping(_ key: String) throws -> ConfigMapping? {
        guard let (value, _) = entry(key) else { return nil }
        return try ConfigMapping(value, path: Self.qualified(path, key))
    }

    func mappings(_ key: String) throws -> [ConfigMapping]? {
        guard let (value, line) = entry(key) else { return nil }
        guard let sequence = value.sequence else {
            throw ConfigError("'\(Self.qualified(path, key))' at line \(line) must be a list")
        }
        return try sequence.enumerated().map { try ConfigMapping($0.element, path: "\(Self.qualified(path, key))[\($0.offset)]") }
    }

    /// Keys accepted for compatibility with Synapse configs but without effect in Hearth.
    func ignore(_ keys: String...) { consumed.formUnion(keys) }

    /// Fails on the first key that nothing read.
    func finish() throws {
        if let unknown = pairs.first(where: { !consumed.contains($0.key) }) {
            throw ConfigError("unknown configuration key '\(Self.qualified(path, unknown.key))' at line \(unknown.line)")
        }
    }
}
