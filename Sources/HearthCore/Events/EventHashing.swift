import Crypto

/// Content hashes, reference hashes, event IDs and event signatures.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#signing-events
public enum EventHashing {
    /// SHA-256 over the event without `unsigned`, `signatures` and `hashes`, as canonical JSON.
    /// It covers the unredacted content.
    public static func contentHash(_ event: JSONObject) throws(CanonicalJSONError) -> [UInt8] {
        var stripped = event
        stripped["unsigned"] = nil
        stripped["signatures"] = nil
        stripped["hashes"] = nil
        return Array(SHA256.hash(data: try stripped.canonicalBytes()))
    }

    /// SHA-256 over the redacted event without `signatures` and `unsigned`.
    public static func referenceHash(_ event: JSONObject, version: RoomVersion) throws(CanonicalJSONError) -> [UInt8] {
        var redacted = Redaction.redact(event, version: version)
        redacted["signatures"] = nil
        redacted["unsigned"] = nil
        return Array(SHA256.hash(data: try redacted.canonicalBytes()))
    }

    /// The event ID of a room version 3+ event, computed from its reference hash; nil for
    /// versions whose IDs are chosen by the origin server.
    public static func eventID(of event: JSONObject, version: RoomVersion) throws(CanonicalJSONError) -> EventID? {
        switch version.eventIDFormat {
        case .serverScoped:
            return nil
        case .referenceHash:
            return EventID(hashString: Base64.encode(try referenceHash(event, version: version), alphabet: .standard))
        case .urlSafeReferenceHash:
            return EventID(hashString: Base64.encode(try referenceHash(event, version: version), alphabet: .urlSafe))
        }
    }

    /// Whether `hashes.sha256` matches the event's content.
    public static func hasValidContentHash(_ event: JSONObject) -> Bool {
        guard let claimed = event["hashes"]?["sha256"]?.stringValue, let bytes = Base64.decode(claimed),
              let actual = try? contentHash(event)
        else { return false }
        return bytes == actual
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

    /// Verifies the signature `server` made on `event` with `keyID`.
    public static func verifySignature(_ event: JSONObject, by server: ServerName, keyID: String, key: VerifyKey,
                                       version: RoomVersion) throws(JSONSigning.VerificationError) {
        try JSONSigning.verify(Redaction.redact(event, version: version), by: server.rawValue, keyID: keyID, key: key)
    }
}
