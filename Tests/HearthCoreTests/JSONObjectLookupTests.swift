import HearthCore
import Testing

@Suite struct JSONObjectLookupTests {
    /// Regression: a missing key used to come back as `.some(.null)` (the subscript's
    /// `found ? value : nil` typed its `nil` as `JSONValue.null`, JSONValue being
    /// ExpressibleByNilLiteral).
    @Test func missingKeyIsNil() {
        let object: JSONObject = ["present": 1, "null": nil]
        #expect(object["missing"] == Optional<JSONValue>.none)
        #expect(object["null"] == .some(.null))
        #expect(object["present"] == .some(.int(1)))
        let value = JSONValue.object(object)
        #expect(value["missing"] == Optional<JSONValue>.none)
        if case .some = object["missing"] { Issue.record("missing key produced a value") }
    }
}
