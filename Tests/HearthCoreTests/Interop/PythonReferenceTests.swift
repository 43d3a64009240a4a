import HearthCore
import Testing

/// Hearth against signedjson / canonicaljson / unpaddedbase64 / pynacl (and Synapse's own
/// redaction code when the venv has Synapse). Needs HEARTH_INTEROP=1.
@Suite(.enabled(if: Interop.enabled, "set HEARTH_INTEROP=1 (after Scripts/setup-test-env.sh --synapse)"))
struct PythonReferenceTests {
    static let tricky: [String] = [
        #"{}"#, #"[]"#, #""""#, #"{"b":1,"a":2,"c":{"z":[],"y":{}}}"#,
        #"{"é":1,"e\u0301":2,"E":3,"\u00e9\u00e9":4}"#,
        #"{"\ud83d\ude00":1,"\uffff":2,"\ufffd":3,"\u007f":4,"\u0080":5}"#,
        #"{"k\u0000ey":"nul \u0000 inside","\u001f":"\b\f\n\r\t","q":"\"\\\/"}"#,
        #"["\u2028\u2029","\u00ad","<script>","&amp;","\u200b","\ud800\udc00","\udbff\udfff"]"#,
        #"{"big":9007199254740991,"neg":-9007199254740991,"zero":0,"minus_zero":-0,"one":1}"#,
        #"{"a":[1,[2,[3,[4,[5,{"deep":true}]]]]],"b":null,"c":false}"#,
        #"{"日本語":"キー","한국어":"키","עברית":"מפתח","العربية":"مفتاح"}"#,
        #"{"   ":" spaces ","":"empty key","\t":"tab"}"#,
        #"{"emoji":"👩‍👩‍👧‍👦🏳️‍🌈","combining":"a\u0308\u0301","bom":"\ufeff"}"#,
        #"  {  "ws" : [ 1 , 2 ] , "x" : { } }  "#,
    ]

    @Test func canonicalJSONMatchesCanonicaljson() throws {
        var texts = Self.tricky
        // Plus random values with a canonical form (no floats, integers in range).
        var rng = SystemRandomNumberGenerator()
        while texts.count < 300 {
            let value = FuzzPropertyTests.randomValue(&rng)
            if value.isStrictlyCanonical { texts.append(value.encodedString()) }
        }
        let result = try Interop.reference([["op": "canonical", "texts": JSONValue(texts)]])[0]
        let outputs = try #require(result["outputs"]?.arrayValue)
        #expect(outputs.count == texts.count)
        for (text, python) in zip(texts, outputs) {
            let hearth = try JSONValue.parse(text).canonicalString()
            #expect(python.stringValue == hearth, "input \(text)")
        }
    }

    /// Events of several room versions, built and signed by Hearth.
    static func hearthEvents(key: SigningKey, server: ServerName) throws -> [PDU] {
        let alice = try #require(UserID("@alice:\(server.rawValue)"))
        var pdus: [PDU] = []
        for version in [RoomVersion.v1, .v3, .v4, .v5, .v6, .v8, .v9, .v10, .v11, .v12] {
            let legacy = version.eventIDFormat == .serverScoped
            var counter = 0
            func legacyID() -> EventID? {
                counter += 1
                return legacy ? EventID("$ev\(counter):\(server.rawValue)") : nil
            }
            var createContent: JSONObject = ["room_version": .string(version.identifier), "m.federate": true]
            if version.auth.createEventHasCreator { createContent["creator"] = .string(alice.rawValue) }
            if version.auth.creatorsHaveInfinitePower { createContent["additional_creators"] = ["@bob:elsewhere.example"] }
            let v12 = version.roomIDFormat == .createEventHash
            let create = try EventBuilder(
                roomVersion: version, roomID: v12 ? nil : RoomID("!room:\(server.rawValue)"), type: "m.room.create",
                stateKey: "", sender: alice, content: createContent, prevEvents: [], authEvents: [], depth: 1,
                originServerTS: 1_700_000_000_000
            ).build(server: server, key: key, legacyEventID: legacyID())
            pdus.append(create)
            let roomID = create.roomID
            let auth = v12 ? [] : [create.eventID]
            let specs: [(String, String?, JSONObject, EventID?)] = [
                ("m.room.member", alice.rawValue, ["membership": "join", "displayname": "Alice ✨",
                                                   "join_authorised_via_users_server": "@x:y.example",
                                                   "third_party_invite": ["signed": ["mxid": "@a:b.example", "token": "t"],
                                                                          "display_name": "dropped"]], nil),
                ("m.room.power_levels", "", ["users": [alice.rawValue: 100], "invite": 50, "events_default": 0,
                                             "notifications": ["room": 50], "ban": 50], nil),
                ("m.room.join_rules", "", ["join_rule": "restricted", "allow": [["type": "m.room_membership",
                                                                                   "room_id": "!other:example.org"]]], nil),
                ("m.room.history_visibility", "", ["history_visibility": "shared", "extra": 1], nil),
                ("m.room.aliases", server.rawValue, ["aliases": [.string("#a:\(server.rawValue)")]], nil),
                ("m.room.message", nil, ["msgtype": "m.text", "body": "tricky \"é\" \u{0}\u{1F600} \u{2028}",
                                         "n": 9_007_199_254_740_991, "list": [-9_007_199_254_740_991, nil, true]], nil),
                ("m.room.redaction", nil, ["reason": "spam"], EventID(legacy ? "$victim:\(server.rawValue)" : "$victim")),
            ]
            var prev = create.eventID
            for (index, (type, stateKey, content, redacts)) in specs.enumerated() {
                let pdu = try EventBuilder(
                    roomVersion: version, roomID: roomID, type: type, stateKey: stateKey, sender: alice, content: content,
                    prevEvents: [prev], authEvents: auth, depth: Int64(index + 2), originServerTS: 1_700_000_000_001,
                    redacts: redacts
                ).build(server: server, key: key, legacyEventID: legacyID())
                pdus.append(pdu)
                prev = pdu.eventID
            }
        }
        return pdus
    }

