import GRDB
import HearthCore
import HearthStorage

/// End-to-end keys and to-device messages in SQLite. Keys are stored as canonical JSON text.
struct SQLiteKeyStore: KeyStore {
    let pool: DatabasePool

    static func recordChange(_ db: Database, _ user: UserID) throws {
        let stream = try nextStreamPosition(db)
        try db.execute(sql: "INSERT INTO device_list_changes (stream, user_id) VALUES (?, ?)", arguments: [stream, user.rawValue])
    }

    /// A deleted device's keys and messages go with it (called inside the device deletion).
    static func deleteDevice(_ db: Database, _ user: UserID, _ device: String) throws {
        let arguments: StatementArguments = [user.rawValue, device]
        let hadKeys = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM e2e_device_keys WHERE user_id = ? AND device_id = ?)",
                                        arguments: arguments) ?? false
        for table in ["e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys", "to_device_messages"] {
            try db.execute(sql: "DELETE FROM \(table) WHERE user_id = ? AND device_id = ?", arguments: arguments)
        }
        if hadKeys { try recordChange(db, user) }
    }

    private static func object(_ text: String) throws -> JSONObject { try JSONValue.parse(text).objectValue ?? [:] }

    func setDeviceKeys(_ user: UserID, device: String, keys: JSONObject) async throws {
        let json = keys.encodedString()
        try await storageCall {
            try await pool.write { db in
                let old = try String.fetchOne(db, sql: "SELECT json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?",
                                              arguments: [user.rawValue, device])
                guard old != json else { return }
                try db.execute(sql: "INSERT OR REPLACE INTO e2e_device_keys (user_id, device_id, json) VALUES (?, ?, ?)",
                               arguments: [user.rawValue, device, json])
                try Self.recordChange(db, user)
            }
        }
    }

    func deviceKeys(of users: [UserID]) async throws -> [UserID: [String: JSONObject]] {
        try await fetchByUser(users, sql: "SELECT user_id, device_id AS name, json FROM e2e_device_keys WHERE user_id IN")
    }

    func crossSigningKeys(of users: [UserID]) async throws -> [UserID: [String: JSONObject]] {
        try await fetchByUser(users, sql: "SELECT user_id, key_type AS name, json FROM e2e_cross_signing_keys WHERE user_id IN")
    }

    private func fetchByUser(_ users: [UserID], sql: String) async throws -> [UserID: [String: JSONObject]] {
        if users.isEmpty { return [:] }
        let marks = Array(repeating: "?", count: users.count).joined(separator: ",")
        return try await storageCall {
            try await pool.read { db in
                var result: [UserID: [String: JSONObject]] = [:]
                for row in try Row.fetchAll(db, sql: sql + " (\(marks))", arguments: StatementArguments(users.map(\.rawValue))) {
                    guard let user = UserID(row["user_id"] as String) else { continue }
                    result[user, default: [:]][row["name"] as String] = try Self.object(row["json"])
                }
                return result
            }
        }
    }

    func addOneTimeKeys(_ user: UserID, device: String, keys: [UploadedKey]) async throws {
        try await storageCall {
            try await pool.write { db in
                for key in keys {
                    let json = key.key.encodedString()
                    let existing = try String.fetchOne(
                        db, sql: "SELECT json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?",
                        arguments: [user.rawValue, device, key.algorithm, key.keyID])
                    if let existing {
                        if existing != json { throw StorageError.conflict("one-time key \(key.algorithm):\(key.keyID) already exists") }
                        continue
                    }
                    try db.execute(sql: "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, json) VALUES (?, ?, ?, ?, ?)",
                                   arguments: [user.rawValue, device, key.algorithm, key.keyID, json])
                }
            }
        }
    }

    func oneTimeKeyCounts(_ user: UserID, device: String) async throws -> [String: Int] {
        try await storageCall {
            try await pool.read { db in
                var counts: [String: Int] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT algorithm, count(*) AS n FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm
                    """, arguments: [user.rawValue, device]) {
                    counts[row["algorithm"] as String] = row["n"]
                }
                return counts
            }
        }
    }

    func setFallbackKeys(_ user: UserID, device: String, keys: [UploadedKey]) async throws {
        try await storageCall {
            try await pool.write { db in
                for key in keys {
                    try db.execute(sql: """
                        INSERT OR REPLACE INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, json, used) VALUES (?, ?, ?, ?, ?, 0)
                        """, arguments: [user.rawValue, device, key.algorithm, key.keyID, key.key.encodedString()])
                }
            }
        }
    }

    func unusedFallbackKeyAlgorithms(_ user: UserID, device: String) async throws -> [String] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db, sql: "SELECT algorithm FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm",
                                    arguments: [user.rawValue, device])
            }
        }
    }

    func claimKey(_ user: UserID, device: String, algorithm: String) async throws -> UploadedKey? {
        try await storageCall {
            try await pool.write { db in
                let arguments: StatementArguments = [user.rawValue, device, algorithm]
                if let row = try Row.fetchOne(db, sql: """
                    SELECT key_id, json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY key_id LIMIT 1
                    """, arguments: arguments) {
                    try db.execute(sql: "DELETE FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?",
                                   arguments: [user.rawValue, device, algorithm, row["key_id"] as String])
                    return UploadedKey(algorithm: algorithm, keyID: row["key_id"], key: try JSONValue.parse(row["json"] as String))
                }
                guard let row = try Row.fetchOne(db, sql: "SELECT key_id, json FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?",
                                                 arguments: arguments) else { return nil }
                try db.execute(sql: "UPDATE e2e_fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ?", arguments: arguments)
                return UploadedKey(algorithm: algorithm, keyID: row["key_id"], key: try JSONValue.parse(row["json"] as String))
            }
        }
    }

    func setCrossSigningKey(_ user: UserID, type: String, key: JSONObject) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO e2e_cross_signing_keys (user_id, key_type, json) VALUES (?, ?, ?)",
                               arguments: [user.rawValue, type, key.encodedString()])
                try Self.recordChange(db, user)
            }
        }
    }

    func deviceListChanges(after: StreamPosition, upTo: StreamPosition) async throws -> Set<UserID> {
        try await storageCall {
            try await pool.read { db in
                Set(try String.fetchAll(db, sql: "SELECT DISTINCT user_id FROM device_list_changes WHERE stream > ? AND stream <= ?",
                                        arguments: [after, upTo]).compactMap(UserID.init))
            }
        }
    }

    func queueToDevice(_ messages: [(user: UserID, device: String, content: JSONObject)], type: String, sender: UserID,
                       transaction: ClientTransaction?) async throws -> Bool {
        let rows = messages.map { [$0.user.rawValue, $0.device, $0.content.encodedString()] }
        return try await storageCall {
            try await pool.write { db in
                if let transaction {
                    let seen = try Bool.fetchOne(db, sql: """
                        SELECT EXISTS (SELECT 1 FROM to_device_transactions WHERE user_id = ? AND device_id = ? AND txn_id = ?)
                        """, arguments: [transaction.userID.rawValue, transaction.deviceID, transaction.transactionID]) ?? false
                    if seen { return false }
                    try db.execute(sql: "INSERT INTO to_device_transactions (user_id, device_id, txn_id) VALUES (?, ?, ?)",
                                   arguments: [transaction.userID.rawValue, transaction.deviceID, transaction.transactionID])
                }
                for row in rows {
                    let stream = try nextStreamPosition(db)
                    try db.execute(sql: """
                        INSERT INTO to_device_messages (stream, user_id, device_id, sender, type, content) VALUES (?, ?, ?, ?, ?, ?)
                        """, arguments: [stream, row[0], row[1], sender.rawValue, type, row[2]])
                }
                return true
            }
        }
    }

    func toDeviceMessages(_ user: UserID, device: String, after: StreamPosition, limit: Int) async throws -> [ToDeviceMessage] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT stream, sender, type, content FROM to_device_messages
                    WHERE user_id = ? AND device_id = ? AND stream > ? ORDER BY stream LIMIT ?
                    """, arguments: [user.rawValue, device, after, limit]).compactMap { row in
                    guard let sender = UserID(row["sender"] as String) else { return nil }
                    return ToDeviceMessage(stream: row["stream"], sender: sender, type: row["type"], content: try Self.object(row["content"]))
                }
            }
        }
    }

    func deleteToDeviceMessages(_ user: UserID, device: String, upTo: StreamPosition) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream <= ?",
                               arguments: [user.rawValue, device, upTo])
            }
        }
    }
}
