import HearthCore
import PropertyBased
import Testing

/// Hostile input for the JSON parser and the event decoder: whatever the bytes, they return
/// or throw (a crash or a trap fails the whole test run), and valid values round-trip.
@Suite struct FuzzPropertyTests {
    typealias RNG = any SeededRandomNumberGenerator

    // MARK: - Generators

    static let interestingScalars: [Unicode.Scalar] = [
        "\"", "\\", "/", "\u{0}", "\u{1}", "\n", "\u{1F}", "\u{7F}", "\u{80}", "é", "\u{2028}", "\u{FEFF}",
        "\u{FFFD}", "\u{FFFF}", "\u{10000}", "\u{1F600}", "\u{10FFFF}", "e", "\u{0301}", ":", ".", "*", "?",
    ]

    static func randomString(_ rng: inout some RandomNumberGenerator) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...12, using: &rng) {
            if Bool.random(using: &rng) {
                s.append(interestingScalars.randomElement(using: &rng)!)
            } else {
                let v = UInt32.random(in: 0...0x10FFFF, using: &rng)
                s.append(Unicode.Scalar(v) ?? "x")
            }
        }
        return String(s)
    }

    static func randomValue(_ rng: inout some RandomNumberGenerator, depth: Int = 0) -> JSONValue {
        let choice = Int.random(in: 0...(depth > 4 ? 5 : 7), using: &rng)
        switch choice {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2:
            let edges: [Int64] = [0, -1, 1, Int64.max, Int64.min, JSONValue.maxSafeInteger, -JSONValue.maxSafeInteger,
                                  JSONValue.maxSafeInteger + 1]
            return .int(Bool.random(using: &rng) ? edges.randomElement(using: &rng)! : Int64.random(in: .min ... .max, using: &rng))
        case 3:
            let edges: [Double] = [0.5, -0.0, 1e300, -1e-300, 5e-324, 1.7976931348623157e308, 0.1, 123456.789]
            return .float(Bool.random(using: &rng) ? edges.randomElement(using: &rng)!
                          : Double.random(in: -1e12...1e12, using: &rng))
        case 4, 5: return .string(randomString(&rng))
        case 6:
            return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var object = JSONObject()
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                object[randomString(&rng)] = randomValue(&rng, depth: depth + 1)
            }
            return .object(object)
        }
    }

    static let values = Generator<JSONValue, Shrink.None<JSONValue>>(run: { rng in randomValue(&rng) })

    /// Byte-level mutations of a seed: flips, insertions of JSON-significant bytes, deletions,
    /// duplicated ranges, truncation.
    static func mutate(_ seed: [UInt8], _ rng: inout RNG) -> [UInt8] {
        var bytes = seed
        let significant: [UInt8] = Array("{}[]\",:\\-+.0123456789eEtfnu ".utf8) + [0x00, 0x80, 0xC0, 0xED, 0xF4, 0xFF]
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            guard !bytes.isEmpty else { bytes = [significant.randomElement(using: &rng)!]; continue }
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0...5, using: &rng) {
            case 0: bytes[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1: bytes.insert(significant.randomElement(using: &rng)!, at: i)
            case 2: bytes.removeSubrange(i..<min(bytes.count, i + Int.random(in: 1...8, using: &rng)))
            case 3:
                let end = min(bytes.count, i + Int.random(in: 1...32, using: &rng))
                bytes.insert(contentsOf: bytes[i..<end], at: Int.random(in: 0...bytes.count, using: &rng))
            case 4: bytes = Array(bytes[0..<i])
            default: bytes[i] = significant.randomElement(using: &rng)!
            }
        }
        return bytes
    }

    /// Signed events of several room versions, as bytes.
    static let seedEvents: [[UInt8]] = {
        let key = try! SigningKey(seed: Array(repeating: 7, count: 32), version: "fuzz")
        let server = ServerName("example.org")!
        let alice = UserID("@alice:example.org")!
        var events: [[UInt8]] = []
        for version in [RoomVersion.v1, .v3, .v6, .v10, .v11, .v12] {
            let roomID = version.roomIDFormat == .createEventHash ? RoomID("!" + String(repeating: "A", count: 43))!
                : RoomID("!room:example.org")!
            let builders = [
                EventBuilder(roomVersion: version, roomID: version.roomIDFormat == .createEventHash ? nil : roomID,
                             type: "m.room.create", stateKey: "", sender: alice,
                             content: ["creator": "@alice:example.org", "room_version": .string(version.identifier)],
                             prevEvents: [], authEvents: [], depth: 1, originServerTS: 1),
                EventBuilder(roomVersion: version, roomID: roomID, type: "m.room.message", sender: alice,
                             content: ["body": "hé \"x\" \u{1F600}", "msgtype": "m.text", "n": 9_007_199_254_740_991],
                             prevEvents: [EventID("$prev:example.org")!], authEvents: [EventID("$auth:example.org")!],
                             depth: 2, originServerTS: 1_700_000_000_000),
                EventBuilder(roomVersion: version, roomID: roomID, type: "m.room.redaction", sender: alice,
                             content: ["reason": "spam"], prevEvents: [], authEvents: [], depth: 3, originServerTS: 3,
                             redacts: EventID("$target:example.org")),
            ]
            for builder in builders {
                let legacyID = version.eventIDFormat == .serverScoped ? EventID("$legacy:example.org") : nil
                let json = try! EventHashing.hashAndSign(builder.unsignedJSON(eventIDForLegacyVersions: legacyID),
                                                         server: server, key: key, version: version)
                events.append(json.encoded())
            }
        }
        return events
    }()

    /// Parses `bytes` and, if they are an object, decodes them as an event of every room
    /// version. Returning at all is the property.
    static func exercise(_ bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes) else { return }
        _ = value.encoded()
        _ = try? value.canonicalBytes()
        guard let object = value.objectValue else { return }
        for version in RoomVersion.all {
            if let pdu = try? PDU(json: object, version: version) {
                _ = pdu.redacted()
                _ = pdu.clientEvent()
                _ = EventHashing.hasValidContentHash(pdu.json)
            }
        }
    }

    // MARK: - Properties

    @Test func randomBytesParseOrThrow() async {
        await propertyCheck(count: 2_000, input: Gen.uint8().array(of: 0...256)) { bytes in
            Self.exercise(bytes)
        }
    }

    @Test func mutatedEventsParseOrThrow() async {
        let gen = Generator<[UInt8], Shrink.None<[UInt8]>>(run: { rng in
            Self.mutate(Self.seedEvents.randomElement(using: &rng)!, &rng)
        })
        await propertyCheck(count: 5_000, input: gen) { bytes in
            Self.exercise(bytes)
        }
    }

    @Test func validValuesRoundTrip() async {
        await propertyCheck(count: 2_000, input: Self.values) { value in
            let text = value.encoded()
            let reparsed = try JSONValue.parse(text)
            #expect(reparsed == Self.normalized(value), "\(value.encodedString())")
            // Encoding is deterministic: a second pass gives the same bytes.
            #expect(reparsed.encoded() == Self.normalized(value).encoded())
            if let canonical = try? value.canonicalBytes() {
                #expect(try JSONValue.parse(canonical).canonicalBytes() == canonical)
            }
        }
    }

    /// Event-shaped objects: the members events have (some left out, some of the wrong type),
    /// content of every type whose redaction keeps something, and extra members that sort
    /// before, between and after them.
    static let eventShapes = Generator<JSONObject, Shrink.None<JSONObject>>(run: { rng in
        let types = ["m.room.member", "m.room.create", "m.room.join_rules", "m.room.power_levels", "m.room.aliases",
                     "m.room.history_visibility", "m.room.redaction", "m.room.message", randomString(&rng)]
        let contentKeys = ["membership", "join_authorised_via_users_server", "third_party_invite", "creator", "join_rule",
                           "allow", "ban", "events", "invite", "users", "aliases", "history_visibility", "redacts", "body"]
        var event = JSONObject()
        if Int.random(in: 0..<8, using: &rng) > 0 { event["type"] = .string(types.randomElement(using: &rng)!) }
        if Int.random(in: 0..<6, using: &rng) > 0 {
            var content = JSONObject()
            for key in contentKeys where Bool.random(using: &rng) { content[key] = randomValue(&rng, depth: 3) }
            if Int.random(in: 0..<4, using: &rng) == 0 {
                content["third_party_invite"] = ["signed": randomValue(&rng, depth: 3), "display_name": "x"]
            }
            event["content"] = Int.random(in: 0..<10, using: &rng) == 0 ? randomValue(&rng, depth: 3) : .object(content)
        }
        let topLevel = ["event_id", "room_id", "sender", "state_key", "hashes", "signatures", "depth", "prev_events",
                        "auth_events", "origin_server_ts", "origin", "membership", "prev_state", "unsigned", "a", "co", "cz", "zz"]
        for key in topLevel where Bool.random(using: &rng) { event[key] = randomValue(&rng, depth: 2) }
        return event
    })

    @Test func combinedEncodingsEqualTheSeparateOnes() async {
        await propertyCheck(count: 3_000, input: Self.eventShapes) { event in
            for version in RoomVersion.all {
                let combined = try? EventHashing.encodings(event, version: version)
                let full = try? event.canonicalBytes()
                let content = try? EventHashing.contentBytes(event)
                let reference = try? EventHashing.referenceBytes(event, version: version)
                if let combined {
                    #expect(combined.full == full && combined.content == content && combined.reference == reference,
                            "version \(version.identifier): \(event.encodedString())")
                } else {
                    // It fails only where one of them has no canonical form: the whole event does not.
                    #expect(full == nil, "version \(version.identifier): \(event.encodedString())")
                }
            }
        }
    }

    @Test func seedEventsDecode() throws {
        for bytes in Self.seedEvents {
            let object = try #require(try JSONValue.parse(bytes).objectValue)
            let version = try #require(object["content"]?["room_version"]?.stringValue.flatMap(RoomVersion.init)
                ?? RoomVersion.all.first { (try? PDU(json: object, version: $0)) != nil })
            _ = try PDU(json: object, version: version)
        }
    }

    /// The value as the parser gives it back: integral floats in the safe range read as ints.
    static func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .float(let d) where d.rounded() == d && abs(d) <= Double(JSONValue.maxSafeInteger): return .int(Int64(d))
        case .array(let a): return .array(a.map(normalized))
        case .object(let o):
            var out = JSONObject()
            for member in o { out[member.key] = normalized(member.value) }
            return .object(out)
        default: return value
        }
    }

    // MARK: - Fixed hostile inputs

    @Test func deepNestingIsRefusedWithoutOverflow() {
        for opener in ["[", "{\"a\":", "[{\"a\":"] {
            for depth in [101, 10_000, 200_000] {
                let text = String(repeating: opener, count: depth)
                #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
            }
        }
    }

    @Test func hugeNumbers() throws {
        for text in [String(repeating: "9", count: 10_000), "1e999999", "-1e400", "1" + String(repeating: "0", count: 400) + ".5"] {
            #expect(throws: JSONParseError.self, "\(text.prefix(20))") { try JSONValue.parse(text) }
        }
        #expect(try JSONValue.parse("0." + String(repeating: "0", count: 5_000) + "1") == .float(0))
        #expect(try JSONValue.parse("1e-999999") == .float(0))
        #expect(try JSONValue.parse("9223372036854775807") == .int(.max))
        #expect(throws: JSONParseError.self) { try JSONValue.parse("9223372036854775808") }
    }

    @Test func duplicateKeysAndInvalidUTF8() {
        for text in ["{\"a\":1,\"b\":{\"c\":1,\"c\":1}}", "{\"\\u0061\":1,\"a\":2}", "{\"é\":1,\"\\u00e9\":2}"] {
            #expect(throws: JSONParseError.self, "\(text)") { try JSONValue.parse(text) }
        }
        for bytes: [UInt8] in [[0xFF], [0x22, 0xFE, 0x22], [0x22, 0xE2, 0x82, 0x22], [0x22, 0xF0, 0x9F, 0x98], [0x7B, 0x22, 0xC3]] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
        }
    }

    @Test func oversizedAndWeirdEventsAreRefused() throws {
        var event = try #require(try JSONValue.parse(Self.seedEvents[4]).objectValue)  // a v3 message
        event["content"] = ["body": .string(String(repeating: "x", count: 70_000))]
        #expect(throws: EventFormatError.self) { try PDU(json: event, version: .v3) }
        event["content"] = ["body": 1.5]
        #expect(throws: EventFormatError.self) { try PDU(json: event, version: .v6) }
        event["prev_events"] = .array(Array(repeating: "$a", count: 21))
        #expect(throws: EventFormatError.self) { try PDU(json: event, version: .v3) }
    }
}
