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

    func saveToDeviceMessages(_ messages: [ToDeviceMessage]) async throws -> StreamPosition {
        try await storageCall {
            try await pool.write { db in
                var last: StreamPosition = 0
                for message in messages {
                    last = try nextStreamPosition(db)
                    try db.execute(
                        sql: """
                            INSERT INTO to_device_inbox (stream, recipient, device_id, sender, type, content, origin, message_id)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [last, message.recipient.rawValue, message.deviceID, message.sender.rawValue, message.type,
                                    message.content.encodedString(), message.origin?.rawValue, message.messageID])
                }
                return last
            }
        }
    }

    func toDeviceMessages(for user: UserID, deviceID: String, after: StreamPosition, limit: Int) async throws -> [ToDeviceMessage] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM to_device_inbox WHERE recipient = ? AND device_id = ? AND stream > ? ORDER BY stream LIMIT ?",
                    arguments: [user.rawValue, deviceID, after, limit]
                ).map { row in
                    ToDeviceMessage(recipient: user, deviceID: deviceID, sender: UserID(row["sender"] as String)!,
                                    type: row["type"], content: try JSONValue.parse(row["content"] as String).objectValue ?? [:],
                                    origin: (row["origin"] as String?).flatMap(ServerName.init), messageID: row["message_id"],
                                    stream: row["stream"])
                }
            }
        }
    }

    func deleteToDeviceMessages(for user: UserID, deviceID: String, upTo: StreamPosition) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM to_device_inbox WHERE recipient = ? AND device_id = ? AND stream <= ?",
                               arguments: [user.rawValue, deviceID, upTo])
            }
        }
    }
}
