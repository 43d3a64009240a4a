import Foundation
public import HearthCore

/// A key this server used to sign with, published in `old_verify_keys` after a rotation so
/// events it signed stay verifiable.
public struct OldVerifyKey: Sendable, Hashable {
    public var keyID: String
    public var publicKey: [UInt8]
    /// When the key stopped being used (ms).
    public var expiredTS: Int64

    public init(keyID: String, publicKey: [UInt8], expiredTS: Int64) {
        self.keyID = keyID
        self.publicKey = publicKey
        self.expiredTS = expiredTS
    }

    /// `ed25519 <version> <base64 public key> <expired_ts>`, one per line in the old keys file.
    var fileLine: String { "ed25519 \(keyID.dropFirst("ed25519:".count)) \(Base64.encode(publicKey)) \(expiredTS)" }

    init?(fileLine line: Substring) {
        let parts = line.split(separator: " ")
        guard parts.count == 4, parts[0] == "ed25519", let key = Base64.decode(String(parts[2])), key.count == 32,
              let expired = Int64(parts[3]) else { return nil }
        self.init(keyID: "ed25519:" + parts[1], publicKey: key, expiredTS: expired)
    }
}

/// This server's signing key and its retired keys, and the signed `/_matrix/key/v2/server`
/// answer built from them.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#publishing-keys
public struct LocalServerKeys: Sendable {
    public let serverName: ServerName
    public let current: SigningKey
    public let old: [OldVerifyKey]
    /// How long remote servers may cache the published keys (`valid_until_ts` = now + this).
    public let validityPeriod: Int64

    public init(serverName: ServerName, current: SigningKey, old: [OldVerifyKey] = [], validityPeriod: Int64 = 24 * 3_600_000) {
        self.serverName = serverName
        self.current = current
        self.old = old
        self.validityPeriod = validityPeriod
    }

    public var currentVerifyKey: VerifyKey { VerifyKey(bytes: current.publicKey)! }

    /// The signed key response, valid until `now + validityPeriod`.
    public func serverKeysResponse(now: Int64) -> JSONObject {
        var oldKeys = JSONObject()
        for key in old where key.keyID != current.keyID {
            oldKeys[key.keyID] = ["key": .string(Base64.encode(key.publicKey)), "expired_ts": .int(key.expiredTS)]
        }
        let object: JSONObject = [
            "server_name": .string(serverName.rawValue),
            "valid_until_ts": .int(now + validityPeriod),
            "verify_keys": [current.keyID: ["key": .string(current.publicKeyBase64)]],
            "old_verify_keys": .object(oldKeys),
        ]
        // The object holds only strings and small integers: always canonical.
        return try! JSONSigning.sign(object, as: serverName.rawValue, with: current)
    }

    /// This server's key `keyID`, and until when it may be used (nil: current, no end).
    func key(_ keyID: String) -> (key: VerifyKey, expired: Int64?)? {
        if keyID == current.keyID { return (currentVerifyKey, nil) }
        guard let old = old.first(where: { $0.keyID == keyID }), let key = VerifyKey(bytes: old.publicKey) else { return nil }
        return (key, old.expiredTS)
    }

    // MARK: Files

    /// Reads the old keys file (absent: none).
    public static func loadOldKeys(path: String) throws -> [OldVerifyKey] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").filter { !$0.isEmpty }.map { line in
            guard let key = OldVerifyKey(fileLine: line) else { throw KeyFileError("malformed line in \(path): \(line)") }
            return key
        }
    }

    /// Retires the key in `signingKeyPath` to `oldKeysPath` (expired now) and writes a new key
    /// in its place. Both files are replaced atomically; the old key file is appended to.
    public static func rotate(signingKeyPath: String, oldKeysPath: String, now: Int64) throws -> (retired: String, new: SigningKey) {
        guard let data = FileManager.default.contents(atPath: signingKeyPath),
              let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first,
              let current = try? SigningKey(synapseKeyFileLine: String(line))
        else { throw KeyFileError("no valid signing key at \(signingKeyPath)") }
        var old = try loadOldKeys(path: oldKeysPath)
        old.append(OldVerifyKey(keyID: current.keyID, publicKey: current.publicKey, expiredTS: now))
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var version: String
        repeat {
            version = "a_" + String((0..<4).map { _ in letters.randomElement()! })
        } while old.contains(where: { $0.keyID == "ed25519:" + version })
        let new = SigningKey.generate(version: version)
        try write(old.map(\.fileLine).joined(separator: "\n") + "\n", to: oldKeysPath)
        try write(new.synapseKeyFileLine + "\n", to: signingKeyPath)
        return (current.keyID, new)
    }

    private static func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw KeyFileError("cannot write \(temporary)") }
        if rename(temporary, path) != 0 { throw KeyFileError("cannot replace \(path)") }
    }
}

public struct KeyFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
