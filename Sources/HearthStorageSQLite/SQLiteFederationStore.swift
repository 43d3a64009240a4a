import Foundation
import GRDB
import HearthCore
import HearthStorage

struct SQLiteFederationStore: FederationStore {
    let pool: DatabasePool

    // MARK: Server keys

    func storeServerKeys(_ keys: [StoredServerKey]) async throws {
        try await storageCall {
            try await pool.write { db in
                for key in keys {
                    try db.execute(
                        sql: """
                            INSERT OR REPLACE INTO federation_server_keys
                              (server_name, key_id, public_key, valid_until_ts, is_old, fetched_at, response_json)
                            VALUES (?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [key.server.rawValue, key.keyID, Data(key.publicKey), key.validUntil, key.isOld,
                                    key.fetchedAt, key.response.encoded().utf8String])
                }
            }
        }
    }

    func serverKeys(of server: ServerName) async throws -> [StoredServerKey] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM federation_server_keys WHERE server_name = ?"), arguments: [server.rawValue])
                    .map { row in
                        StoredServerKey(server: server, keyID: row["key_id"], publicKey: Array(row["public_key"] as Data),
                                        validUntil: row["valid_until_ts"], isOld: row["is_old"], fetchedAt: row["fetched_at"],
                                        response: try JSONValue.parse(row["response_json"] as String).objectValue ?? [:])
                    }
            }
        }
    }

    // MARK: Outbound queue

    func enqueue(_ items: [(destination: ServerName, kind: OutboundItem.Kind, json: JSONObject)]) async throws -> [Int64] {
        if items.isEmpty { return [] }
        return try await storageCall {
            try await pool.write { db in
                try items.map { item in
                    try db.execute(sql: "INSERT INTO federation_outbox (destination, kind, json) VALUES (?, ?, ?)",
                                   arguments: [item.destination.rawValue, item.kind.rawValue, item.json.encoded().utf8String])
                    return db.lastInsertedRowID
                }
            }
        }
    }

    func destinationsWithPendingItems() async throws -> [ServerName] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT destination FROM federation_outbox ORDER BY destination"))
                    .compactMap(ServerName.init)
            }
        }
    }

    private static func item(_ row: Row) throws -> OutboundItem? {
        guard let destination = ServerName(row["destination"] as String),
              let kind = OutboundItem.Kind(rawValue: row["kind"] as String) else { return nil }
        return OutboundItem(id: row["id"], destination: destination, kind: kind,
                            json: try JSONValue.parse(row["json"] as String).objectValue ?? [:])
    }

    private static func openTransaction(_ db: Database, _ destination: ServerName) throws -> OpenTransaction? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT open_txn_id, open_txn_ts FROM federation_destinations WHERE destination = ?"),
                                         arguments: [destination.rawValue]),
              let txnID = row["open_txn_id"] as String?, let ts = row["open_txn_ts"] as Int64?
        else { return nil }
        let items = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM federation_outbox WHERE destination = ? AND txn_id = ? ORDER BY id"),
                                     arguments: [destination.rawValue, txnID]).compactMap(item)
        return OpenTransaction(destination: destination, transactionID: txnID, originServerTS: ts, items: items)
    }

    func openTransaction(for destination: ServerName) async throws -> OpenTransaction? {
        try await storageCall { try await pool.read { db in try Self.openTransaction(db, destination) } }
    }

    func openNextTransaction(for destination: ServerName, transactionID: @Sendable (Int64) -> String,
                             originServerTS: Milliseconds, maxPDUs: Int, maxEDUs: Int) async throws -> OpenTransaction? {
        try await storageCall {
            try await pool.write { db in
                if let open = try Self.openTransaction(db, destination) { return open }
                let select = "SELECT * FROM federation_outbox WHERE destination = ? AND kind = ? AND txn_id IS NULL ORDER BY id LIMIT ?"
                let pdus = try Row.fetchAll(db, sql: select, arguments: [destination.rawValue, "pdu", maxPDUs]).compactMap(Self.item)
                let edus = try Row.fetchAll(db, sql: select, arguments: [destination.rawValue, "edu", maxEDUs]).compactMap(Self.item)
                let items = (pdus + edus).sorted { $0.id < $1.id }
                guard let first = items.first else { return nil }
                let txnID = transactionID(first.id)
                for chunk in stride(from: 0, to: items.count, by: 500) {
                    let ids = items[chunk..<min(chunk + 500, items.count)].map(\.id)
                    try db.execute(sql: "UPDATE federation_outbox SET txn_id = ? WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ",")))",
                                   arguments: StatementArguments([txnID] + ids.map { DatabaseValue(value: $0) ?? .null }))
                }
                try db.execute(
                    sql: """
                        INSERT INTO federation_destinations (destination, open_txn_id, open_txn_ts) VALUES (?, ?, ?)
                        ON CONFLICT (destination) DO UPDATE SET open_txn_id = excluded.open_txn_id, open_txn_ts = excluded.open_txn_ts
                        """,
                    arguments: [destination.rawValue, txnID, originServerTS])
                return OpenTransaction(destination: destination, transactionID: txnID, originServerTS: originServerTS, items: items)
            }
        }
    }

    func completeTransaction(_ transactionID: String, for destination: ServerName) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM federation_outbox WHERE destination = ? AND txn_id = ?",
                               arguments: [destination.rawValue, transactionID])
                try db.execute(sql: """
                    UPDATE federation_destinations SET open_txn_id = NULL, open_txn_ts = NULL
                    WHERE destination = ? AND open_txn_id = ?
                    """, arguments: [destination.rawValue, transactionID])
            }
        }
    }

    func hasQueuedItems(for destination: ServerName) async throws -> Bool {
        try await storageCall {
            try await pool.read { db in
                try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM federation_outbox WHERE destination = ? AND txn_id IS NULL)"),
                                  arguments: [destination.rawValue]) ?? false
            }
        }
    }

    func retryState(for destination: ServerName) async throws -> DestinationRetryState? {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT failures, retry_at FROM federation_destinations WHERE destination = ?"),
                                 arguments: [destination.rawValue])
                    .map { DestinationRetryState(failures: $0["failures"], retryAt: $0["retry_at"]) }
            }
        }
    }

    func setRetryState(_ state: DestinationRetryState, for destination: ServerName) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO federation_destinations (destination, failures, retry_at) VALUES (?, ?, ?)
                        ON CONFLICT (destination) DO UPDATE SET failures = excluded.failures, retry_at = excluded.retry_at
                        """,
                    arguments: [destination.rawValue, state.failures, state.retryAt])
            }
        }
    }

    // MARK: Egress audit

    func appendAuditRecords(_ records: [EgressAuditRecord]) async throws -> [EgressAuditRecord] {
        guard !records.isEmpty else { return [] }
        return try await storageCall {
            try await pool.write { db in
                // One writer at a time (GRDB's pool), so reading the tail and appending is atomic.
                let tail = try Row.fetchOne(db.cachedStatement(sql: "SELECT sequence, hash FROM egress_audit ORDER BY sequence DESC LIMIT 1"))
                let anchor = try Row.fetchOne(db.cachedStatement(sql: "SELECT pruned_through, hash FROM egress_audit_anchor WHERE id = 1"))
                var sequence: Int64 = tail?["sequence"] ?? anchor?["pruned_through"] ?? 0
                var previous: String = tail?["hash"] ?? anchor?["hash"] ?? ""
                var appended: [EgressAuditRecord] = []
                for var record in records {
                    sequence += 1
                    record.sequence = sequence
                    record.previousHash = previous
                    record.hash = record.chainHash(after: previous)
                    try db.execute(
                        sql: """
                            INSERT INTO egress_audit (sequence, ts, destination, kind, method, path, decision, reason, body_sha256,
                              body_size, data_kind, room_id, user_id, rule, previous_hash, hash)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [record.sequence, record.timestamp, record.destination, record.kind, record.method, record.path,
                                    record.decision, record.reason, record.bodyDigest, record.bodySize, record.dataKind, record.roomID,
                                    record.userID, record.rule, record.previousHash, record.hash])
                    previous = record.hash
                    appended.append(record)
                }
                return appended
            }
        }
    }

    func auditRecords(after: Int64, limit: Int) async throws -> [EgressAuditRecord] {
        try await auditRecords(matching: AuditFilter(), after: after, limit: limit)
    }

    func auditRecords(matching filter: AuditFilter, after: Int64, limit: Int) async throws -> [EgressAuditRecord] {
        var conditions = ["sequence > ?"]
        var arguments: [any DatabaseValueConvertible] = [after]
        let equal: [(String, String?)] = [("destination", filter.destination), ("room_id", filter.roomID), ("user_id", filter.userID),
                                          ("decision", filter.decision), ("data_kind", filter.dataKind)]
        for (column, value) in equal {
            if let value {
                conditions.append("\(column) = ?")
                arguments.append(value)
            }
        }
        if let since = filter.since { conditions.append("ts >= ?"); arguments.append(since) }
        if let until = filter.until { conditions.append("ts < ?"); arguments.append(until) }
        arguments.append(limit)
        let sql = "SELECT * FROM egress_audit WHERE \(conditions.joined(separator: " AND ")) ORDER BY sequence LIMIT ?"
        let statementArguments = StatementArguments(arguments.map { $0 as (any DatabaseValueConvertible)? })
        return try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db, sql: sql, arguments: statementArguments).map(Self.auditRecord)
            }
        }
    }

    static func auditRecord(_ row: Row) -> EgressAuditRecord {
        EgressAuditRecord(sequence: row["sequence"], timestamp: row["ts"], destination: row["destination"], kind: row["kind"],
                          method: row["method"], path: row["path"], decision: row["decision"], reason: row["reason"],
                          bodyDigest: row["body_sha256"], bodySize: row["body_size"], dataKind: row["data_kind"],
                          roomID: row["room_id"], userID: row["user_id"], rule: row["rule"],
                          previousHash: row["previous_hash"] ?? "", hash: row["hash"] ?? "")
    }

    func pruneAuditRecords(before: Milliseconds) async throws -> Int {
        try await storageCall {
            try await pool.write { db in
                // Prune only a prefix: the oldest records up to the first one that is still young.
                let firstYoung = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MIN(sequence) FROM egress_audit WHERE ts >= ?"), arguments: [before])
                let through = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(sequence) FROM egress_audit WHERE sequence < ?"), arguments: [firstYoung ?? Int64.max])
                guard let through,
                      let hash = try String.fetchOne(db.cachedStatement(sql: "SELECT hash FROM egress_audit WHERE sequence = ?"), arguments: [through])
                else { return 0 }
                try db.execute(sql: """
                    INSERT INTO egress_audit_anchor (id, pruned_through, hash) VALUES (1, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET pruned_through = excluded.pruned_through, hash = excluded.hash
                    """, arguments: [through, hash])
                try db.execute(sql: "DELETE FROM egress_audit WHERE sequence <= ?", arguments: [through])
                return db.changesCount
            }
        }
    }

    func auditAnchor() async throws -> String {
        try await storageCall {
            try await pool.read { db in try String.fetchOne(db.cachedStatement(sql: "SELECT hash FROM egress_audit_anchor WHERE id = 1")) ?? "" }
        }
    }
}
