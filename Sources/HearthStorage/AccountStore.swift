public import HearthCore

public struct Account: Sendable, Equatable {
    public var userID: UserID
    /// bcrypt hash, or nil for accounts that cannot log in with a password (guests).
    public var passwordHash: String?
    public var isAdmin: Bool
    public var isGuest: Bool
    public var isDeactivated: Bool
    public var createdAt: Milliseconds
    public var displayName: String?
    public var avatarURL: String?
    /// Registered where new accounts need an administrator's approval, and not yet approved.
    public var awaitingApproval: Bool

    public init(userID: UserID, passwordHash: String?, isAdmin: Bool = false, isGuest: Bool = false,
                isDeactivated: Bool = false, createdAt: Milliseconds, displayName: String? = nil, avatarURL: String? = nil,
                awaitingApproval: Bool = false) {
        self.awaitingApproval = awaitingApproval
        self.userID = userID
        self.passwordHash = passwordHash
        self.isAdmin = isAdmin
        self.isGuest = isGuest
        self.isDeactivated = isDeactivated
        self.createdAt = createdAt
        self.displayName = displayName
        self.avatarURL = avatarURL
    }
}

public struct Device: Sendable, Equatable {
    public var userID: UserID
    public var deviceID: String
    public var displayName: String?
    public var lastSeenAt: Milliseconds?
    public var lastSeenIP: String?

    public init(userID: UserID, deviceID: String, displayName: String? = nil, lastSeenAt: Milliseconds? = nil,
                lastSeenIP: String? = nil) {
        self.userID = userID
        self.deviceID = deviceID
        self.displayName = displayName
        self.lastSeenAt = lastSeenAt
        self.lastSeenIP = lastSeenIP
    }
}

/// A session: what an access token identifies. Tokens are stored only as SHA-256 digests, so
/// a copy of the database does not let anyone act as a user.
public struct Session: Sendable, Equatable {
    public var userID: UserID
    public var deviceID: String
    /// When the access token stops working (refresh-token sessions), or nil.
    public var expiresAt: Milliseconds?

    public init(userID: UserID, deviceID: String, expiresAt: Milliseconds?) {
        self.userID = userID
        self.deviceID = deviceID
        self.expiresAt = expiresAt
    }
}

public protocol AccountStore: Sendable {
    /// Creates the account; throws `StorageError.conflict` if the user ID is taken (including by
    /// a deactivated account: user IDs are never reused).
    func createAccount(_ account: Account) async throws
    func account(_ userID: UserID) async throws -> Account?
    func setPasswordHash(_ userID: UserID, _ hash: String?) async throws
    func setDeactivated(_ userID: UserID) async throws
    func setAdmin(_ userID: UserID, _ isAdmin: Bool) async throws
    func setProfile(_ userID: UserID, displayName: String?, avatarURL: String?) async throws
    /// Profile fields beyond `displayname` and `avatar_url` (v1.16 extended profiles).
    func profileFields(_ userID: UserID) async throws -> JSONObject
    /// Sets a field (a JSON `null` is stored as such) or, with nil, deletes it.
    func setProfileField(_ userID: UserID, key: String, value: JSONValue?) async throws
    /// Local users whose ID or display name contains `term` (case-insensitive), for the user directory.
    func searchUsers(_ term: String, limit: Int) async throws -> [Account]

    func devices(of userID: UserID) async throws -> [Device]
    func device(_ userID: UserID, _ deviceID: String) async throws -> Device?
    /// Inserts or updates the device (display name; last seen).
    func saveDevice(_ device: Device) async throws
    /// Deletes devices and every session on them.
    func deleteDevices(_ userID: UserID, _ deviceIDs: [String]) async throws

    /// Stores a session under the digest of its access token (and of its refresh token, if any).
    func createSession(_ session: Session, accessTokenDigest: [UInt8], refreshTokenDigest: [UInt8]?) async throws
    func session(accessTokenDigest: [UInt8]) async throws -> Session?
    /// Exchanges a refresh token: the old access and refresh tokens stop working, the new
    /// ones start, atomically. Returns nil if the refresh token is unknown.
    func refreshSession(refreshTokenDigest: [UInt8], newAccessTokenDigest: [UInt8], newRefreshTokenDigest: [UInt8],
                        expiresAt: Milliseconds?) async throws -> Session?
    func deleteSession(accessTokenDigest: [UInt8]) async throws
    /// Deletes every session of the user except the one given (nil: all of them).
    func deleteSessions(of userID: UserID, except accessTokenDigest: [UInt8]?) async throws

    /// Registration tokens (m.login.registration_token).
    func registrationTokenIsUsable(_ token: String, now: Milliseconds) async throws -> Bool
    func consumeRegistrationToken(_ token: String, now: Milliseconds) async throws -> Bool
    func createRegistrationToken(_ token: String, usesAllowed: Int?, expiresAt: Milliseconds?) async throws
    /// Every token, or the one named.
    func registrationTokens() async throws -> [RegistrationToken]
    func updateRegistrationToken(_ token: String, usesAllowed: Int??, expiresAt: Milliseconds??) async throws -> Bool
    func deleteRegistrationToken(_ token: String) async throws -> Bool
    /// Approves (or puts back on hold) a new account.
    func setAwaitingApproval(_ userID: UserID, _ awaiting: Bool) async throws
    /// Accounts awaiting approval, oldest first.
    func accountsAwaitingApproval() async throws -> [Account]
}

/// A registration token as administrators manage it (Synapse's admin API shape).
public struct RegistrationToken: Sendable, Equatable {
    public var token: String
    public var usesAllowed: Int?
    /// Registrations completed with it.
    public var completed: Int
    public var expiresAt: Milliseconds?

    public init(token: String, usesAllowed: Int?, completed: Int, expiresAt: Milliseconds?) {
        self.token = token
        self.usesAllowed = usesAllowed
        self.completed = completed
        self.expiresAt = expiresAt
    }
}
