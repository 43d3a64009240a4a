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

/// One decision of the egress gate, as recorded. A transaction or response is recorded once as
/// a whole (its envelope) and once per item inside it that a rule looked at (`dataKind` set:
/// a PDU, a typing notice, a receipt, a profile…). Each record carries the hash of the one
/// before it, so a changed, removed or reordered record breaks the chain (`AuditChain`).
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
    /// What the record is about inside the envelope (`pdu`, `m.typing`, `profile`…); nil for
    /// the envelope itself.
    public var dataKind: String?
    public var roomID: String?
    public var userID: String?
    /// The policy rule that decided (`room_class.partners`…), Spec/policy.md lists them.
    public var rule: String?
    /// Set by the store on append: the previous record's hash, and this record's.
    public var previousHash: String
    public var hash: String

    public init(sequence: Int64 = 0, timestamp: Milliseconds, destination: String?, kind: String, method: String, path: String,
                decision: String, reason: String?, bodyDigest: String?, bodySize: Int, dataKind: String? = nil,
                roomID: String? = nil, userID: String? = nil, rule: String? = nil, previousHash: String = "", hash: String = "") {
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
        self.dataKind = dataKind
        self.roomID = roomID
        self.userID = userID
        self.rule = rule
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The hash this record must carry after `previous`: SHA-256 over the previous hash and
    /// the canonical JSON of every field but the hashes.
    public func chainHash(after previous: String) -> String {
        var fields = json
        fields["previous_hash"] = nil
        fields["hash"] = nil
        let canonical = (try? JSONValue.object(fields).canonicalBytes()) ?? []
        return SHA256Hex.digest(Array(previous.utf8) + [0x0a] + canonical)
    }
}

/// Which audit records to read. Every condition given must hold.
public struct AuditFilter: Sendable, Equatable {
    public var destination: String?
    public var roomID: String?
    public var userID: String?
    public var decision: String?
    public var dataKind: String?
    public var since: Milliseconds?
    public var until: Milliseconds?

    public init(destination: String? = nil, roomID: String? = nil, userID: String? = nil, decision: String? = nil,
                dataKind: String? = nil, since: Milliseconds? = nil, until: Milliseconds? = nil) {
        self.destination = destination
        self.roomID = roomID
        self.userID = userID
        self.decision = decision
        self.dataKind = dataKind
        self.since = since
        self.until = until
    }

    public func matches(_ record: EgressAuditRecord) -> Bool {
        (destination == nil || record.destination == destination) && (roomID == nil || record.roomID == roomID)
            && (userID == nil || record.userID == userID) && (decision == nil || record.decision == decision)
            && (dataKind == nil || record.dataKind == dataKind) && (since.map { record.timestamp >= $0 } ?? true)
            && (until.map { record.timestamp < $0 } ?? true)
    }
}

/// Checks an audit log's hash chain.
public enum AuditChain {
    /// The sequence of the first record whose hash does not follow from the one before (or
    /// from `anchor`, the hash of the last pruned record), or nil when the chain is intact.
    public static func firstBreak(in records: [EgressAuditRecord], anchor: String) -> Int64? {
        var previous = anchor
        for record in records {
            guard record.previousHash == previous, record.hash == record.chainHash(after: previous) else { return record.sequence }
            previous = record.hash
        }
        return nil
    }
}

/// An append-only log: records are added and read, never changed. Records older than the
/// retention period are pruned from the oldest end only, and the hash of the last one pruned
/// is kept as the chain's anchor.
public protocol EgressAuditStore: Sendable {
    /// Appends in order, in one transaction, filling in sequence and hashes.
    @discardableResult
    func appendAuditRecords(_ records: [EgressAuditRecord]) async throws -> [EgressAuditRecord]
    /// Records with a sequence above `after`, oldest first.
    func auditRecords(after: Int64, limit: Int) async throws -> [EgressAuditRecord]
    /// Records matching `filter`, oldest first.
    func auditRecords(matching filter: AuditFilter, after: Int64, limit: Int) async throws -> [EgressAuditRecord]
    /// Removes records older than `before`; returns how many went.
    func pruneAuditRecords(before: Milliseconds) async throws -> Int
    /// The hash the oldest remaining record follows ("" when nothing was ever pruned).
    func auditAnchor() async throws -> String
}

extension EgressAuditStore {
    @discardableResult
    public func appendAuditRecord(_ record: EgressAuditRecord) async throws -> Int64 {
        try await appendAuditRecords([record]).first?.sequence ?? 0
    }
}

extension EgressAuditRecord {
    /// The record as the admin API and `hearth audit --json` show it.
    public var json: JSONObject {
        var object: JSONObject = [
            "sequence": .int(sequence), "ts": .int(timestamp), "kind": .string(kind), "method": .string(method),
            "path": .string(path), "decision": .string(decision), "body_size": .int(Int64(bodySize)),
            "previous_hash": .string(previousHash), "hash": .string(hash),
        ]
        let optional: [(String, String?)] = [("destination", destination), ("reason", reason), ("body_sha256", bodyDigest),
                                             ("data_kind", dataKind), ("room_id", roomID), ("user_id", userID), ("rule", rule)]
        for (key, value) in optional { if let value { object[key] = .string(value) } }
        return object
    }
}

/// Walks the whole audit log, page by page, checking its chain from the anchor.
public struct AuditVerification: Sendable {
    public var records: Int
    /// The first record that does not follow from the one before, if any.
    public var brokenAt: Int64?

    public static func run(_ store: any EgressAuditStore) async throws -> AuditVerification {
        var previous = try await store.auditAnchor()
        var after: Int64 = 0
        var count = 0
        while true {
            let page = try await store.auditRecords(after: after, limit: 5000)
            if page.isEmpty { break }
            if let broken = AuditChain.firstBreak(in: page, anchor: previous) { return AuditVerification(records: count, brokenAt: broken) }
            count += page.count
            previous = page.last!.hash
            after = page.last!.sequence
        }
        return AuditVerification(records: count, brokenAt: nil)
    }

    public var json: JSONObject {
        var object: JSONObject = ["records_checked": .int(Int64(records)), "intact": .bool(brokenAt == nil)]
        if let brokenAt { object["broken_at"] = .int(brokenAt) }
        return object
    }
}
