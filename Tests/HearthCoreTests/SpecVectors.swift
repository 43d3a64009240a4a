import Foundation
import HearthCore

/// Loads a test-vector file copied from the spec (Tests/HearthCoreTests/Vectors), parsed with
/// Hearth's own JSON parser.
enum SpecVectors {
    static func load(_ name: String) throws -> JSONValue {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors") else {
            throw VectorError.missing(name)
        }
        return try JSONValue.parse(Array(try Data(contentsOf: url)))
    }

    /// The cases of a vector file whose `verified` flag is true.
    static func verifiedCases(_ name: String, key: String = "cases") throws -> [JSONValue] {
        let file = try load(name)
        guard let cases = file[key]?.arrayValue else { throw VectorError.missing("\(name).\(key)") }
        return cases.filter { $0["verified"] == .bool(true) }
    }

    enum VectorError: Error { case missing(String) }
}