    @Test func eventsSignedByHearthVerifyInPython() throws {
        let key = try SigningTests.specKey()
        let server = try #require(ServerName("hearth.example"))
        let pdus = try Self.hearthEvents(key: key, server: server)
        let items: [JSONValue] = pdus.map { pdu in
            [
                "event": .object(pdu.json),
                "redacted": .object(Redaction.redact(pdu.json, version: pdu.roomVersion)),
                "server": .string(server.rawValue), "key_id": .string(key.keyID),
                "verify_key": .string(key.publicKeyBase64), "room_version": .string(pdu.roomVersion.identifier),
                "event_id": .string(pdu.eventID.rawValue),
            ]
        }
        let texts = pdus.map { JSONValue.object($0.json).encodedString() }
        let results = try Interop.reference([
            ["op": "verify_events", "events": .array(items)],
            ["op": "canonical", "texts": JSONValue(texts)],
        ])
        let checks = try #require(results[0]["checks"]?.arrayValue)
        #expect(checks.count == pdus.count)
        for (pdu, check) in zip(pdus, checks) {
            let label = "v\(pdu.roomVersion) \(pdu.type)"
            #expect(check["signature"] == true, "\(label): signedjson rejects the signature")
            #expect(check["content_hash"] == true, "\(label): content hash differs")
            #expect(check["event_id"] == true, "\(label): event ID differs")
            #expect(check["redaction_matches_synapse"] != false, "\(label): redaction differs from Synapse's prune_event_dict")
            #expect(check["redaction_matches_synapse"] != nil, "\(label): Synapse missing from the venv")
        }
        let canonical = try #require(results[1]["outputs"]?.arrayValue)
        for (pdu, python) in zip(pdus, canonical) {
            #expect(python.stringValue == (try JSONValue.object(pdu.json).canonicalString()), "v\(pdu.roomVersion) \(pdu.type)")
        }
    }

