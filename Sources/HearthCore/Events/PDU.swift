/// A persistent data unit: a room event as servers exchange it, decoded and checked for format.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#pdus and the room versions' event formats.
///
/// `json` is the event exactly as it was received or built (minus nothing); hashes and
/// signatures are always computed from it, never from the decoded fields.
public struct PDU: Sendable, Hashable {
    /// The decoded fields, shared by every copy (`Shared`): a PDU passes through many
    /// dictionaries and arrays, and copying a dozen strings and arrays (a reference count
    /// each) showed in profiles of a big room's join; a copy of the box costs one.
    private struct Fields: Sendable {
        let json: JSONObject
        let roomVersion: RoomVersion
        let eventID: EventID
        let roomID: RoomID
        let type: String
        let stateKey: String?
        let sender: UserID
        let content: JSONObject
        let prevEvents: [EventID]
        let authEvents: [EventID]
        let depth: Int64
        let originServerTS: Int64
        let redacts: EventID?
    }

    private final class Shared: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    // Accessors read through the stored properties (`shared.fields.x`), which the compiler
    // projects without copying the whole `Fields`.
    private let shared: Shared

    public var json: JSONObject { shared.fields.json }
    public var roomVersion: RoomVersion { shared.fields.roomVersion }
    public var eventID: EventID { shared.fields.eventID }
    public var roomID: RoomID { shared.fields.roomID }
    public var type: String { shared.fields.type }
    public var stateKey: String? { shared.fields.stateKey }
    public var sender: UserID { shared.fields.sender }
    public var content: JSONObject { shared.fields.content }
    public var prevEvents: [EventID] { shared.fields.prevEvents }
    public var authEvents: [EventID] { shared.fields.authEvents }
    public var depth: Int64 { shared.fields.depth }
    public var originServerTS: Int64 { shared.fields.originServerTS }
    /// The event a redaction redacts (top level up to v10, in content from v11).
    public var redacts: EventID? { shared.fields.redacts }

    public static let maxSize = 65_536

    public var isState: Bool { stateKey != nil }
    public var stateTuple: StateKey? { stateKey.map { StateKey(type, $0) } }

    public static func == (a: PDU, b: PDU) -> Bool { a.eventID == b.eventID }
    public func hash(into hasher: inout Hasher) { hasher.combine(eventID) }

    /// Decodes and format-checks an event of `version`.
    ///
    /// For room versions 3 and later the event ID is computed from the reference hash (any
    /// `event_id` the sender included is ignored, as it is not part of the format).
    ///
    /// `storedEventID` is for events read back from this server's own database, which were
    /// fully checked when they arrived: it skips the size, canonical-JSON and reference-hash
    /// work, which would otherwise dominate reading a timeline.
    /// `referenceBytes`: the event's `EventHashing.referenceBytes`, when the caller encoded
    /// them already (to check signatures), so that the event ID need not encode them again.
    /// `canonicalSize`: the event's length as canonical JSON, likewise (`EventHashing.encodings`).
    public init(json: JSONObject, version: RoomVersion, storedEventID: EventID? = nil,
                referenceBytes: [UInt8]? = nil, canonicalSize: Int? = nil) throws(EventFormatError) {
        if storedEventID == nil {
            if version.enforcesCanonicalJSON, !JSONValue.object(json).isStrictlyCanonical {
                throw EventFormatError("event is not canonical JSON (floats or out-of-range integers)")
            }
            let size: Int
            if let canonicalSize {
                size = canonicalSize
            } else {
                do { size = try json.canonicalBytes().count } catch { size = json.encoded().count }
            }
            guard size <= PDU.maxSize else { throw EventFormatError("event exceeds \(PDU.maxSize) bytes") }
        }

        guard let type = json["type"]?.stringValue else { throw EventFormatError("missing or non-string type") }
        guard type.utf8.count <= 255 else { throw EventFormatError("type longer than 255 bytes") }
        let stateKey: String?
        switch json["state_key"] {
        case nil: stateKey = nil
        case .string(let s)?:
            guard s.utf8.count <= 255 else { throw EventFormatError("state_key longer than 255 bytes") }
            stateKey = s
        default: throw EventFormatError("non-string state_key")
        }
        guard let senderText = json["sender"]?.stringValue, let sender = UserID(senderText) else {
            throw EventFormatError("missing or invalid sender")
        }
        guard let content = json["content"]?.objectValue else { throw EventFormatError("missing or non-object content") }
        guard let depth = json["depth"]?.intValue, depth >= 0 else { throw EventFormatError("missing or invalid depth") }
        guard let ts = json["origin_server_ts"]?.intValue else { throw EventFormatError("missing or invalid origin_server_ts") }
        guard json["hashes"]?["sha256"]?.stringValue != nil else { throw EventFormatError("missing hashes.sha256") }
        guard json["signatures"]?.objectValue != nil else { throw EventFormatError("missing signatures") }

        let legacyReferences = version.eventIDFormat == .serverScoped
        let prevEvents = try PDU.references(json["prev_events"], legacy: legacyReferences, field: "prev_events")
        let authEvents = try PDU.references(json["auth_events"], legacy: legacyReferences, field: "auth_events")
        guard prevEvents.count <= 20 else { throw EventFormatError("more than 20 prev_events") }
        guard authEvents.count <= 10 else { throw EventFormatError("more than 10 auth_events") }

        let eventID: EventID
        if let storedEventID {
            eventID = storedEventID
        } else if legacyReferences {
            guard let text = json["event_id"]?.stringValue, let id = EventID(text), id.server != nil else {
                throw EventFormatError("missing or invalid event_id")
            }
            eventID = id
        } else if let referenceBytes, let id = EventHashing.eventID(referenceBytes: referenceBytes, version: version) {
            eventID = id
        } else {
            do {
                eventID = try EventHashing.eventID(of: json, version: version)!
            } catch {
                throw EventFormatError("event is not representable as canonical JSON")
            }
        }

        let roomID: RoomID
        if version.roomIDFormat == .createEventHash, type == "m.room.create", stateKey == "" {
            guard json["room_id"] == nil else { throw EventFormatError("a room version 12 create event has no room_id") }
            roomID = RoomID(createEventID: eventID)
        } else {
            guard let text = json["room_id"]?.stringValue, let id = RoomID(text) else {
                throw EventFormatError("missing or invalid room_id")
            }
            if version.roomIDFormat == .createEventHash, id.server != nil {
                throw EventFormatError("room version 12 room IDs have no server part")
            }
            roomID = id
        }

        var redacts: EventID? = nil
        if type == "m.room.redaction" {
            let value = version.redactsIsTopLevel ? json["redacts"] : content["redacts"]
            if let value {
                guard let text = value.stringValue, let id = EventID(text) else {
                    throw EventFormatError("invalid redacts")
                }
                redacts = id
            }
        }

        self.shared = Shared(Fields(json: json, roomVersion: version, eventID: eventID, roomID: roomID, type: type,
                                    stateKey: stateKey, sender: sender, content: content, prevEvents: prevEvents,
                                    authEvents: authEvents, depth: depth, originServerTS: ts, redacts: redacts))
    }

