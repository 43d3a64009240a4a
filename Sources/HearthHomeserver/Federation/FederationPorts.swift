public import HearthCore
public import HearthStorage

/// What the room semantics of federation need from the transport (keys, signed requests, the
/// outgoing queues), declared here so that the homeserver stays free of HTTP and TLS. The
/// transport (HearthFederation) implements them; tests substitute their own.

/// Public keys of other servers, as the key ring has fetched and verified them.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys
public protocol ServerKeyProvider: Sendable {
    /// The key `server` published under `keyID`, or nil when it cannot be had. With `validAt`
    /// (room versions that enforce key validity, v5+), a key whose `valid_until_ts` (or
    /// `expired_ts` for an old key) is before that time counts as unavailable.
    func verifyKey(server: ServerName, keyID: String, validAt: Milliseconds?) async -> VerifyKey?
}

/// A federation request to another server, signed with the X-Matrix scheme by the transport.
public struct FederationRequest: Sendable {
    public var method: String
    /// From `/_matrix/…` on, path segments already percent-encoded.
    public var path: String
    /// Query parameters, in order (a name may repeat, as `v` does for /backfill).
    public var query: [(String, String)]
    public var body: JSONObject?

    public init(method: String, path: String, query: [(String, String)] = [], body: JSONObject? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
    }
}

/// Signed requests to other homeservers.
public protocol RemoteHomeservers: Sendable {
    /// Sends `request` to `destination` and returns the JSON body of a 2xx response. A Matrix
    /// error response is thrown as `MatrixError` with the remote's errcode and status; a
    /// transport failure as any other error.
    func send(_ request: FederationRequest, to destination: ServerName) async throws -> JSONValue
}

/// The persistent per-destination queues that batch PDUs and EDUs into transactions.
public protocol FederationOutbox: Sendable {
    /// Queues a PDU (sent in its federation form) for each destination.
    func enqueue(pdu: PDU, to destinations: Set<ServerName>) async
    /// Queues an EDU (`{"edu_type": …, "content": …}`) for each destination.
    func enqueue(edu: JSONObject, to destinations: Set<ServerName>) async
}

/// The ports together. `offline` federates with nobody: only this server's own key is known,
/// requests fail, nothing is queued.
public struct FederationPorts: Sendable {
    public var keys: any ServerKeyProvider
    public var remotes: any RemoteHomeservers
    public var outbox: any FederationOutbox

    public init(keys: any ServerKeyProvider, remotes: any RemoteHomeservers, outbox: any FederationOutbox) {
        self.keys = keys
        self.remotes = remotes
        self.outbox = outbox
    }

    public static func offline(serverName: ServerName, signingKey: SigningKey) -> FederationPorts {
        FederationPorts(keys: OwnKeyOnly(serverName: serverName, key: signingKey), remotes: NoRemotes(), outbox: NoOutbox())
    }

    struct OwnKeyOnly: ServerKeyProvider {
        let serverName: ServerName
        let key: SigningKey
        func verifyKey(server: ServerName, keyID: String, validAt: Milliseconds?) async -> VerifyKey? {
            guard server == serverName, keyID == key.keyID else { return nil }
            return VerifyKey(bytes: key.publicKey)
        }
    }

    struct NoRemotes: RemoteHomeservers {
        func send(_ request: FederationRequest, to destination: ServerName) async throws -> JSONValue {
            throw MatrixError(.forbidden, status: 403, "Federation is not enabled on this server")
        }
    }

    struct NoOutbox: FederationOutbox {
        func enqueue(pdu: PDU, to destinations: Set<ServerName>) async {}
        func enqueue(edu: JSONObject, to destinations: Set<ServerName>) async {}
    }
}
