public import HearthCore

/// What the federation transport persists: remote servers' keys, the outbound transaction
/// queue and the egress audit log. The SQLite backend implements all three.
public protocol FederationStore: ServerKeyStore, OutboundQueueStore, EgressAuditStore {}

// MARK: - Server keys

/// A remote server's verify key as cached by the key ring.
public struct StoredServerKey: Sendable, Hashable {
    public var server: ServerName
    /// `ed25519:<version>`.
    public var keyID: String
    public var publicKey: [UInt8]
    /// Until when the key may sign (room versions 5+): the lesser of the response's
    /// `valid_until_ts` and fetch time + 7 days, or `expired_ts` for an old key.
    public var validUntil: Milliseconds
    /// From `old_verify_keys`: good for events before `validUntil`, never for requests.
    public var isOld: Bool
    public var fetchedAt: Milliseconds
    /// The server's signed `/_matrix/key/v2/server` response the key came from, kept so this
    /// server can answer notary queries with it.
    public var response: JSONObject

    public init(server: ServerName, keyID: String, publicKey: [UInt8], validUntil: Milliseconds, isOld: Bool,
                fetchedAt: Milliseconds, response: JSONObject) {
        self.server = server
        self.keyID = keyID
        self.publicKey = publicKey
        self.validUntil = validUntil
        self.isOld = isOld
        self.fetchedAt = fetchedAt
        self.response = response
    }
}

public protocol ServerKeyStore: Sendable {
    /// Inserts or replaces keys by (server, key ID).
    func storeServerKeys(_ keys: [StoredServerKey]) async throws
    /// Every cached key of `server`.
    func serverKeys(of server: ServerName) async throws -> [StoredServerKey]
}

// MARK: - Outbound transactions

/// A PDU or EDU waiting to be sent to one destination.
public struct OutboundItem: Sendable, Hashable {
    public enum Kind: String, Sendable { case pdu, edu }
    /// Increasing in enqueue order, never reused.
    public var id: Int64
    public var destination: ServerName
    public var kind: Kind
    public var json: JSONObject

    public init(id: Int64, destination: ServerName, kind: Kind, json: JSONObject) {
        self.id = id
        self.destination = destination
        self.kind = kind
        self.json = json
    }
}

/// A transaction that was built and may have been sent: it is resent as it is (same ID, same
/// content) until the destination acknowledges it, so a restart neither loses nor duplicates.
public struct OpenTransaction: Sendable, Hashable {
    public var destination: ServerName
    public var transactionID: String
    public var originServerTS: Milliseconds
    public var items: [OutboundItem]

    public init(destination: ServerName, transactionID: String, originServerTS: Milliseconds, items: [OutboundItem]) {
        self.destination = destination
        self.transactionID = transactionID
        self.originServerTS = originServerTS
        self.items = items
    }
}

/// A destination's retry state, kept across restarts.
public struct DestinationRetryState: Sendable, Hashable {
    public var failures: Int
    /// When to try next (ms); 0 when the destination is not backing off.
    public var retryAt: Milliseconds

    public init(failures: Int, retryAt: Milliseconds) {
        self.failures = failures
        self.retryAt = retryAt
    }
}

public protocol OutboundQueueStore: Sendable {
    /// Appends items for their destinations, in order; returns their IDs.
    @discardableResult
    func enqueue(_ items: [(destination: ServerName, kind: OutboundItem.Kind, json: JSONObject)]) async throws -> [Int64]
    /// Destinations with queued items or an open transaction.
    func destinationsWithPendingItems() async throws -> [ServerName]
    /// The destination's open transaction, if one was built and not yet acknowledged.
    func openTransaction(for destination: ServerName) async throws -> OpenTransaction?
    /// Builds the next transaction from the oldest queued items (at most `maxPDUs` PDUs and
    /// `maxEDUs` EDUs) and records it as open. Nil when nothing is queued.
    func openNextTransaction(for destination: ServerName, transactionID: @Sendable (Int64) -> String,
                             originServerTS: Milliseconds, maxPDUs: Int, maxEDUs: Int) async throws -> OpenTransaction?
    /// The destination acknowledged the transaction: its items are gone for good.
    func completeTransaction(_ transactionID: String, for destination: ServerName) async throws
    /// Whether anything remains queued (outside the open transaction) for the destination.
    func hasQueuedItems(for destination: ServerName) async throws -> Bool
    func retryState(for destination: ServerName) async throws -> DestinationRetryState?
    func setRetryState(_ state: DestinationRetryState, for destination: ServerName) async throws
}

// MARK: - Egress audit

/// One decision of the egress gate, as recorded.
public struct EgressAuditRecord: Sendable, Hashable {
    /// Assigned by the store on append (0 before).
    public var sequence: Int64
    public var timestamp: Milliseconds
    /// The remote server, when known (a response to an unauthenticated request has none).
    public var destination: String?
    /// `request`, `transaction`, `response`, `key_fetch`, `discovery`.
    public var kind: String
    public var method: String
    public var path: String
    /// `allow`, `refuse` or `reshape`.
    public var decision: String
    public var reason: String?
    /// SHA-256 (hex) of the body as it left, when there was one.
    public var bodyDigest: String?
    public var bodySize: Int

    public init(sequence: Int64 = 0, timestamp: Milliseconds, destination: String?, kind: String, method: String, path: String,
                decision: String, reason: String?, bodyDigest: String?, bodySize: Int) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.destination = destination
        self.kind = kind
        self.method = method
        self.path = path
        self.decision = decision
        self.reason = reason
        self.bodyDigest = bodyDigest
        self.bodySize = bodySize
    }
}

/// An append-only log: records are added and read, never changed or removed.
public protocol EgressAuditStore: Sendable {
    @discardableResult
    func appendAuditRecord(_ record: EgressAuditRecord) async throws -> Int64
    /// Records with a sequence above `after`, oldest first.
    func auditRecords(after: Int64, limit: Int) async throws -> [EgressAuditRecord]
}
