import Foundation
import HearthCore
import Testing

/// Events created by a real Synapse, read back by Hearth. Needs HEARTH_INTEROP=1.
///
/// The events come from `Tests/Interop/synapse_events.py`, which runs Synapse on loopback and
/// dumps its `event_json` table. Set `HEARTH_SYNAPSE_EVENTS` to an existing dump to reuse
/// it; otherwise the test runs the script itself (about 10 s) into `.build/interop/`.
@Suite(.enabled(if: Interop.enabled, "set HEARTH_INTEROP=1 (after Scripts/setup-test-env.sh --synapse)"))
struct SynapseInteropTests {
    struct Dump {
        var serverName: ServerName
        var key: VerifyKey
        var keyID: String
        var synapseVersion: String
        var events: [(eventID: String, roomVersion: String, formatVersion: Int64, json: String)]
    }

    /// The dump is made once per test process.
    nonisolated(unsafe) static var cached: Dump?
    static let lock = NSLock()

    static func dump() throws -> Dump {
        lock.lock()
        defer { lock.unlock() }
        if let cached { return cached }
        let path: String
        if let given = ProcessInfo.processInfo.environment["HEARTH_SYNAPSE_EVENTS"], !given.isEmpty {
            path = given
        } else {
            path = Interop.root.appendingPathComponent(".build/interop/synapse-events.json").path
            _ = try Interop.run(script: "synapse_events.py", arguments: ["--out", path], timeout: 600)
        }
        let file = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        guard let name = file["server_name"]?.stringValue.flatMap(ServerName.init),
              let line = file["signing_key"]?.stringValue,
              let rows = file["events"]?.arrayValue
        else { throw Interop.Failure(description: "malformed Synapse dump \(path)") }
        // Synapse's key file holds the private seed; the public key is derived from it.
        let signingKey = try SigningKey(synapseKeyFileLine: line)
        guard let verifyKey = VerifyKey(bytes: signingKey.publicKey) else {
            throw Interop.Failure(description: "bad key in \(path)")
        }
        var events: [(String, String, Int64, String)] = []
        for row in rows {
            guard let id = row["event_id"]?.stringValue, let version = row["room_version"]?.stringValue,
                  let format = row["format_version"]?.intValue, let json = row["json"]?.stringValue
            else { throw Interop.Failure(description: "malformed event row in \(path)") }
            events.append((id, version, format, json))
        }
        let dump = Dump(serverName: name, key: verifyKey, keyID: signingKey.keyID,
                        synapseVersion: file["synapse_version"]?.stringValue ?? "?", events: events)
        cached = dump
        return dump
    }

    @Test func everySynapseEventDecodesAndVerifies() throws {
        let dump = try Self.dump()
        #expect(dump.events.count >= 60, "Synapse \(dump.synapseVersion) produced only \(dump.events.count) events")
        #expect(Set(dump.events.map(\.roomVersion)) == ["10", "11", "12"])
        var types: Set<String> = []
        var decoded: [EventID: PDU] = [:]
        var ordered: [PDU] = []
        for row in dump.events {
            let label = "\(row.eventID) (room v\(row.roomVersion))"
            let version = try #require(RoomVersion(row.roomVersion), "\(label): unknown room version")
            // Synapse's stored text goes through Hearth's own parser.
            let object = try #require(try JSONValue.parse(row.json).objectValue, "\(label)")
            let pdu = try PDU(json: object, version: version)
            types.insert(pdu.type)
            #expect(pdu.eventID.rawValue == row.eventID, "\(label): Hearth computes \(pdu.eventID)")
            #expect(EventHashing.hasValidContentHash(object), "\(label): content hash")
            #expect(throws: Never.self, "\(label): signature") {
                try EventHashing.verifySignature(object, by: dump.serverName, keyID: dump.keyID, key: dump.key,
                                                 version: version)
            }
            #expect(pdu.sender.server == dump.serverName, "\(label)")
            if version.roomIDFormat == .createEventHash, pdu.type == "m.room.create" {
                #expect(pdu.roomID == RoomID(createEventID: pdu.eventID), "\(label): v12 room ID")
            }
            // Redaction keeps the ID, and the redacted event still verifies.
            let redacted = pdu.redacted()
            #expect(redacted.eventID == pdu.eventID, "\(label)")
            #expect(throws: Never.self, "\(label): signature after redaction") {
                try EventHashing.verifySignature(redacted.json, by: dump.serverName, keyID: dump.keyID, key: dump.key,
                                                 version: version)
            }

            decoded[pdu.eventID] = pdu
            ordered.append(pdu)
        }
        // Every event Synapse accepted passes Hearth's auth rules against its own auth events
        // (Synapse stored no rejected events in this run).
        for pdu in ordered where pdu.type != "m.room.create" {
            let authEvents = pdu.authEvents.compactMap { decoded[$0] }
            #expect(authEvents.count == pdu.authEvents.count, "\(pdu.eventID): auth events missing from the dump")
            let create = ordered.first { $0.type == "m.room.create" && $0.roomID == pdu.roomID }
            #expect(throws: Never.self, "\(pdu.eventID) (\(pdu.type)) fails Hearth's auth rules") {
                try EventAuthorization.authorize(pdu, authEvents: authEvents, roomCreate: create)
            }
        }
        for type in ["m.room.create", "m.room.member", "m.room.power_levels", "m.room.join_rules", "m.room.message",
                     "m.room.redaction", "m.room.topic", "m.room.name", "m.reaction", "m.room.canonical_alias"] {
            #expect(types.contains(type), "no \(type) event from Synapse")
        }
    }

    /// Hearth's redaction of Synapse's events equals Synapse's own (its Rust `redact_event_dict`).
    @Test func redactionMatchesSynapse() throws {
        let dump = try Self.dump()
        var items: [JSONValue] = []
        for row in dump.events {
            let version = try #require(RoomVersion(row.roomVersion))
            let object = try #require(try JSONValue.parse(row.json).objectValue)
            var event = object
            event["unsigned"] = nil  // Synapse keeps some `unsigned` fields when redacting; the spec does not
            items.append([
                "event": .object(event), "redacted": .object(Redaction.redact(event, version: version)),
                "server": .string(dump.serverName.rawValue), "key_id": .string(dump.keyID),
                "verify_key": .string(Base64.encode(dump.key.bytes)), "room_version": .string(row.roomVersion),
                "event_id": .string(row.eventID),
            ])
        }
        let checks = try #require(try Interop.reference([["op": "verify_events", "events": .array(items)]])[0]["checks"]?.arrayValue)
        #expect(checks.count == dump.events.count)
        for (row, check) in zip(dump.events, checks) {
            #expect(check["redaction_matches_synapse"] == true, "\(row.eventID) (v\(row.roomVersion))")
            #expect(check["signature"] == true && check["content_hash"] == true && check["event_id"] == true,
                    "\(row.eventID): \(check)")
        }
    }
}
