public import HearthCore
public import HearthStorage

/// A `/_matrix/key/v2/server` answer, checked: it names the expected server, its keys are
/// well-formed, and it carries valid self-signatures by its `verify_keys`.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2server
public struct ServerKeysResponse: Sendable {
    public let serverName: ServerName
    public let validUntilTS: Int64
    public let verifyKeys: [String: VerifyKey]
    public let oldVerifyKeys: [String: (key: VerifyKey, expiredTS: Int64)]
    public let json: JSONObject

    /// The longest a fetched key is trusted, whatever `valid_until_ts` says.
    public static let maximumValidity: Int64 = 7 * 24 * 3_600_000

    public init(json: JSONObject, expectedServer: ServerName) throws(KeyRingError) {
        guard let name = json["server_name"]?.stringValue, name == expectedServer.rawValue else {
            throw .invalidResponse(expectedServer, "server_name is not \(expectedServer.rawValue)")
        }
        guard let validUntil = json["valid_until_ts"]?.intValue else {
            throw .invalidResponse(expectedServer, "missing valid_until_ts")
        }
        guard let verify = json["verify_keys"]?.objectValue else { throw .invalidResponse(expectedServer, "missing verify_keys") }
        var verifyKeys: [String: VerifyKey] = [:]
        for member in verify where member.key.hasPrefix("ed25519:") {
            let (keyID, value) = (member.key, member.value)
            guard let text = value["key"]?.stringValue, let key = VerifyKey(base64: text) else {
                throw .invalidResponse(expectedServer, "malformed verify key \(keyID)")
            }
            verifyKeys[keyID] = key
        }
        var oldKeys: [String: (key: VerifyKey, expiredTS: Int64)] = [:]
        for member in json["old_verify_keys"]?.objectValue ?? [:] where member.key.hasPrefix("ed25519:") {
            let (keyID, value) = (member.key, member.value)
            guard let text = value["key"]?.stringValue, let key = VerifyKey(base64: text), let expired = value["expired_ts"]?.intValue
            else { throw .invalidResponse(expectedServer, "malformed old verify key \(keyID)") }
            oldKeys[keyID] = (key, expired)
        }
        // Signed by the server: at least one signature by a listed verify key, and every
        // signature by a listed verify key valid.
        let signers = JSONSigning.ed25519KeyIDs(in: json, by: expectedServer.rawValue).filter { verifyKeys[$0] != nil }
        guard !signers.isEmpty else { throw .invalidResponse(expectedServer, "not signed by any of its verify_keys") }
        for keyID in signers {
            do { try JSONSigning.verify(json, by: expectedServer.rawValue, keyID: keyID, key: verifyKeys[keyID]!) } catch {
                throw .invalidResponse(expectedServer, "self-signature by \(keyID) does not verify (\(error))")
            }
        }
        self.serverName = expectedServer
        self.validUntilTS = validUntil
        self.verifyKeys = verifyKeys
        self.oldVerifyKeys = oldKeys
        self.json = json
    }

    /// The keys to cache, fetched at `now`: verify keys trusted until the lesser of
    /// `valid_until_ts` and now + 7 days, old keys until their `expired_ts`.
    public func storedKeys(fetchedAt now: Int64) -> [StoredServerKey] {
        let until = min(validUntilTS, now + Self.maximumValidity)
        var keys = verifyKeys.map { keyID, key in
            StoredServerKey(server: serverName, keyID: keyID, publicKey: key.bytes, validUntil: until, isOld: false,
                            fetchedAt: now, response: json)
        }
        for (keyID, old) in oldVerifyKeys where verifyKeys[keyID] == nil {
            keys.append(StoredServerKey(server: serverName, keyID: keyID, publicKey: old.key.bytes, validUntil: old.expiredTS,
                                        isOld: true, fetchedAt: now, response: json))
        }
        return keys
    }
}

/// Why a server key could not be had.
public enum KeyRingError: Error, Sendable, CustomStringConvertible {
    /// No source knew the key.
    case unknownKey(ServerName, keyID: String)
    /// The key is known but not valid at the time asked for (or it is an old key and the use
    /// needs a current one).
    case expiredKey(ServerName, keyID: String)
    case invalidResponse(ServerName, String)

    public var description: String {
        switch self {
        case .unknownKey(let server, let keyID): return "no key \(keyID) known for \(server)"
        case .expiredKey(let server, let keyID): return "key \(keyID) of \(server) is not valid at that time"
        case .invalidResponse(let server, let why): return "invalid key response for \(server): \(why)"
        }
    }
}

/// Why a PDU's signatures were refused.
public enum EventSignatureError: Error, Sendable, Equatable, CustomStringConvertible, MatrixErrorConvertible {
    /// A server whose signature is required did not sign with any ed25519 key.
    case missingSignature(ServerName)
    /// A signature by a known, valid key does not verify.
    case badSignature(ServerName, keyID: String)
    /// The server signed, but with no key that is known and valid at the event's time.
    case noUsableKey(ServerName)

    public var description: String {
        switch self {
        case .missingSignature(let server): return "event is not signed by \(server)"
        case .badSignature(let server, let keyID): return "signature of \(server) with \(keyID) does not verify"
        case .noUsableKey(let server): return "no key of \(server) that signed the event is known and valid at its time"
        }
    }

    public var matrixError: MatrixError { .forbidden("Event signature check failed: \(description)") }
}
