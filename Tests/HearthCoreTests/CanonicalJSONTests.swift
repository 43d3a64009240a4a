import HearthCore
import Testing

@Suite struct CanonicalJSONTests {
    @Test func specExamples() throws {
        let cases = try SpecVectors.verifiedCases("canonical-json")
        #expect(cases.count == 10)
        for testCase in cases {
            let input = try #require(testCase["input_text"]?.stringValue)
            let expected = try #require(testCase["expected"]?.stringValue)
            #expect(try JSONValue.parse(input).canonicalString() == expected, "\(input)")
        }
    }

    @Test func keysSortByCodePointNotByUnicodeEquivalence() throws {
        // "é" precomposed (U+00E9) and decomposed (e + U+0301) are distinct keys on the wire.
        let text = "{\"e\u{0301}\":1,\"\u{00E9}\":2,\"B\":3,\"a10\":4,\"a2\":5}"
        let value = try JSONValue.parse(text)
        #expect(value.objectValue?.count == 5)
        #expect(try value.canonicalString() == "{\"B\":3,\"a10\":4,\"a2\":5,\"e\u{0301}\":1,\"\u{00E9}\":2}")
    }

    @Test func astralCharactersSortAfterBMPPrivateUse() throws {
        // UTF-16 order would put U+1F600 (surrogates D83D…) before U+FFFD; code-point order does not.
        let value = try JSONValue.parse("{\"\u{1F600}\":1,\"\u{FFFD}\":2}")
        #expect(try value.canonicalString() == "{\"\u{FFFD}\":2,\"\u{1F600}\":1}")
    }

    @Test func escapesOnlyWhatJSONRequires() throws {
        let value = JSONValue.string("a\"b\\c\n\u{01}\u{1F}/\u{7F}é\u{2028}")
        #expect(try value.canonicalString() == "\"a\\\"b\\\\c\\n\\u0001\\u001f/\u{7F}é\u{2028}\"")
    }

    @Test func integersOutsideSafeRangeAreNotCanonical() throws {
        #expect(try JSONValue.int(9_007_199_254_740_991).canonicalString() == "9007199254740991")
        #expect(try JSONValue.int(-9_007_199_254_740_991).canonicalString() == "-9007199254740991")
        #expect(throws: CanonicalJSONError.self) { try JSONValue.int(9_007_199_254_740_992).canonicalBytes() }
        #expect(throws: CanonicalJSONError.self) { try JSONValue.float(1.5).canonicalBytes() }
        #expect(try !JSONValue.parse("{\"a\":1.0}").isStrictlyCanonical)
        #expect(try JSONValue.parse("{\"a\":[1,{\"b\":null}]}").isStrictlyCanonical)
    }

    @Test func parserRejectsWhatTheSpecRejects() {
        let bad = [
            "{\"a\":1,\"a\":2}",  // duplicate key
            "{\"a\":1,\"b\":2,\"a\":3}",  // duplicate key, not adjacent
            "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"\\ud800\"", "\"\\udc00x\"",
            "tru", "nul", "\"a", "[1] 2", "\"\u{01}\"", "1e", "99999999999999999999",
        ]
        for text in bad {
            #expect(throws: JSONParseError.self, "\(text)") { try JSONValue.parse(text) }
        }
        // Invalid UTF-8: a lone continuation byte, an overlong encoding, an encoded surrogate.
        for bytes: [UInt8] in [[0x22, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22]] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
        }
    }

    @Test func nestingBeyondTheLimitIsRefused() throws {
        let deep = String(repeating: "[", count: 101) + String(repeating: "]", count: 101)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try JSONValue.parse(ok).arrayValue != nil)
    }

    @Test func surrogatePairEscapesDecode() throws {
        #expect(try JSONValue.parse("\"\\ud83d\\ude00\"") == .string("\u{1F600}"))
        #expect(try JSONValue.parse("\"\\u00e9\\n\"") == .string("é\n"))
    }

    @Test func numbersKeepIntegerAndFloatApart() throws {
        #expect(try JSONValue.parse("-9223372036854775808") == .int(Int64.min))
        #expect(try JSONValue.parse("12") == .int(12))
        #expect(try JSONValue.parse("1.25") == .float(1.25))
        #expect(try JSONValue.parse("-0") == .int(0))
        #expect(JSONValue.float(1.5).encodedString() == "1.5")
    }
}
