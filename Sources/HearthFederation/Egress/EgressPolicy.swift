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

/// Decides what may leave. The organization-policy work builds the real one; until then
/// `AllowEverything` is used.
public protocol EgressPolicy: Sendable {
    func decide(_ item: EgressItem) async -> EgressDecision
}

public struct AllowEverything: EgressPolicy {
    public init() {}
    public func decide(_ item: EgressItem) async -> EgressDecision { .allow }
}

/// Where the gate records its decisions.
public protocol AuditSink: Sendable {
    func record(_ record: EgressAuditRecord) async
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

    public func record(_ record: EgressAuditRecord) async {
        do { try await store.appendAuditRecord(record) } catch {
            logger.error("cannot record an egress decision", metadata: ["error": "\(error)", "path": "\(record.path)"])
        }
    }
}

extension EgressAuditRecord {
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
                  bodyDigest: bytes.map { SHA256.hash(data: $0).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() },
                  bodySize: bytes?.count ?? 0)
    }
}
