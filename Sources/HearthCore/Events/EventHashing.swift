import Crypto

/// Content hashes, reference hashes, event IDs and event signatures.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#signing-events
public enum EventHashing {
    /// SHA-256 over the event without `unsigned`, `signatures` and `hashes`, as canonical JSON.
    /// It covers the unredacted content.
    public static func contentHash(_ event: JSONObject) throws(CanonicalJSONError) -> [UInt8] {
        Array(SHA256.hash(data: try contentBytes(event)))
    }

    /// The members the content hash leaves out.
    static let outsideContentHash = ["hashes", "signatures", "unsigned"]

    /// The event without `unsigned`, `signatures` and `hashes`, as canonical JSON: what the
    /// content hash hashes.
    public static func contentBytes(_ event: JSONObject) throws(CanonicalJSONError) -> [UInt8] {
        var stripped = event
        for key in outsideContentHash { stripped[key] = nil }
        return try stripped.canonicalBytes()
    }

    /// The canonical encodings a received event's checks need, and its own: each written from
    /// one encoding of every top-level member, since canonical JSON lays out an object's
    /// members in the same order whichever of them are left out.
    public struct Encodings: Sendable {
        /// The whole event, as canonical JSON (its length is the event's size).
        public var full: [UInt8]
        /// `contentBytes`: what the content hash covers.
        public var content: [UInt8]
        /// `referenceBytes`: what the signatures and the reference hash cover.
        public var reference: [UInt8]
    }

