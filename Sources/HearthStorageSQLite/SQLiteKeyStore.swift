import Foundation
import GRDB
import HearthCore
import HearthStorage

struct SQLiteKeyStore: KeyStore {
    let pool: DatabasePool

    private static func object(_ text: String) throws -> JSONObject { try JSONValue.parse(text).objectValue ?? [:] }

    private static func recordChange(_ db: Database, _ userID: UserID) throws -> StreamPosition {
        let stream = try nextStreamPosition(db)
        try db.execute(sql: "INSERT INTO device_list_changes (stream, user_id) VALUES (?, ?)", arguments: [stream, userID.rawValue])
        return stream
    }

    func setDeviceKeys(_ userID: UserID, _ deviceID: String, keys: JSONObject) async throws -> StreamPosition {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO device_keys (user_id, device_id, key_json) VALUES (?, ?, ?)
                    ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json
                    """, arguments: [userID.rawValue, deviceID, keys.encodedString()])
                return try Self.recordChange(db, userID)
            }
        }
    }

    func deviceKeys(_ userID: UserID) async throws -> [String: JSONObject] {
        try await storageCall {
            try await pool.read { db in
                var result: [String: JSONObject] = [:]
                for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT device_id, key_json FROM device_keys WHERE user_id = ?"), arguments: [userID.rawValue]) {
                    result[row["device_id"]] = try Self.object(row["key_json"])
                }
                return result
            }
        }
    }

    func deleteDeviceKeys(_ userID: UserID, _ deviceID: String) async throws {
        try await storageCall {
            try await pool.write { db in
                for table in ["device_keys", "one_time_keys", "fallback_keys", "to_device_messages"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE user_id = ? AND device_id = ?", arguments: [userID.rawValue, deviceID])
                }
                _ = try Self.recordChange(db, userID)
            }
        }
    }

    private static func algorithm(of keyID: String) -> String { String(keyID.split(separator: ":").first ?? "") }

    func addOneTimeKeys(_ userID: UserID, _ deviceID: String, keys: [(keyID: String, key: JSONValue)]) async throws {
        try await storageCall {
            try await pool.write { db in
                let statement = try db.cachedStatement(sql: """
                    INSERT OR IGNORE INTO one_time_keys (user_id, device_id, algorithm, key_id, key_json) VALUES (?, ?, ?, ?, ?)
                    """)
                for (keyID, key) in keys {
                    try statement.execute(arguments: [userID.rawValue, deviceID, Self.algorithm(of: keyID), keyID, key.encodedString()])
                }
            }
        }
    }

    func oneTimeKeyCounts(_ userID: UserID, _ deviceID: String) async throws -> [String: Int] {
        try await storageCall {
            try await pool.read { db in
                var counts: [String: Int] = [:]
                for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT algorithm, count(*) AS n FROM one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm"),
                                            arguments: [userID.rawValue, deviceID]) {
                    counts[row["algorithm"]] = row["n"]
                }
                return counts
            }
        }
    }

    func claimKey(_ userID: UserID, _ deviceID: String, algorithm: String) async throws -> (keyID: String, key: JSONValue)? {
        try await storageCall {
            // One write transaction: the read and the delete cannot interleave with another claim.
            try await pool.write { db -> (keyID: String, key: JSONValue)? in
                if let row = try Row.fetchOne(db.cachedStatement(sql: """
                    DELETE FROM one_time_keys WHERE rowid = (
                      SELECT rowid FROM one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY key_id LIMIT 1)
                    RETURNING key_id, key_json
                    """), arguments: [userID.rawValue, deviceID, algorithm]) {
                    return (row["key_id"], try JSONValue.parse(row["key_json"] as String))
                }
                guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT key_id, key_json FROM fallback_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?"),
                                                 arguments: [userID.rawValue, deviceID, algorithm])
                else { return nil }
                try db.execute(sql: "UPDATE fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ?",
                               arguments: [userID.rawValue, deviceID, algorithm])
                return (row["key_id"], try JSONValue.parse(row["key_json"] as String))
            }
        }
    }

    func setFallbackKeys(_ userID: UserID, _ deviceID: String, keys: [(keyID: String, key: JSONValue)]) async throws {
        try await storageCall {
            try await pool.write { db in
                for (keyID, key) in keys {
                    try db.execute(sql: """
                        INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES (?, ?, ?, ?, ?, 0)
                        ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id,
                          key_json = excluded.key_json, used = 0
                        """, arguments: [userID.rawValue, deviceID, Self.algorithm(of: keyID), keyID, key.encodedString()])
                }
            }
        }
    }

    func unusedFallbackKeyAlgorithms(_ userID: UserID, _ deviceID: String) async throws -> [String] {
        try await storageCall {
            try await pool.read { db in
                try String.fetchAll(db.cachedStatement(sql: "SELECT algorithm FROM fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm"),
                                    arguments: [userID.rawValue, deviceID])
            }
        }
    }

    func setCrossSigningKey(_ userID: UserID, type: String, key: JSONObject) async throws -> StreamPosition {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO cross_signing_keys (user_id, key_type, key_json) VALUES (?, ?, ?)
                    ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json
                    """, arguments: [userID.rawValue, type, key.encodedString()])
                return try Self.recordChange(db, userID)
            }
        }
    }

    func crossSigningKeys(_ userID: UserID) async throws -> [String: JSONObject] {
        try await storageCall {
            try await pool.read { db in
                var result: [String: JSONObject] = [:]
                for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT key_type, key_json FROM cross_signing_keys WHERE user_id = ?"), arguments: [userID.rawValue]) {
                    result[row["key_type"]] = try Self.object(row["key_json"])
                }
                return result
            }
        }
    }

    func markDeviceListChanged(_ userID: UserID) async throws -> StreamPosition {
        try await storageCall { try await pool.write { db in try Self.recordChange(db, userID) } }
    }

    func deviceListChanges(after: StreamPosition, upTo: StreamPosition) async throws -> Set<UserID> {
        try await storageCall {
            try await pool.read { db in
                Set(try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT user_id FROM device_list_changes WHERE stream > ? AND stream <= ?"),
                                        arguments: [after, upTo]).compactMap(UserID.init))
            }
        }
    }

    func queueToDevice(sender: UserID, senderDevice: String, transactionID: String?, type: String,
                       messages: [(userID: UserID, deviceID: String, content: JSONObject)]) async throws -> Bool {
        try await storageCall {
            try await pool.write { db in
                if let transactionID {
                    try db.execute(sql: "INSERT OR IGNORE INTO to_device_transactions (sender, sender_device, txn_id) VALUES (?, ?, ?)",
                                   arguments: [sender.rawValue, senderDevice, transactionID])
                    if db.changesCount == 0 { return false }
                }
                for message in messages {
                    let stream = try nextStreamPosition(db)
                    try db.execute(sql: """
                        INSERT INTO to_device_messages (stream, user_id, device_id, sender, type, content) VALUES (?, ?, ?, ?, ?, ?)
                        """, arguments: [stream, message.userID.rawValue, message.deviceID, sender.rawValue, type,
                                         message.content.encodedString()])
                }
                return true
            }
        }
    }

    func toDeviceMessages(_ userID: UserID, _ deviceID: String, after: StreamPosition, limit: Int) async throws
        -> [(stream: StreamPosition, sender: UserID, type: String, content: JSONObject)] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT stream, sender, type, content FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream > ?
                    ORDER BY stream LIMIT ?
                    """), arguments: [userID.rawValue, deviceID, after, limit]).compactMap { row in
                    guard let sender = UserID(row["sender"] as String) else { return nil }
                    return (row["stream"], sender, row["type"], try Self.object(row["content"]))
                }
            }
        }
    }

    func acknowledgeToDevice(_ userID: UserID, _ deviceID: String, upTo: StreamPosition) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream <= ?",
                               arguments: [userID.rawValue, deviceID, upTo])
            }
        }
    }

    // MARK: Key backup

    func createBackupVersion(_ userID: UserID, algorithm: String, authData: JSONObject) async throws -> String {
        try await storageCall {
            try await pool.write { db in
                let next = (try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(version) FROM backup_versions WHERE user_id = ?"), arguments: [userID.rawValue]) ?? 0) + 1
                try db.execute(sql: "INSERT INTO backup_versions (user_id, version, algorithm, auth_data) VALUES (?, ?, ?, ?)",
                               arguments: [userID.rawValue, next, algorithm, authData.encodedString()])
                return String(next)
            }
        }
    }

    func backupVersion(_ userID: UserID, version: String?) async throws -> BackupVersion? {
        try await storageCall {
            try await pool.read { db in
                let row: Row?
                if let version {
                    guard let number = Int64(version) else { return nil }
                    row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM backup_versions WHERE user_id = ? AND version = ? AND deleted = 0"),
                                           arguments: [userID.rawValue, number])
                } else {
                    row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM backup_versions WHERE user_id = ? AND deleted = 0 ORDER BY version DESC LIMIT 1"),
                                           arguments: [userID.rawValue])
                }
                guard let row else { return nil }
                let number: Int64 = row["version"]
                let count = try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM backup_keys WHERE user_id = ? AND version = ?"),
                                             arguments: [userID.rawValue, number]) ?? 0
                return BackupVersion(version: String(number), algorithm: row["algorithm"], authData: try Self.object(row["auth_data"]),
                                     etag: String(row["etag"] as Int64), count: count)
            }
        }
    }

    func updateBackupVersion(_ userID: UserID, version: String, authData: JSONObject) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "UPDATE backup_versions SET auth_data = ? WHERE user_id = ? AND version = ? AND deleted = 0",
                               arguments: [authData.encodedString(), userID.rawValue, Int64(version) ?? -1])
                if db.changesCount == 0 { throw StorageError.notFound("backup version") }
            }
        }
    }

    func deleteBackupVersion(_ userID: UserID, version: String) async throws {
        try await storageCall {
            try await pool.write { db in
                let number = Int64(version) ?? -1
                try db.execute(sql: "UPDATE backup_versions SET deleted = 1 WHERE user_id = ? AND version = ? AND deleted = 0",
                               arguments: [userID.rawValue, number])
                if db.changesCount == 0 { throw StorageError.notFound("backup version") }
                try db.execute(sql: "DELETE FROM backup_keys WHERE user_id = ? AND version = ?", arguments: [userID.rawValue, number])
            }
        }
    }

    /// The spec's rule for which of two backups of a session to keep: verified beats unverified,
    /// then the lower first_message_index, then the lower forwarded_count.
    static func isBetter(_ new: JSONObject, than old: JSONObject) -> Bool {
        let newVerified = new["is_verified"]?.boolValue ?? false
        let oldVerified = old["is_verified"]?.boolValue ?? false
        if newVerified != oldVerified { return newVerified }
        let newIndex = new["first_message_index"]?.intValue ?? .max
        let oldIndex = old["first_message_index"]?.intValue ?? .max
        if newIndex != oldIndex { return newIndex < oldIndex }
        return (new["forwarded_count"]?.intValue ?? .max) < (old["forwarded_count"]?.intValue ?? .max)
    }

    func putBackupKey(_ userID: UserID, version: String, roomID: String, sessionID: String, key: JSONObject) async throws {
        try await storageCall {
            try await pool.write { db in
                let number = Int64(version) ?? -1
                guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM backup_versions WHERE user_id = ? AND version = ? AND deleted = 0)"),
                                        arguments: [userID.rawValue, number]) == true
                else { throw StorageError.notFound("backup version") }
                if let existing = try String.fetchOne(db.cachedStatement(sql: """
                    SELECT key_json FROM backup_keys WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?
                    """), arguments: [userID.rawValue, number, roomID, sessionID]),
                   !Self.isBetter(key, than: try Self.object(existing)) {
                    return
                }
                try db.execute(sql: """
                    INSERT INTO backup_keys (user_id, version, room_id, session_id, key_json) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET key_json = excluded.key_json
                    """, arguments: [userID.rawValue, number, roomID, sessionID, key.encodedString()])
                try db.execute(sql: "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?",
                               arguments: [userID.rawValue, number])
            }
        }
    }

    func backupKeys(_ userID: UserID, version: String, roomID: String?, sessionID: String?) async throws
        -> [(roomID: String, sessionID: String, key: JSONObject)] {
        try await storageCall {
            try await pool.read { db in
                var sql = "SELECT room_id, session_id, key_json FROM backup_keys WHERE user_id = ? AND version = ?"
                var arguments: [any DatabaseValueConvertible] = [userID.rawValue, Int64(version) ?? -1]
                if let roomID { sql += " AND room_id = ?"; arguments.append(roomID) }
                if let sessionID { sql += " AND session_id = ?"; arguments.append(sessionID) }
                return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map {
                    ($0["room_id"], $0["session_id"], try Self.object($0["key_json"]))
                }
            }
        }
    }

    func deleteBackupKeys(_ userID: UserID, version: String, roomID: String?, sessionID: String?) async throws {
        try await storageCall {
            try await pool.write { db in
                var sql = "DELETE FROM backup_keys WHERE user_id = ? AND version = ?"
                var arguments: [any DatabaseValueConvertible] = [userID.rawValue, Int64(version) ?? -1]
                if let roomID { sql += " AND room_id = ?"; arguments.append(roomID) }
                if let sessionID { sql += " AND session_id = ?"; arguments.append(sessionID) }
                try db.execute(sql: sql, arguments: StatementArguments(arguments))
                try db.execute(sql: "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?",
                               arguments: [userID.rawValue, Int64(version) ?? -1])
            }
        }
    }
}