    /// Reads `prev_events`/`auth_events`: plain IDs from v3, `[id, {hashes}]` pairs before.
    private static func references(_ value: JSONValue?, legacy: Bool, field: String) throws(EventFormatError) -> [EventID] {
        guard let array = value?.arrayValue else { throw EventFormatError("missing or non-array \(field)") }
        var ids: [EventID] = []
        ids.reserveCapacity(array.count)
        for element in array {
            let text: String?
            if legacy {
                text = element.arrayValue?.first?.stringValue
            } else {
                text = element.stringValue
            }
            guard let text, let id = EventID(text) else { throw EventFormatError("invalid entry in \(field)") }
            ids.append(id)
        }
        return ids
    }

    /// The server that created the event: the sender's server.
    public var origin: ServerName { sender.server }

    /// The event as a client sees it (the client-server "ClientEvent" format).
    public func clientEvent(unsigned: JSONObject? = nil) -> JSONObject {
        var out: JSONObject = [
            "event_id": .string(eventID.rawValue),
            "room_id": .string(roomID.rawValue),
            "type": .string(type),
            "sender": .string(sender.rawValue),
            "content": .object(content),
            "origin_server_ts": .int(originServerTS),
        ]
        if let stateKey { out["state_key"] = .string(stateKey) }
        if let redacts {
            out["redacts"] = .string(redacts.rawValue)
        }
        if let unsigned, !unsigned.isEmpty { out["unsigned"] = .object(unsigned) }
        return out
    }

    /// The event in the form sent to other servers (v3+ events carry no `event_id`).
    public var federationJSON: JSONObject {
        var out = json
        out["unsigned"] = nil
        if roomVersion.eventIDFormat != .serverScoped { out["event_id"] = nil }
        return out
    }

    /// Applies the redaction algorithm, keeping the event ID (which a redaction must not change).
    public func redacted() -> PDU {
        let stripped = Redaction.redact(json, version: roomVersion)
        // The format was valid before; redaction only removes fields outside the format.
        return (try? PDU(json: stripped, version: roomVersion, storedEventID: eventID)) ?? self
    }
}

/// A `(type, state_key)` pair, the key of room state.
public struct StateKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let type: String
    public let stateKey: String
    public init(_ type: String, _ stateKey: String) {
        self.type = type
        self.stateKey = stateKey
    }
    public var description: String { "(\(type), \(stateKey))" }
    public static func < (a: StateKey, b: StateKey) -> Bool {
        let t = JSONObject.compare(a.type, b.type)
        return t != 0 ? t < 0 : JSONObject.compare(a.stateKey, b.stateKey) < 0
    }
    public static func == (a: StateKey, b: StateKey) -> Bool {
        a.type.hasSameUTF8(as: b.type) && a.stateKey.hasSameUTF8(as: b.stateKey)
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(type)
        hasher.combine(stateKey)
    }

    public static let create = StateKey("m.room.create", "")
    public static let powerLevels = StateKey("m.room.power_levels", "")
    public static let joinRules = StateKey("m.room.join_rules", "")
    public static func member(_ user: UserID) -> StateKey { StateKey("m.room.member", user.rawValue) }
}

/// An event that does not have the shape its room version requires.
public struct EventFormatError: Error, Sendable, Equatable, CustomStringConvertible, MatrixErrorConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
    public var matrixError: MatrixError { .badJSON("Invalid event: \(reason)") }
}
