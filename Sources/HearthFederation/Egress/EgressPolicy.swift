public import HearthCore
public import HearthStorage
import Crypto
import Logging
import Synchronization

/// What kind of traffic is leaving.
public enum EgressKind: String, Sendable, CaseIterable {
    /// A federation request (queries, joins, backfill…).
    case request
    /// A `PUT /send/{txnId}` transaction of PDUs and EDUs.
    case transaction
    /// A response body from one of this server's federation routes.
    case response
    /// A request for a server's signing keys (direct or through a notary).
    case keyFetch = "key_fetch"
    /// A `/.well-known/matrix/server` lookup.
    case discovery
}

/// A body as it would leave. Outgoing requests carry `.json`; responses of this server's
/// routes carry `.bytes` with their content type (`application/json` for JSON; `json` parses).
public enum EgressBody: Sendable, Equatable {
    case none
    case json(JSONValue)
    case bytes([UInt8], contentType: String)

    /// The body as JSON, when it is JSON.
    public var json: JSONValue? {
        switch self {
        case .json(let value): return value
        case .bytes(let bytes, let type) where type.hasPrefix("application/json"): return try? JSONValue.parse(bytes)
        default: return nil
        }
    }

    var encoded: [UInt8]? {
        switch self {
        case .none: return nil
        case .json(let value): return value.encoded()
        case .bytes(let bytes, _): return bytes
        }
    }
}

/// Something about to leave for a remote server, as the policy sees it.
public struct EgressItem: Sendable {
    public var kind: EgressKind
    /// The remote server; nil for a response to a request that named no origin (key and
    /// version endpoints are unauthenticated).
    public var destination: ServerName?
    public var method: String
    /// The request target (`/_matrix/...?query`), or for a response the path it answers.
    public var path: String
    public var body: EgressBody

    public init(kind: EgressKind, destination: ServerName?, method: String, path: String, body: EgressBody) {
        self.kind = kind
        self.destination = destination
        self.method = method
        self.path = path
        self.body = body
    }
}

public enum EgressDecision: Sendable, Equatable {
    case allow
    /// Nothing leaves; requests fail with `FederationError.refused`, responses become 403.
    case refuse(reason: String)
    /// The item leaves with this body instead (for a request, it is signed as reshaped).
    case reshape(EgressBody, reason: String)

    var name: String {
        switch self {
        case .allow: return "allow"
        case .refuse: return "refuse"
        case .reshape: return "reshape"
        }
    }
}

/// One thing inside an item that a rule judged: a PDU of a transaction, a typing notice, a
/// profile in a response… Recorded in the audit log with the envelope.
public struct EgressFinding: Sendable, Equatable {
    /// `pdu`, `m.typing`, `m.receipt`, `m.presence`, `m.device_list_update`, `profile`, `media`…
    public var dataKind: String
    public var roomID: String?
    public var userID: String?
    /// `allow`, `refuse` or `reshape`.
    public var decision: String
    public var rule: String
    public var reason: String

    public init(dataKind: String, roomID: String? = nil, userID: String? = nil, decision: String, rule: String, reason: String) {
        self.dataKind = dataKind
        self.roomID = roomID
        self.userID = userID
        self.decision = decision
        self.rule = rule
        self.reason = reason
    }
}

/// A policy's answer for an item: the decision, the rule that settled the item as a whole,
/// and what it found inside.
public struct EgressRuling: Sendable, Equatable {
    public var decision: EgressDecision
    public var rule: String?
    public var findings: [EgressFinding]

    public init(decision: EgressDecision, rule: String? = nil, findings: [EgressFinding] = []) {
        self.decision = decision
        self.rule = rule
        self.findings = findings
    }
}

/// Decides what may leave. `OrganizationEgressPolicy` is the configured one; `AllowEverything`
/// serves tests and tools.
public protocol EgressPolicy: Sendable {
    func decide(_ item: EgressItem) async -> EgressDecision
    /// The decision with its rule and findings; by default `decide` with neither.
    func rule(_ item: EgressItem) async -> EgressRuling
}

extension EgressPolicy {
    public func rule(_ item: EgressItem) async -> EgressRuling { EgressRuling(decision: await decide(item)) }
}

public struct AllowEverything: EgressPolicy {
    public init() {}
    public func decide(_ item: EgressItem) async -> EgressDecision { .allow }
}

/// Where the gate records its decisions.
public protocol AuditSink: Sendable {
    func record(_ record: EgressAuditRecord) async
    /// Several records of one decision, in order (one write where the sink can).
    func record(_ records: [EgressAuditRecord]) async
}

extension AuditSink {
    public func record(_ records: [EgressAuditRecord]) async {
        for item in records { await self.record(item) }
    }
}

/// Keeps records in memory (tests, and servers that do not persist the log).
public final class InMemoryAuditSink: AuditSink {
    private let storage = Mutex<[EgressAuditRecord]>([])

    public init() {}

    public func record(_ record: EgressAuditRecord) async {
        storage.withLock { records in
            var record = record
            record.sequence = Int64(records.count + 1)
            records.append(record)
        }
    }

    public var records: [EgressAuditRecord] { storage.withLock { $0 } }
}

/// Appends records to an append-only store (the SQLite `egress_audit` table refuses updates
/// and deletes). A failed write is logged: the decision has already been taken.
public struct StoreAuditSink: AuditSink {
    let store: any EgressAuditStore
    let logger: Logger

    public init(store: any EgressAuditStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func record(_ record: EgressAuditRecord) async { await self.record([record]) }

    public func record(_ records: [EgressAuditRecord]) async {
        do { try await store.appendAuditRecords(records) } catch {
            logger.error("cannot record an egress decision", metadata: ["error": "\(error)", "path": "\(records.first?.path ?? "")"])
        }
    }
}

extension EgressAuditRecord {
    /// The records of one ruling: the envelope, then each finding.
    static func records(item: EgressItem, ruling: EgressRuling, timestamp: Milliseconds) -> [EgressAuditRecord] {
        var envelope = EgressAuditRecord(item: item, decision: ruling.decision, timestamp: timestamp)
        envelope.rule = ruling.rule
        return [envelope] + ruling.findings.map { finding in
            EgressAuditRecord(timestamp: timestamp, destination: item.destination?.rawValue, kind: item.kind.rawValue,
                              method: item.method, path: item.path, decision: finding.decision, reason: finding.reason,
                              bodyDigest: nil, bodySize: 0, dataKind: finding.dataKind, roomID: finding.roomID,
                              userID: finding.userID, rule: finding.rule)
        }
    }

    init(item: EgressItem, decision: EgressDecision, timestamp: Milliseconds) {
        let finalBody: EgressBody
        switch decision {
        case .allow: finalBody = item.body
        case .refuse: finalBody = .none
        case .reshape(let body, _): finalBody = body
        }
        let bytes = finalBody.encoded
        var reason: String? = nil
        if case .refuse(let why) = decision { reason = why }
        if case .reshape(_, let why) = decision { reason = why }
        self.init(timestamp: timestamp, destination: item.destination?.rawValue, kind: item.kind.rawValue, method: item.method,
                  path: item.path, decision: decision.name, reason: reason,
                  bodyDigest: bytes.map { SHA256Hex.digest($0) },
                  bodySize: bytes?.count ?? 0)
    }
}