    /// `Encodings` of `event` under `version`'s redaction rules. Equal to `canonicalBytes()`,
    /// `contentBytes(_:)` and `referenceBytes(_:version:)`, for about half their work.
    public static func encodings(_ event: JSONObject, version: RoomVersion) throws(CanonicalJSONError) -> Encodings {
        let rules = version.redaction
        let type = event["type"]?.stringValue ?? ""
        let capacity = 64 + event.members.count * 48
        var full: [UInt8] = [], content: [UInt8] = [], reference: [UInt8] = [], member: [UInt8] = []
        full.reserveCapacity(capacity * 2)
        content.reserveCapacity(capacity * 2)
        reference.reserveCapacity(capacity)
        full.append(UInt8(ascii: "{"))
        content.append(UInt8(ascii: "{"))
        reference.append(UInt8(ascii: "{"))
        func add(_ bytes: [UInt8], to out: inout [UInt8]) {
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: bytes)
        }
        func write(_ key: String, _ value: JSONValue, into bytes: inout [UInt8]) throws(CanonicalJSONError) {
            bytes.removeAll(keepingCapacity: true)
            JSONWriter.writeString(key, into: &bytes)
            bytes.append(UInt8(ascii: ":"))
            try JSONWriter.write(value, into: &bytes, canonical: true)
        }
        // The redacted form always has a `content`, even when the event has none: written at
        // its place among the kept members, or last.
        func addRedactedContent(of original: JSONObject?) throws(CanonicalJSONError) {
            var bytes: [UInt8] = []
            try write("content", .object(Redaction.redactContent(original ?? JSONObject(), type: type, rules: rules)), into: &bytes)
            add(bytes, to: &reference)
        }
        var referenceHasContent = false
        for entry in event.members {
            try write(entry.key, entry.value, into: &member)
            add(member, to: &full)
            if !outsideContentHash.contains(entry.key) { add(member, to: &content) }
            guard entry.key != "signatures", entry.key != "unsigned", Redaction.keepsTopLevel(entry.key, rules: rules) else { continue }
            if !referenceHasContent, JSONObject.compare(entry.key, "content") >= 0 {
                referenceHasContent = true
                if entry.key == "content" {
                    let original = entry.value.objectValue
                    // Most events' content survives redaction whole: its encoding is reused.
                    if let original, Redaction.redactContent(original, type: type, rules: rules) == original {
                        add(member, to: &reference)
                    } else {
                        try addRedactedContent(of: original)
                    }
                    continue
                }
                try addRedactedContent(of: nil)
            }
            add(member, to: &reference)
        }
        if !referenceHasContent { try addRedactedContent(of: nil) }
        full.append(UInt8(ascii: "}"))
        content.append(UInt8(ascii: "}"))
        reference.append(UInt8(ascii: "}"))
        return Encodings(full: full, content: content, reference: reference)
    }

    /// The redacted event without `signatures` and `unsigned`, as canonical JSON: what the
    /// reference hash hashes, and also exactly what the event's signatures cover.
    public static func referenceBytes(_ event: JSONObject, version: RoomVersion) throws(CanonicalJSONError) -> [UInt8] {
        try JSONSigning.signedBytes(of: Redaction.redact(event, version: version))
    }

    /// SHA-256 over the redacted event without `signatures` and `unsigned`.
    public static func referenceHash(_ event: JSONObject, version: RoomVersion) throws(CanonicalJSONError) -> [UInt8] {
        Array(SHA256.hash(data: try referenceBytes(event, version: version)))
    }

    /// The event ID of a room version 3+ event, computed from its reference hash; nil for
    /// versions whose IDs are chosen by the origin server.
    public static func eventID(of event: JSONObject, version: RoomVersion) throws(CanonicalJSONError) -> EventID? {
        version.eventIDFormat == .serverScoped ? nil : eventID(referenceBytes: try referenceBytes(event, version: version), version: version)
    }

    /// The event ID of a room version 3+ event from its `referenceBytes`; nil for versions
    /// whose IDs are chosen by the origin server.
    public static func eventID(referenceBytes: [UInt8], version: RoomVersion) -> EventID? {
        switch version.eventIDFormat {
        case .serverScoped:
            return nil
        case .referenceHash:
            return EventID(hashString: Base64.encode(Array(SHA256.hash(data: referenceBytes)), alphabet: .standard))
        case .urlSafeReferenceHash:
            return EventID(hashString: Base64.encode(Array(SHA256.hash(data: referenceBytes)), alphabet: .urlSafe))
        }
    }

    /// Whether `hashes.sha256` matches the event's content.
    /// `contentBytes`, when the caller has them, spare encoding the event again.
    public static func hasValidContentHash(_ event: JSONObject, contentBytes known: [UInt8]? = nil) -> Bool {
        guard let claimed = event["hashes"]?["sha256"]?.stringValue, let bytes = Base64.decode(claimed),
              let content = known ?? (try? contentBytes(event))
        else { return false }
        return bytes == Array(SHA256.hash(data: content))
    }

    /// Adds the content hash and this server's signature to an event. The signature covers the
    /// redacted event, so it stays valid after a redaction.
    public static func hashAndSign(_ event: JSONObject, server: ServerName, key: SigningKey, version: RoomVersion)
        throws(CanonicalJSONError) -> JSONObject
    {
        var event = event
        event["hashes"] = ["sha256": .string(Base64.encode(try contentHash(event)))]
        let signedRedacted = try JSONSigning.sign(Redaction.redact(event, version: version), as: server.rawValue, with: key)
        event["signatures"] = signedRedacted["signatures"]
        return event
    }

    /// Verifies the signature `server` made on `event` with `keyID`. `referenceBytes`, when
    /// the caller has them (`referenceBytes(_:version:)`), spare encoding the event again.
    public static func verifySignature(_ event: JSONObject, by server: ServerName, keyID: String, key: VerifyKey,
                                       version: RoomVersion, referenceBytes: [UInt8]? = nil) throws(JSONSigning.VerificationError) {
        if let referenceBytes {
            try JSONSigning.verify(event, by: server.rawValue, keyID: keyID, key: key, signedBytes: referenceBytes)
        } else {
            try JSONSigning.verify(Redaction.redact(event, version: version), by: server.rawValue, keyID: keyID, key: key)
        }
    }
}
