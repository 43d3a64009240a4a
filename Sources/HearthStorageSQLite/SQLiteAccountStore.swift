import Foundation
import GRDB
import HearthCore
import HearthStorage

struct SQLiteAccountStore: AccountStore {
    let pool: DatabasePool
    let quick: QuickReader

    func createAccount(_ account: Account) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO accounts (user_id, password_hash, is_admin, is_guest, is_deactivated, created_at, display_name, avatar_url,
                                              awaiting_approval)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [account.userID.rawValue, account.passwordHash, account.isAdmin, account.isGuest,
                                account.isDeactivated, account.createdAt, account.displayName, account.avatarURL, account.awaitingApproval])
            }
        }
    }

    func account(_ userID: UserID) async throws -> Account? {
        try quick.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM accounts WHERE user_id = ?"), arguments: [userID.rawValue])
                .map(Self.account(from:))
        }
    }

    static func account(from row: Row) -> Account {
        Account(userID: UserID(row["user_id"] as String)!, passwordHash: row["password_hash"], isAdmin: row["is_admin"],
                isGuest: row["is_guest"], isDeactivated: row["is_deactivated"], createdAt: row["created_at"],
                displayName: row["display_name"], avatarURL: row["avatar_url"], awaitingApproval: row["awaiting_approval"] ?? false)
    }

    private func update(_ sql: String, _ arguments: StatementArguments) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: sql, arguments: arguments)
                if db.changesCount == 0 { throw StorageError.notFound("no such account") }
            }
        }
    }

    func setPasswordHash(_ userID: UserID, _ hash: String?) async throws {
        try await update("UPDATE accounts SET password_hash = ? WHERE user_id = ?", [hash, userID.rawValue])
    }

    func setDeactivated(_ userID: UserID) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "UPDATE accounts SET is_deactivated = 1, password_hash = NULL WHERE user_id = ?",
                               arguments: [userID.rawValue])
                try db.execute(sql: "DELETE FROM sessions WHERE user_id = ?", arguments: [userID.rawValue])
                try db.execute(sql: "DELETE FROM devices WHERE user_id = ?", arguments: [userID.rawValue])
            }
        }
    }

    func setAdmin(_ userID: UserID, _ isAdmin: Bool) async throws {
        try await update("UPDATE accounts SET is_admin = ? WHERE user_id = ?", [isAdmin, userID.rawValue])
    }

    func setProfile(_ userID: UserID, displayName: String?, avatarURL: String?) async throws {
        try await update("UPDATE accounts SET display_name = ?, avatar_url = ? WHERE user_id = ?",
                         [displayName, avatarURL, userID.rawValue])
    }

    func profileFields(_ userID: UserID) async throws -> JSONObject {
        try await storageCall {
            try await pool.read { db in
                var fields = JSONObject()
                for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT key, value FROM profile_fields WHERE user_id = ? ORDER BY key"),
                                            arguments: [userID.rawValue]) {
                    fields[row["key"] as String] = try JSONValue.parse(row["value"] as String)
                }
                return fields
            }
        }
    }

    func setProfileField(_ userID: UserID, key: String, value: JSONValue?) async throws {
        let text = value?.encodedString()
        try await storageCall {
            try await pool.write { db in
                if let text {
                    try db.execute(sql: "INSERT OR REPLACE INTO profile_fields (user_id, key, value) VALUES (?, ?, ?)",
                                   arguments: [userID.rawValue, key, text])
                } else {
                    try db.execute(sql: "DELETE FROM profile_fields WHERE user_id = ? AND key = ?", arguments: [userID.rawValue, key])
                }
            }
        }
    }

    func searchUsers(_ term: String, limit: Int) async throws -> [Account] {
        let pattern = "%" + term.lowercased().replacingOccurrences(of: "%", with: "").replacingOccurrences(of: "_", with: "") + "%"
        return try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: """
                        SELECT * FROM accounts WHERE is_deactivated = 0 AND is_guest = 0
                          AND (lower(user_id) LIKE ? OR lower(coalesce(display_name, '')) LIKE ?)
                        ORDER BY user_id LIMIT ?
                        """),
                    arguments: [pattern, pattern, limit]
                ).map(Self.account(from:))
            }
        }
    }

    // MARK: Devices

    static func device(from row: Row) -> Device {
        Device(userID: UserID(row["user_id"] as String)!, deviceID: row["device_id"], displayName: row["display_name"],
               lastSeenAt: row["last_seen_at"], lastSeenIP: row["last_seen_ip"])
    }

    func devices(of userID: UserID) async throws -> [Device] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM devices WHERE user_id = ? ORDER BY device_id"), arguments: [userID.rawValue])
                    .map(Self.device(from:))
            }
        }
    }

    func device(_ userID: UserID, _ deviceID: String) async throws -> Device? {
        try quick.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM devices WHERE user_id = ? AND device_id = ?"),
                             arguments: [userID.rawValue, deviceID]).map(Self.device(from:))
        }
    }

    func saveDevice(_ device: Device) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO devices (user_id, device_id, display_name, last_seen_at, last_seen_ip) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = excluded.display_name,
                          last_seen_at = excluded.last_seen_at, last_seen_ip = excluded.last_seen_ip
                        """,
                    arguments: [device.userID.rawValue, device.deviceID, device.displayName, device.lastSeenAt, device.lastSeenIP])
            }
        }
    }

    func deleteDevices(_ userID: UserID, _ deviceIDs: [String]) async throws {
        try await storageCall {
            try await pool.write { db in
                for deviceID in deviceIDs {
                    try db.execute(sql: "DELETE FROM devices WHERE user_id = ? AND device_id = ?", arguments: [userID.rawValue, deviceID])
                    try db.execute(sql: "DELETE FROM sessions WHERE user_id = ? AND device_id = ?", arguments: [userID.rawValue, deviceID])
                }
            }
        }
    }

    // MARK: Sessions

    func createSession(_ session: Session, accessTokenDigest: [UInt8], refreshTokenDigest: [UInt8]?) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO sessions (access_token_digest, refresh_token_digest, user_id, device_id, expires_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [Data(accessTokenDigest), refreshTokenDigest.map { Data($0) }, session.userID.rawValue,
                                session.deviceID, session.expiresAt])
            }
        }
    }

    func session(accessTokenDigest: [UInt8]) async throws -> Session? {
        try quick.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT user_id, device_id, expires_at FROM sessions WHERE access_token_digest = ?"),
                             arguments: [Data(accessTokenDigest)]).map {
                Session(userID: UserID($0["user_id"] as String)!, deviceID: $0["device_id"], expiresAt: $0["expires_at"])
            }
        }
    }

    func refreshSession(refreshTokenDigest: [UInt8], newAccessTokenDigest: [UInt8], newRefreshTokenDigest: [UInt8],
                        expiresAt: Milliseconds?) async throws -> Session? {
        try await storageCall {
            try await pool.write { db in
                guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT user_id, device_id FROM sessions WHERE refresh_token_digest = ?"),
                                                 arguments: [Data(refreshTokenDigest)])
                else { return nil }
                try db.execute(sql: "DELETE FROM sessions WHERE refresh_token_digest = ?", arguments: [Data(refreshTokenDigest)])
                let session = Session(userID: UserID(row["user_id"] as String)!, deviceID: row["device_id"], expiresAt: expiresAt)
                try db.execute(
                    sql: "INSERT INTO sessions (access_token_digest, refresh_token_digest, user_id, device_id, expires_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [Data(newAccessTokenDigest), Data(newRefreshTokenDigest), session.userID.rawValue, session.deviceID, expiresAt])
                return session
            }
        }
    }

    func deleteSession(accessTokenDigest: [UInt8]) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM sessions WHERE access_token_digest = ?", arguments: [Data(accessTokenDigest)])
            }
        }
    }

    func deleteSessions(of userID: UserID, except accessTokenDigest: [UInt8]?) async throws {
        try await storageCall {
            try await pool.write { db in
                if let keep = accessTokenDigest {
                    try db.execute(sql: "DELETE FROM sessions WHERE user_id = ? AND access_token_digest != ?",
                                   arguments: [userID.rawValue, Data(keep)])
                } else {
                    try db.execute(sql: "DELETE FROM sessions WHERE user_id = ?", arguments: [userID.rawValue])
                }
            }
        }
    }

    // MARK: Registration tokens

    func registrationTokenIsUsable(_ token: String, now: Milliseconds) async throws -> Bool {
        try await storageCall {
            try await pool.read { db in
                try Self.isUsable(db, token, now)
            }
        }
    }

    private static func isUsable(_ db: Database, _ token: String, _ now: Milliseconds) throws -> Bool {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM registration_tokens WHERE token = ?"), arguments: [token])
        else { return false }
        if let allowed: Int64 = row["uses_allowed"], (row["uses"] as Int64) >= allowed { return false }
        if let expires: Int64 = row["expires_at"], expires <= now { return false }
        return true
    }

    func consumeRegistrationToken(_ token: String, now: Milliseconds) async throws -> Bool {
        try await storageCall {
            try await pool.write { db in
                guard try Self.isUsable(db, token, now) else { return false }
                try db.execute(sql: "UPDATE registration_tokens SET uses = uses + 1 WHERE token = ?", arguments: [token])
                return true
            }
        }
    }

    func createRegistrationToken(_ token: String, usesAllowed: Int?, expiresAt: Milliseconds?) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "INSERT INTO registration_tokens (token, uses_allowed, expires_at) VALUES (?, ?, ?)",
                               arguments: [token, usesAllowed, expiresAt])
            }
        }
    }

    func registrationTokens() async throws -> [RegistrationToken] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM registration_tokens ORDER BY token")).map { row in
                    RegistrationToken(token: row["token"], usesAllowed: row["uses_allowed"], completed: row["uses"], expiresAt: row["expires_at"])
                }
            }
        }
    }

    func updateRegistrationToken(_ token: String, usesAllowed: Int??, expiresAt: Milliseconds??) async throws -> Bool {
        try await storageCall {
            try await pool.write { db in
                guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM registration_tokens WHERE token = ?)"), arguments: [token]) == true
                else { return false }
                if let usesAllowed {
                    try db.execute(sql: "UPDATE registration_tokens SET uses_allowed = ? WHERE token = ?", arguments: [usesAllowed, token])
                }
                if let expiresAt {
                    try db.execute(sql: "UPDATE registration_tokens SET expires_at = ? WHERE token = ?", arguments: [expiresAt, token])
                }
                return true
            }
        }
    }

    func deleteRegistrationToken(_ token: String) async throws -> Bool {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM registration_tokens WHERE token = ?", arguments: [token])
                return db.changesCount == 1
            }
        }
    }

    func setAwaitingApproval(_ userID: UserID, _ awaiting: Bool) async throws {
        try await update("UPDATE accounts SET awaiting_approval = ? WHERE user_id = ?", [awaiting, userID.rawValue])
    }

    func accountsAwaitingApproval() async throws -> [Account] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM accounts WHERE awaiting_approval = 1 AND is_deactivated = 0 ORDER BY created_at"))
                    .map(Self.account(from:))
            }
        }
    }
}
