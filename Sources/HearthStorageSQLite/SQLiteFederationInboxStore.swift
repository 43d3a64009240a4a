import GRDB
import HearthCore
import HearthStorage

struct SQLiteFederationInboxStore: FederationInboxStore {
    let pool: DatabasePool

    func transactionResponse(origin: ServerName, transactionID: String) async throws -> JSONObject? {
        try await storageCall {
            try await pool.read { db in
                try String.fetchOne(db, sql: "SELECT response FROM federation_inbound_transactions WHERE origin = ? AND txn_id = ?",
                                    arguments: [origin.rawValue, transactionID])
                    .flatMap { try JSONValue.parse($0).objectValue }
            }
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
            }
        }
    }

    func saveDeviceListUpdate(_ update: RemoteDeviceListUpdate) async throws -> StreamPosition {
        try await storageCall {
            try await pool.write { db in
                let stream = try nextStreamPosition(db)
                try db.execute(
                    sql: """
                        INSERT INTO remote_device_list_updates (stream, user_id, edu_type, device_id, stream_id, content, received_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [stream, update.userID.rawValue, update.eduType, update.deviceID, update.streamID,
                                update.content.encodedString(), update.receivedAt])
                return stream
            }
        }
    }

    func deviceListUpdates(of userID: UserID) async throws -> [RemoteDeviceListUpdate] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM remote_device_list_updates WHERE user_id = ? ORDER BY stream",
                                 arguments: [userID.rawValue]).map { row in
                    RemoteDeviceListUpdate(userID: userID, eduType: row["edu_type"], deviceID: row["device_id"],
                                           streamID: row["stream_id"],
                                           content: try JSONValue.parse(row["content"] as String).objectValue ?? [:],
                                           receivedAt: row["received_at"], stream: row["stream"])
                }
            }
        }
    }

}
