import GRDB
import HearthCore
import HearthStorage

/// Server-side key backup in SQLite.
extension SQLiteKeyStore {
    private static func version(_ db: Database, _ user: UserID, _ version: Int64?) throws -> BackupVersion? {
        let row: Row? = if let version {
            try Row.fetchOne(db, sql: "SELECT * FROM e2e_backup_versions WHERE user_id = ? AND version = ? AND deleted = 0",
                             arguments: [user.rawValue, version])
        } else {
            try Row.fetchOne(db, sql: "SELECT * FROM e2e_backup_versions WHERE user_id = ? AND deleted = 0 ORDER BY version DESC LIMIT 1",
                             arguments: [user.rawValue])
        }
        guard let row else { return nil }
        let number: Int64 = row["version"]
        let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM e2e_backup_keys WHERE user_id = ? AND version = ?",
                                     arguments: [user.rawValue, number]) ?? 0
        return BackupVersion(version: number, algorithm: row["algorithm"],
                             authData: try JSONValue.parse(row["auth_data"] as String).objectValue ?? [:],
                             count: count, etag: String(row["etag"] as Int64))
    }

    private static func bumpEtag(_ db: Database, _ user: UserID, _ version: Int64) throws {
        try db.execute(sql: "UPDATE e2e_backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?",
                       arguments: [user.rawValue, version])
    }

    func createBackupVersion(_ user: UserID, algorithm: String, authData: JSONObject) async throws -> Int64 {
        try await storageCall {
            try await pool.write { db in
                let next = (try Int64.fetchOne(db, sql: "SELECT max(version) FROM e2e_backup_versions WHERE user_id = ?",
                                               arguments: [user.rawValue]) ?? 0) + 1
                try db.execute(sql: "INSERT INTO e2e_backup_versions (user_id, version, algorithm, auth_data) VALUES (?, ?, ?, ?)",
                               arguments: [user.rawValue, next, algorithm, authData.encodedString()])
                return next
            }
        }
    }

    func backupVersion(_ user: UserID, version: Int64?) async throws -> BackupVersion? {
        try await storageCall { try await pool.read { db in try Self.version(db, user, version) } }
    }

    func updateBackupVersion(_ user: UserID, version: Int64, authData: JSONObject) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "UPDATE e2e_backup_versions SET auth_data = ? WHERE user_id = ? AND version = ? AND deleted = 0",
                               arguments: [authData.encodedString(), user.rawValue, version])
            }
        }
    }

    func deleteBackupVersion(_ user: UserID, version: Int64) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "UPDATE e2e_backup_versions SET deleted = 1 WHERE user_id = ? AND version = ?",
                               arguments: [user.rawValue, version])
                try db.execute(sql: "DELETE FROM e2e_backup_keys WHERE user_id = ? AND version = ?", arguments: [user.rawValue, version])
            }
        }
    }

    func putBackupKeys(_ user: UserID, version: Int64, keys: [BackupKey]) async throws -> BackupVersion {
        try await storageCall {
            try await pool.write { db in
                var changed = false
                for key in keys {
                    if let old = try Row.fetchOne(db, sql: """
                        SELECT first_message_index, forwarded_count, is_verified FROM e2e_backup_keys
                        WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?
                        """, arguments: [user.rawValue, version, key.roomID, key.sessionID]) {
                        let oldVerified: Bool = old["is_verified"]
                        let oldRank = (oldVerified ? 0 : 1, old["first_message_index"] as Int64, old["forwarded_count"] as Int64)
                        let newRank = (key.isVerified ? 0 : 1, key.firstMessageIndex, key.forwardedCount)
                        // Lower is better; an equal key is not replaced.
                        guard newRank < oldRank else { continue }
                    }
                    try db.execute(sql: """
                        INSERT OR REPLACE INTO e2e_backup_keys (user_id, version, room_id, session_id, first_message_index,
                          forwarded_count, is_verified, session_data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [user.rawValue, version, key.roomID, key.sessionID, key.firstMessageIndex, key.forwardedCount,
                                         key.isVerified, key.sessionData.encodedString()])
                    changed = true
                }
                if changed { try Self.bumpEtag(db, user, version) }
                guard let result = try Self.version(db, user, version) else { throw StorageError.notFound("backup version") }
                return result
            }
        }
    }

    private static func scope(_ roomID: String?, _ sessionID: String?) -> (String, [String]) {
        var sql = ""
        var arguments: [String] = []
        if let roomID { sql += " AND room_id = ?"; arguments.append(roomID) }
        if let sessionID { sql += " AND session_id = ?"; arguments.append(sessionID) }
        return (sql, arguments)
    }

    func backupKeys(_ user: UserID, version: Int64, roomID: String?, sessionID: String?) async throws -> [BackupKey] {
        let (condition, extra) = Self.scope(roomID, sessionID)
        var arguments: StatementArguments = [user.rawValue, version]
        _ = arguments.append(contentsOf: StatementArguments(extra))
        let bound = arguments
        return try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM e2e_backup_keys WHERE user_id = ? AND version = ?\(condition) ORDER BY room_id, session_id",
                                 arguments: bound).map { row in
                    BackupKey(roomID: row["room_id"], sessionID: row["session_id"], firstMessageIndex: row["first_message_index"],
                              forwardedCount: row["forwarded_count"], isVerified: row["is_verified"],
                              sessionData: try JSONValue.parse(row["session_data"] as String).objectValue ?? [:])
                }
            }
        }
    }

    func deleteBackupKeys(_ user: UserID, version: Int64, roomID: String?, sessionID: String?) async throws -> BackupVersion {
        let (condition, extra) = Self.scope(roomID, sessionID)
        var arguments: StatementArguments = [user.rawValue, version]
        _ = arguments.append(contentsOf: StatementArguments(extra))
        let bound = arguments
        return try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM e2e_backup_keys WHERE user_id = ? AND version = ?\(condition)", arguments: bound)
                if db.changesCount > 0 { try Self.bumpEtag(db, user, version) }
                guard let result = try Self.version(db, user, version) else { throw StorageError.notFound("backup version") }
                return result
            }
        }
    }
}
