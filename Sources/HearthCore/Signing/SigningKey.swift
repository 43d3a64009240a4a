import Crypto

/// A server's Ed25519 signing key and its key ID (`ed25519:<version>`).
/// Spec: https://spec.matrix.org/v1.19/appendices/#signing-details
public struct SigningKey: Sendable {
    public let keyID: String
    let privateKey: Curve25519.Signing.PrivateKey

    /// From a 32-byte seed (what Synapse's and signedjson's key files hold, base64-encoded).
    public init(seed: [UInt8], version: String) throws {
        self.privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        self.keyID = "ed25519:" + version
    }

    /// A fresh random key.
    public static func generate(version: String) -> SigningKey {
        SigningKey(privateKey: Curve25519.Signing.PrivateKey(), keyID: "ed25519:" + version)
    }

    private init(privateKey: Curve25519.Signing.PrivateKey, keyID: String) {
        self.privateKey = privateKey
        self.keyID = keyID
    }

    public var seed: [UInt8] { Array(privateKey.rawRepresentation) }
    public var publicKey: [UInt8] { Array(privateKey.publicKey.rawRepresentation) }
    public var publicKeyBase64: String { Base64.encode(publicKey) }
    /// The part after `ed25519:`.
    public var version: String { String(keyID.dropFirst("ed25519:".count)) }

    /// A keyed digest of `message` under a secret derived from this key: stable for the key,
    /// unpredictable without it (per-room pseudonyms use it so nobody else can link them).
    public func keyedDigest(label: String, _ message: [UInt8]) -> [UInt8] {
        let secret = SymmetricKey(data: Array(SHA256.hash(data: Array("hearth-derived:\(label)".utf8) + Array(privateKey.rawRepresentation))))
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: secret))
    }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        // BoringSSL's Ed25519 is deterministic, which the spec's test vectors rely on.
        Array(try! privateKey.signature(for: message))
    }

    /// The key file line Synapse writes: `ed25519 <version> <base64 seed>`.
    public var synapseKeyFileLine: String { "ed25519 \(version) \(Base64.encode(seed))" }

    public init(synapseKeyFileLine line: String) throws(SigningKeyError) {
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[0] == "ed25519", let seed = Base64.decode(String(parts[2])), seed.count == 32,
              let key = try? SigningKey(seed: seed, version: String(parts[1]))
        else { throw SigningKeyError.malformedKeyFile }
        self = key
    }
}

public enum SigningKeyError: Error, Sendable {
    case malformedKeyFile
}

/// A public key that verifies signatures.
public struct VerifyKey: Sendable, Hashable {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    public init?(base64: String) {
        guard let bytes = Base64.decode(base64) else { return nil }
        self.init(bytes: bytes)
    }

    /// Ed25519 verification. A key that has verified a few signatures gets a table
    /// (`Ed25519Tables`) that makes its later verifications two to three times as fast; the table
    /// only ever confirms, so anything it does not confirm is decided by BoringSSL.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        if Ed25519Tables.shared.confirms(signature, for: message, key: bytes) { return true }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes) else { return false }
        let valid = key.isValidSignature(signature, for: message)
        if valid { Ed25519Tables.shared.noteVerified(key: bytes) }
        return valid
    }

    /// For each signature, whether its key's table confirms it, the batch sharing one field
    /// inversion. False means "not confirmed here": `isValidSignature` decides those.
    public static func tableConfirmations(_ jobs: [(key: VerifyKey, signature: [UInt8], message: [UInt8])]) -> [Bool] {
        Ed25519Tables.shared.confirmAll(jobs.map { (signature: $0.signature, message: $0.message, key: $0.key.bytes) })
    }
}
