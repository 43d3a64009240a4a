import GRDB
import HearthCore
import HearthStorage

struct SQLiteFederationInboxStore: FederationInboxStore {
    let pool: DatabasePool
    let quick: QuickReader

    func transactionResponse(origin: ServerName, transactionID: String) async throws -> JSONObject? {
        try quick.read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT response FROM federation_inbound_transactions WHERE origin = ? AND txn_id = ?"),
                                arguments: [origin.rawValue, transactionID])
                .flatMap { try JSONValue.parse($0).objectValue }
        }
    }

    func saveTransactionResponse(origin: ServerName, transactionID: String, response: JSONObject, at: Milliseconds) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO federation_inbound_transactions (origin, txn_id, response, received_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT (origin, txn_id) DO NOTHING
                        """,
                    arguments: [origin.rawValue, transactionID, response.encodedString(), at])
                // Senders retry a transaction for minutes, not days: now and then, forget old ones.
                if Int.random(in: 0..<256) == 0 {
                    try db.execute(sql: "DELETE FROM federation_inbound_transactions WHERE received_at < ?",
                                   arguments: [at - 7 * 24 * 3_600_000])
                }
            }
        }
    }
}
