import HearthCore
import Testing

@Suite struct SigningTests {
    static func specKey() throws -> SigningKey {
        try SigningKey(seed: try #require(Base64.decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")), version: "1")
    }

    @Test func derivedVerifyKey() throws {
        #expect(try Self.specKey().publicKeyBase64 == "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI")
    }

    @Test func jsonSigningVectors() throws {
        let key = try Self.specKey()
        let cases = try SpecVectors.verifiedCases("json-signing")
        #expect(cases.count == 2)
        for testCase in cases {
            let input = try #require(testCase["input"]?.objectValue)
            let expected = try #require(testCase["expected_signed"])
            let signed = try JSONSigning.sign(input, as: "domain", with: key)
            #expect(JSONValue.object(signed) == expected)
            let verifyKey = try #require(VerifyKey(bytes: key.publicKey))
            try JSONSigning.verify(signed, by: "domain", keyID: "ed25519:1", key: verifyKey)
        }
    }

    @Test func eventSigningVectors() throws {
        let key = try Self.specKey()
        let server = try #require(ServerName("domain"))
        let cases = try SpecVectors.verifiedCases("event-signing")
        #expect(cases.count == 2)
        for testCase in cases {
            let input = try #require(testCase["input"]?.objectValue)
            let expected = try #require(testCase["expected_signed"])
            let versions = try #require(testCase["reproduced_with_redaction_of_room_versions"]?.arrayValue)
            #expect(try Base64.encode(EventHashing.contentHash(input)) == testCase["expected_content_hash_sha256"]?.stringValue)
            for versionID in versions {
                let version = try #require(versionID.stringValue.flatMap(RoomVersion.init))
                let signed = try EventHashing.hashAndSign(input, server: server, key: key, version: version)
                #expect(JSONValue.object(signed) == expected, "room version \(version)")
                #expect(EventHashing.hasValidContentHash(signed))
                let verifyKey = try #require(VerifyKey(bytes: key.publicKey))
                try EventHashing.verifySignature(signed, by: server, keyID: "ed25519:1", key: verifyKey, version: version)
            }
            // v11+ redaction drops `origin`, so the same event signs differently there.
            let v11 = try EventHashing.hashAndSign(input, server: server, key: key, version: .v11)
            #expect(JSONValue.object(v11) != expected)
        }
    }

    @Test func derivedReferenceHashesAndEventIDs() throws {
        let file = try SpecVectors.load("event-signing")
        let cases = try #require(file["cases"]?.arrayValue)
        let derived = try #require(file["derived_reference_hashes"]?.arrayValue)
        #expect(derived.count == 2)
        for entry in derived {
            let name = try #require(entry["name"]?.stringValue)
            let testCase = try #require(cases.first { $0["name"]?.stringValue == name })
            let event = try #require(testCase["expected_signed"]?.objectValue)
            #expect(try Base64.encode(EventHashing.referenceHash(event, version: .v3)) == entry["reference_hash_sha256_base64"]?.stringValue)
            #expect(try EventHashing.eventID(of: event, version: .v3)?.rawValue == entry["would_be_event_id_v3"]?.stringValue)
            #expect(try EventHashing.eventID(of: event, version: .v4)?.rawValue == entry["would_be_event_id_v4_plus"]?.stringValue)
            #expect(try EventHashing.eventID(of: event, version: .v1) == nil)
        }
    }

    @Test func tamperedEventsFailVerification() throws {
        let key = try Self.specKey()
        let server = try #require(ServerName("domain"))
        let verifyKey = try #require(VerifyKey(bytes: key.publicKey))
        let event: JSONObject = ["type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
                                 "content": ["body": "hello"], "depth": 1, "origin_server_ts": 5,
                                 "prev_events": [], "auth_events": []]
        var signed = try EventHashing.hashAndSign(event, server: server, key: key, version: .v10)
        // Changing content breaks the content hash but not the signature (which covers the
        // redacted form): that is how a receiver knows to redact rather than reject.
        signed["content"] = ["body": "changed"]
        #expect(!EventHashing.hasValidContentHash(signed))
        try EventHashing.verifySignature(signed, by: server, keyID: "ed25519:1", key: verifyKey, version: .v10)
        // Changing a field the signature covers breaks the signature.
        signed["depth"] = 2
        #expect(throws: JSONSigning.VerificationError.badSignature) {
            try EventHashing.verifySignature(signed, by: server, keyID: "ed25519:1", key: verifyKey, version: .v10)
        }
    }

    /// The whole event's canonical length, from the encodings a received event's checks make
    /// (`EventHashing.encodings`), is the length of encoding it whole, with and without the
    /// members the content hash leaves out.
    @Test func canonicalSizeFromTheChecksEncodings() throws {
        let key = try Self.specKey()
        let server = try #require(ServerName("domain"))
        var event: JSONObject = [
            "type": "m.room.message", "room_id": "!r:domain", "sender": "@a:domain", "depth": 3,
            "origin_server_ts": 1_000, "prev_events": ["$p"], "auth_events": [],
            "content": ["body": "snowman ☃ and \"quotes\"", "msgtype": "m.text"],
        ]
        let signed = try EventHashing.hashAndSign(event, server: server, key: key, version: .default)
        var withUnsigned = signed
        withUnsigned["unsigned"] = ["age": 5, "transaction_id": "t"]
        event["hashes"] = ["sha256": "x"]
        for candidate in [signed, withUnsigned, event, ["signatures": [:]] as JSONObject] {
            #expect(try EventHashing.encodings(candidate, version: .default).full.count == candidate.canonicalBytes().count)
        }
    }
}