    @Test func signaturesCrossVerify() throws {
        let key = try SigningKey(seed: Array(0..<32), version: "cross")
        let objects: [JSONValue] = [
            [:], ["one": 1, "two": "Two"], ["unsigned": ["age": 1], "nested": ["é": [1, 2, ["x": nil]]]],
            ["signatures": ["other.example": ["ed25519:o": "c2lnbmF0dXJl"]], "a": "keeps other signatures"],
        ]
        let seed = Base64.encode(key.seed)
        let results = try Interop.reference([
            ["op": "sign", "seed": .string(seed), "key_version": "cross", "entity": "py.example", "objects": .array(objects)],
            ["op": "verify_json", "entity": "hearth.example", "key_id": .string(key.keyID),
             "verify_key": .string(key.publicKeyBase64),
             "objects": .array(try objects.map { .object(try JSONSigning.sign(#require($0.objectValue), as: "hearth.example", with: key)) })],
        ])
        #expect(results[0]["verify_key"]?.stringValue == key.publicKeyBase64)
        let verifyKey = try #require(VerifyKey(bytes: key.publicKey))
        for signed in try #require(results[0]["signed"]?.arrayValue) {
            let object = try #require(signed.objectValue)
            try JSONSigning.verify(object, by: "py.example", keyID: key.keyID, key: verifyKey)
            // Python and Hearth produce the same (deterministic Ed25519) signature.
            var unsigned = object
            unsigned["signatures"] = object["signatures"]?.objectValue.map { sigs in
                .object(sigs.filter { $0 != "py.example" })
            }
            if unsigned["signatures"]?.objectValue?.isEmpty == true { unsigned["signatures"] = nil }
            let mine = try JSONSigning.sign(unsigned, as: "py.example", with: key)
            #expect(mine == object)
        }
        #expect(results[1]["valid"] == .array(Array(repeating: true, count: objects.count)))
    }

    @Test func xMatrixHeadersCrossVerify() throws {
        let key = try SigningKey(seed: Array(repeating: 42, count: 32), version: "xm")
        let origin = try #require(ServerName("origin.example:8448"))
        let destination = try #require(ServerName("dest.example"))
        let requests: [(String, String, JSONValue?)] = [
            ("GET", "/_matrix/federation/v1/version", nil),
            ("PUT", "/_matrix/federation/v1/send/1234?x=%C3%A9", ["pdus": [], "edus": [["edu_type": "m.typing"]]]),
            ("POST", "/_matrix/federation/v1/user/keys/query", ["device_keys": ["@a:dest.example": []]]),
        ]
        var pyRequests: [JSONValue] = []
        for (method, uri, content) in requests {
            var object: JSONObject = ["method": .string(method), "uri": .string(uri), "origin": .string(origin.rawValue),
                                      "destination": .string(destination.rawValue)]
            if let content { object["content"] = content }
            pyRequests.append(.object(object))
        }
        // Hearth's signed request objects, for Python to verify.
        var hearthSigned: [JSONValue] = []
        for (method, uri, content) in requests {
            let auth = try XMatrixAuthorization.sign(method: method, uri: uri, origin: origin, destination: destination,
                                                     content: content, key: key)
            var object = XMatrixAuthorization.requestJSON(method: method, uri: uri, origin: origin,
                                                          destination: destination, content: content)
            object["signatures"] = [origin.rawValue: [auth.keyID: .string(auth.signature)]]
            hearthSigned.append(.object(object))
        }
        let results = try Interop.reference([
            ["op": "xmatrix_sign", "seed": .string(Base64.encode(key.seed)), "key_version": "xm",
             "requests": .array(pyRequests)],
            ["op": "verify_json", "entity": .string(origin.rawValue), "key_id": .string(key.keyID),
             "verify_key": .string(key.publicKeyBase64), "objects": .array(hearthSigned)],
        ])
        let headers = try #require(results[0]["headers"]?.arrayValue).compactMap(\.stringValue)
        #expect(headers.count == requests.count)
        let verifyKey = try #require(VerifyKey(bytes: key.publicKey))
        for ((method, uri, content), header) in zip(requests, headers) {
            let auth = try XMatrixAuthorization(header: header)
            try auth.verify(method: method, uri: uri, content: content, receiver: destination, key: verifyKey)
            let mine = try XMatrixAuthorization.sign(method: method, uri: uri, origin: origin, destination: destination,
                                                     content: content, key: key)
            #expect(mine.headerValue == header)
        }
        #expect(results[1]["valid"] == .array(Array(repeating: true, count: requests.count)))
    }

    @Test func caseFoldingMatchesPython() throws {
        var differing: [Int] = []
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if CaseFolding.fold(scalar) != [scalar] { differing.append(Int(value)) }
        }
        let result = try Interop.reference([["op": "casefold", "codepoints": .array(differing.map { .int(Int64($0)) })]])[0]
        let folds = try #require(result["folds"]?.objectValue)
        let unassignedInPython = Set(try #require(result["unassigned"]?.arrayValue).compactMap(\.intValue).map(Int.init))
        var mismatches: [String] = []
        var checked = 0
        for member in folds {
            guard let value = UInt32(member.key), let scalar = Unicode.Scalar(value),
                  let expected = member.value.stringValue
            else { continue }
            checked += 1
            let mine = String(String.UnicodeScalarView(CaseFolding.fold(scalar)))
            if !mine.unicodeScalars.elementsEqual(expected.unicodeScalars) {
                mismatches.append("U+\(String(value, radix: 16)): Hearth \(mine.unicodeScalars.map { String($0.value, radix: 16) }) Python \(expected.unicodeScalars.map { String($0.value, radix: 16) })")
            }
        }
        for value in differing where folds[String(value)] == nil && !unassignedInPython.contains(value) {
            mismatches.append("U+\(String(value, radix: 16)): Hearth folds it, Python does not")
        }
        #expect(checked > 1_400)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches (Python Unicode \(result["unicode_version"] ?? nil)):\n\(mismatches.prefix(40).joined(separator: "\n"))")
    }
}
