import HearthCore
import Testing

@Suite struct IdentifierTests {
    @Test func unpaddedBase64Vectors() throws {
        let cases = try SpecVectors.verifiedCases("unpadded-base64")
        #expect(!cases.isEmpty)
        for testCase in cases {
            let input = Array(try #require(testCase["input_utf8"]?.stringValue).utf8)
            let expected = try #require(testCase["expected"]?.stringValue)
            #expect(Base64.encode(input) == expected)
            #expect(Base64.decode(expected) == input)
            #expect(Base64.decode(expected + String(repeating: "=", count: (4 - expected.count % 4) % 4)) == input)
        }
    }

    @Test func base64RejectsGarbage() {
        #expect(Base64.decode("Zg!") == nil)
        #expect(Base64.decode("Z") == nil)  // 4n+1 characters
        #expect(Base64.decode("Zh") == [0x66])  // non-zero trailing bits are dropped, as Python does
        #expect(Base64.encode([0xFB, 0xFF], alphabet: .urlSafe) == "-_8")
        #expect(Base64.decode("-_8") == [0xFB, 0xFF])
    }

    @Test func serverNameVectors() throws {
        let cases = try SpecVectors.verifiedCases("server-names")
        #expect(cases.count >= 10)
        for testCase in cases {
            let name = try #require(testCase["server_name"]?.stringValue)
            let valid = try #require(testCase["valid"]?.boolValue)
            #expect((ServerName(name) != nil) == valid, "\(name)")
        }
        let literal = try #require(ServerName("127.0.0.1:8448"))
        #expect(literal.isIPLiteral && literal.port == 8448 && literal.hostname == "127.0.0.1")
        let v6 = try #require(ServerName("[::1]:8448"))
        #expect(v6.hostname == "::1" && v6.port == 8448)
        #expect(ServerName("localhost:99999") == nil)
    }

    @Test func userIDVectors() throws {
        let cases = try SpecVectors.verifiedCases("user-ids")
        #expect(cases.count >= 9)
        for testCase in cases {
            let text = try #require(testCase["user_id"]?.stringValue)
            let mustAccept = try #require(testCase["must_accept"]?.boolValue)
            let grammarValid = try #require(testCase["grammar_valid"]?.boolValue)
            let compliant = try #require(testCase["compliant"]?.boolValue)
            let parsed = UserID(text)
            #expect((parsed != nil) == mustAccept, "\(text)")
            if let parsed {
                #expect(parsed.isGrammarValid == grammarValid, "\(text)")
                #expect(parsed.isCompliant == compliant, "\(text)")
            }
        }
    }

    @Test func identifierVectors() throws {
        let file = try SpecVectors.load("identifiers")
        for testCase in try #require(file["room_versions"]?.arrayValue) where testCase["verified"] == .bool(true) {
            let text = try #require(testCase["room_version"]?.stringValue)
            #expect(IdentifierGrammar.isValidRoomVersion(text) == testCase["valid"]?.boolValue, "\(text)")
        }
        for testCase in try #require(file["namespaced_identifiers"]?.arrayValue) where testCase["verified"] == .bool(true) {
            let text = try #require(testCase["identifier"]?.stringValue)
            #expect(IdentifierGrammar.isValidNamespacedIdentifier(text) == testCase["valid"]?.boolValue, "\(text)")
        }
        for testCase in try #require(file["event_ids"]?.arrayValue) where testCase["verified"] == .bool(true) {
            let text = try #require(testCase["event_id"]?.stringValue)
            let id = try #require(EventID(text))
            #expect(Base64.decode(String(id.rawValue.dropFirst()))?.count == 32)
        }
        for testCase in try #require(file["room_ids"]?.arrayValue) {
            let text = try #require(testCase["room_id"]?.stringValue)
            let id = try #require(RoomID(text), "\(text)")
            #expect((id.server == nil) == (testCase["room_versions"]?.stringValue == "12"))
        }
        #expect(RoomAlias("#somewhere:example.org")?.server.rawValue == "example.org")
        #expect(RoomID("!short") == nil)
        #expect(RoomAlias("#:example.org") == nil)
    }
}

@Suite struct ByteEqualityTests {
    @Test func comparesEveryLengthAroundTheWordSize() {
        for length in 0...33 {
            let base = String(repeating: "a", count: length)
            #expect(base.hasSameUTF8(as: String(repeating: "a", count: length)))
            #expect(!base.hasSameUTF8(as: base + "a"))
            for position in 0..<length {
                var bytes = Array(base.utf8)
                bytes[position] = UInt8(ascii: "b")
                #expect(!base.hasSameUTF8(as: String(decoding: bytes, as: UTF8.self)), "length \(length), byte \(position)")
            }
        }
    }

    @Test func findsAByteSequenceAnywhereInAString() {
        let json = #"{"content":{"avatar_url":"mxc://example.org/abc"},"type":"m.room.member"}"#
        #expect(json.containsUTF8("mxc://"))
        #expect(json.containsUTF8("m.room.member\"}"))
        #expect(json.containsUTF8(json) && json.containsUTF8(""))
        #expect(!json.containsUTF8("mxc:/x") && !json.containsUTF8(json + " "))
        #expect(!"".containsUTF8("m") && "".containsUTF8(""))
        // Bytes, not canonical equivalence.
        #expect(!"cafe\u{301}".containsUTF8("caf\u{E9}") && "cafe\u{301}".containsUTF8("e\u{301}"))
    }

    @Test func identifiersCompareBytesNotCanonicalEquivalence() {
        // "é" precomposed and decomposed: equal as Swift strings, different identifiers.
        let composed = "@caf\u{E9}:example.org", decomposed = "@cafe\u{301}:example.org"
        #expect(composed == decomposed)
        #expect(!composed.hasSameUTF8(as: decomposed))
        #expect(JSONValue.string(composed) != JSONValue.string(decomposed))
        #expect(EventID("$abc:example.org") == EventID("$abc:example.org"))
        #expect(EventID("$abc:example.org") != EventID("$abd:example.org"))
    }
}
