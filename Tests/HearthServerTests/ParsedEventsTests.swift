import HearthCore
@testable import HearthStorageSQLite
import Testing

/// The storage layer's cache of parsed events may only ever return what parsing the stored
/// JSON would.
@Suite struct ParsedEventsTests {
    static let key = try! SigningKey(seed: Array(repeating: 9, count: 32), version: "t")

    static func event(_ body: String) throws -> PDU {
        try EventBuilder(roomVersion: .v11, roomID: RoomID("!r:example.org")!, type: "m.room.message",
                         sender: UserID("@a:example.org")!, content: ["body": .string(body)], prevEvents: [], authEvents: [],
                         depth: 1, originServerTS: 1).build(server: ServerName("example.org")!, key: key)
    }

    @Test func anEntryIsUsedOnlyForTheJSONItWasParsedFrom() throws {
        let cache = ParsedEvents()
        let pdu = try Self.event("héllo")
        let json = pdu.json.encodedString()
        cache.remember(pdu, json: json)
        #expect(cache.pdu(id: pdu.eventID.rawValue, json: json, version: "11") == pdu)
        // Rewritten in place (a redaction): parsed afresh.
        let redacted = pdu.redacted().json.encodedString()
        #expect(cache.pdu(id: pdu.eventID.rawValue, json: redacted, version: "11") == nil)
        // Same length, one byte different.
        let altered = json.replacingOccurrences(of: "héllo", with: "hallo")
        #expect(cache.pdu(id: pdu.eventID.rawValue, json: altered, version: "11") == nil)
        #expect(cache.pdu(id: pdu.eventID.rawValue, json: json, version: "10") == nil)
    }

    @Test func recentlyUsedEntriesOutliveAGeneration() throws {
        let cache = ParsedEvents(generationSize: 4)
        let events = try (0..<10).map { try Self.event("m\($0)") }
        let kept = events[0]
        cache.remember(kept, json: kept.json.encodedString())
        for (n, pdu) in events.dropFirst().enumerated() {
            cache.remember(pdu, json: pdu.json.encodedString())
            // Read on every insertion: it keeps moving into the young generation.
            #expect(cache.pdu(id: kept.eventID.rawValue, json: kept.json.encodedString(), version: "11") != nil, "after \(n + 1)")
        }
        // One not read since three generations ago is gone.
        #expect(cache.pdu(id: events[1].eventID.rawValue, json: events[1].json.encodedString(), version: "11") == nil)
    }
}
