import HearthCore
import Testing

@Suite struct JSONObjectTests {
    /// Regression: the getter once returned `.null` for a missing key (a ternary turned the
    /// `nil` literal into `JSONValue.null`), so absent fields looked present.
    @Test func missingKeysAreAbsentNotNull() {
        let object: JSONObject = ["present": nil, "a": 1]
        #expect(object["missing"].map { _ in true } == nil)
        #expect(object["present"].map { _ in true } == true)
        #expect(object["present"]?.isNull == true)
        let value: JSONValue = .object(object)
        #expect(value["missing"].map { _ in true } == nil)
        var copy = object
        copy["a"] = nil
        #expect(copy.keys == ["present"])
        let optional: JSONValue? = object["missing"]
        switch optional {
        case .none: break
        case .some(let v): Issue.record("missing key read as \(v)")
        }
    }
}
