/// Signing and verifying JSON objects.
/// Spec: https://spec.matrix.org/v1.19/appendices/#signing-json
public enum JSONSigning {
    /// The bytes a signature covers: the object without `signatures` and `unsigned`, as
    /// canonical JSON.
    public static func signedBytes(of object: JSONObject) throws(CanonicalJSONError) -> [UInt8] {
        var stripped = object
        stripped["signatures"] = nil
        stripped["unsigned"] = nil
        return try stripped.canonicalBytes()
    }

    /// Adds `signatures[entity][keyID]` to `object`, keeping any signatures already there.
    public static func sign(_ object: JSONObject, as entity: String, with key: SigningKey) throws(CanonicalJSONError) -> JSONObject {
        let signature = Base64.encode(key.sign(try signedBytes(of: object)))
        var signed = object
        var signatures = object["signatures"]?.objectValue ?? JSONObject()
        var mine = signatures[entity]?.objectValue ?? JSONObject()
        mine[key.keyID] = .string(signature)
        signatures[entity] = .object(mine)
        signed["signatures"] = .object(signatures)
        return signed
    }

    /// The signature `entity` made with `keyID`, if the object carries one.
    public static func signature(in object: JSONObject, by entity: String, keyID: String) -> [UInt8]? {
        guard let text = object["signatures"]?[entity]?[keyID]?.stringValue else { return nil }
        return Base64.decode(text)
    }

    /// The key IDs `entity` signed the object with, Ed25519 ones only (the only algorithm the
    /// spec defines for signing).
    public static func ed25519KeyIDs(in object: JSONObject, by entity: String) -> [String] {
        guard let mine = object["signatures"]?[entity]?.objectValue else { return [] }
        return mine.keys.filter { $0.hasPrefix("ed25519:") }
    }

    public enum VerificationError: Error, Sendable, Equatable {
        case missingSignature
        case malformedSignature
        case badSignature
        case notCanonical
    }

    /// Checks the signature by `entity` under `keyID` against `key`.
    public static func verify(_ object: JSONObject, by entity: String, keyID: String, key: VerifyKey) throws(VerificationError) {
        try verify(object, by: entity, keyID: keyID, key: key, signedBytes: nil)
    }

    /// As `verify(_:by:keyID:key:)`, with the signed bytes already encoded (`signedBytes(of:)`)
    /// when the caller has them; `object` then only supplies the signature.
    public static func verify(_ object: JSONObject, by entity: String, keyID: String, key: VerifyKey,
                              signedBytes known: [UInt8]?) throws(VerificationError) {
        guard let text = object["signatures"]?[entity]?[keyID] else { throw .missingSignature }
        guard let string = text.stringValue, let signature = Base64.decode(string), signature.count == 64 else {
            throw .malformedSignature
        }
        guard let message = known ?? (try? signedBytes(of: object)) else { throw .notCanonical }
        guard key.isValidSignature(signature, for: message) else { throw .badSignature }
    }
}
