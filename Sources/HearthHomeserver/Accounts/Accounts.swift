public import HearthCore
public import HearthStorage
import HummingbirdBcrypt
import Crypto

/// Accounts, devices and sessions: registration, login, tokens, passwords.
public final class Accounts: Sendable {
    let settings: HomeserverSettings
    let store: any AccountStore
    let clock: any WallClock
    public let uia: UserInteractiveAuth

    init(settings: HomeserverSettings, store: any AccountStore, clock: any WallClock, uia: UserInteractiveAuth) {
        self.settings = settings
        self.store = store
        self.clock = clock
        self.uia = uia
    }

    /// What a client gets after registering or logging in.
    public struct LoginResult: Sendable {
        public var userID: UserID
        public var deviceID: String
        public var accessToken: String
        public var refreshToken: String?
        public var expiresInMs: Milliseconds?
    }

    // MARK: Registration

    /// Validates a requested localpart for a new account on this server.
    public func validateNewLocalpart(_ localpart: String) async throws -> UserID {
        let lowered = localpart.lowercased()
        guard UserID.isValidLocalpart(lowered), let userID = UserID(localpart: lowered, server: settings.serverName) else {
            throw MatrixError(.invalidUsername, status: 400, "User ID can only contain characters a-z, 0-9, or '=_-./+'")
        }
        if try await store.account(userID) != nil {
            throw MatrixError(.userInUse, status: 400, "User ID already taken.")
        }
        // The relay and pseudonym accounts are the server's: nobody registers as them.
        if lowered == "anonymous" || (lowered.hasPrefix("p-") && lowered.count == 14) {
            throw MatrixError(.userInUse, status: 400, "This user ID is reserved by the server.")
        }
        return userID
    }

    public func hashPassword(_ password: String) async -> String {
        let rounds = UInt8(clamping: settings.bcryptRounds)
        // bcrypt is deliberately slow; keep it off the threads that serve other requests.
        return await Task.detached { Bcrypt.hash(password, cost: rounds) }.value
    }

    func verifyPassword(_ password: String, hash: String) async -> Bool {
        await Task.detached { Bcrypt.verify(password, hash: hash) }.value
    }

    /// Creates an account, and unless `inhibitLogin`, its first device and session.
    /// MSC3866's error for an account an administrator has not approved yet (Synapse's).
    public static let awaitingApproval = MatrixError(ErrorCode(rawValue: "M_USER_AWAITING_APPROVAL"), status: 403,
                                                     "Your account is awaiting approval by the server's administrators")

    public func createAccount(userID: UserID, password: String?, isAdmin: Bool = false, isGuest: Bool = false,
                              displayName: String? = nil, deviceID: String? = nil, deviceDisplayName: String? = nil,
                              inhibitLogin: Bool = false, wantsRefreshToken: Bool = false,
                              awaitingApproval: Bool = false) async throws -> LoginResult? {
        let hash: String? = if let password { await hashPassword(password) } else { nil }
        let account = Account(userID: userID, passwordHash: hash, isAdmin: isAdmin, isGuest: isGuest, createdAt: clock.now(),
                              displayName: displayName ?? userID.localpart, awaitingApproval: awaitingApproval)
        do {
            try await store.createAccount(account)
        } catch StorageError.conflict {
            throw MatrixError(.userInUse, status: 400, "User ID already taken.")
        }
        if inhibitLogin || awaitingApproval { return nil }
        return try await startSession(userID: userID, deviceID: deviceID, deviceDisplayName: deviceDisplayName,
                                      wantsRefreshToken: wantsRefreshToken)
    }

    /// A guest's user ID: a number, as Synapse gives them.
    public func newGuestUserID() async throws -> UserID {
        for _ in 0..<10 {
            let number = UInt64.random(in: 100_000...999_999_999)
            if let userID = UserID(localpart: String(number), server: settings.serverName),
               try await store.account(userID) == nil {
                return userID
            }
        }
        throw MatrixError.unknown("Could not allocate a guest user ID")
    }

    // MARK: Sessions

    func startSession(userID: UserID, deviceID: String?, deviceDisplayName: String?, wantsRefreshToken: Bool) async throws -> LoginResult {
        let deviceID = deviceID ?? Tokens.deviceID()
        let now = clock.now()
        if let existing = try await store.device(userID, deviceID) {
            var device = existing
            device.lastSeenAt = now
            if let deviceDisplayName { device.displayName = deviceDisplayName }
            try await store.saveDevice(device)
        } else {
            try await store.saveDevice(Device(userID: userID, deviceID: deviceID, displayName: deviceDisplayName, lastSeenAt: now))
        }
        let accessToken = Tokens.accessToken()
        let refreshToken = wantsRefreshToken ? Tokens.refreshToken() : nil
        let expiresAt = wantsRefreshToken ? now + settings.refreshableAccessTokenLifetime : nil
        try await store.createSession(Session(userID: userID, deviceID: deviceID, expiresAt: expiresAt),
                                      accessTokenDigest: Tokens.digest(accessToken),
                                      refreshTokenDigest: refreshToken.map(Tokens.digest))
        return LoginResult(userID: userID, deviceID: deviceID, accessToken: accessToken, refreshToken: refreshToken,
                           expiresInMs: wantsRefreshToken ? settings.refreshableAccessTokenLifetime : nil)
    }

    /// Resolves an access token to its user and device.
    public func authenticate(accessToken: String) async throws -> Requester {
        let digest = Tokens.digest(accessToken)
        guard let session = try await store.session(accessTokenDigest: digest) else {
            throw MatrixError.unknownToken("Invalid access token passed.")
        }
        if let expiresAt = session.expiresAt, expiresAt <= clock.now() {
            throw MatrixError.unknownToken("Access token has expired", softLogout: true)
        }
        guard let account = try await store.account(session.userID), !account.isDeactivated else {
            throw MatrixError.unknownToken("Invalid access token passed.")
        }
        if account.awaitingApproval { throw Self.awaitingApproval }
        return Requester(userID: session.userID, deviceID: session.deviceID, isGuest: account.isGuest,
                         isAdmin: account.isAdmin, accessTokenDigest: digest)
    }

    public func refresh(refreshToken: String) async throws -> LoginResult {
        let accessToken = Tokens.accessToken()
        let newRefreshToken = Tokens.refreshToken()
        let now = clock.now()
        guard let session = try await store.refreshSession(
            refreshTokenDigest: Tokens.digest(refreshToken), newAccessTokenDigest: Tokens.digest(accessToken),
            newRefreshTokenDigest: Tokens.digest(newRefreshToken), expiresAt: now + settings.refreshableAccessTokenLifetime)
        else { throw MatrixError.unknownToken("Unknown refresh token") }
        return LoginResult(userID: session.userID, deviceID: session.deviceID, accessToken: accessToken,
                           refreshToken: newRefreshToken, expiresInMs: settings.refreshableAccessTokenLifetime)
    }

    /// `m.login.password`: the identifier may be a localpart or a full user ID of this server.
    public func login(user: String, password: String, deviceID: String?, deviceDisplayName: String?,
                      wantsRefreshToken: Bool) async throws -> LoginResult {
        let account = try await checkPassword(user: user, password: password)
        return try await startSession(userID: account.userID, deviceID: deviceID, deviceDisplayName: deviceDisplayName,
                                      wantsRefreshToken: wantsRefreshToken)
    }

    func checkPassword(user: String, password: String) async throws -> Account {
        let userID = user.hasPrefix("@") ? UserID(user) : UserID(localpart: user.lowercased(), server: settings.serverName)
        guard let userID, userID.server == settings.serverName, let account = try await store.account(userID) else {
            throw MatrixError.forbidden("Invalid username or password")
        }
        if account.isDeactivated { throw MatrixError(.userDeactivated, status: 403, "This account has been deactivated") }
        guard let hash = account.passwordHash, await verifyPassword(password, hash: hash) else {
            throw MatrixError.forbidden("Invalid username or password")
        }
        if account.awaitingApproval { throw Self.awaitingApproval }
        return account
    }

    /// Validator for the `m.login.password` stage, bound to the requesting user.
    func passwordStage(for userID: UserID) -> UserInteractiveAuth.StageValidator {
        { [self] stage, auth in
            guard stage == "m.login.password", let password = auth["password"]?.stringValue else { return false }
            let user = auth["identifier"]?["user"]?.stringValue ?? auth["user"]?.stringValue ?? userID.rawValue
            guard let account = try? await checkPassword(user: user, password: password) else { return false }
            return account.userID == userID
        }
    }

    /// Demands the user's password again (UIA) before a sensitive action.
    public func requirePassword(_ auth: JSONObject?, for requester: Requester, purpose: String) async throws {
        try await uia.require(auth, flows: [["m.login.password"]], purpose: "\(purpose):\(requester.userID)",
                              validate: passwordStage(for: requester.userID))
    }

    public func logout(_ requester: Requester) async throws {
        try await store.deleteDevices(requester.userID, [requester.deviceID])
    }

    public func logoutAll(_ requester: Requester) async throws {
        let devices = try await store.devices(of: requester.userID)
        try await store.deleteDevices(requester.userID, devices.map(\.deviceID))
        try await store.deleteSessions(of: requester.userID, except: nil)
    }

    public func changePassword(_ requester: Requester, newPassword: String, logoutDevices: Bool) async throws {
        try await store.setPasswordHash(requester.userID, await hashPassword(newPassword))
        if logoutDevices {
            let others = try await store.devices(of: requester.userID).map(\.deviceID).filter { $0 != requester.deviceID }
            try await store.deleteDevices(requester.userID, others)
            try await store.deleteSessions(of: requester.userID, except: requester.accessTokenDigest)
        }
    }

    public func account(_ userID: UserID) async throws -> Account? { try await store.account(userID) }
    public func devices(of userID: UserID) async throws -> [Device] { try await store.devices(of: userID) }
    public func device(_ userID: UserID, _ deviceID: String) async throws -> Device? { try await store.device(userID, deviceID) }
    public func saveDevice(_ device: Device) async throws { try await store.saveDevice(device) }
    public func deleteDevices(_ userID: UserID, _ deviceIDs: [String]) async throws { try await store.deleteDevices(userID, deviceIDs) }

    // MARK: Registration tokens and shared-secret registration

    public func registrationTokenIsValid(_ token: String) async throws -> Bool {
        try await store.registrationTokenIsUsable(token, now: clock.now())
    }

    func consumeRegistrationToken(_ token: String) async throws -> Bool {
        try await store.consumeRegistrationToken(token, now: clock.now())
    }

    public func createRegistrationToken(_ token: String, usesAllowed: Int?, expiresAt: Milliseconds?) async throws {
        try await store.createRegistrationToken(token, usesAllowed: usesAllowed, expiresAt: expiresAt)
    }

    /// Validators for the registration flows.
    public func registrationStages() -> UserInteractiveAuth.StageValidator {
        { [self] stage, auth in
            switch stage {
            case "m.login.dummy": return true
            case "m.login.registration_token":
                guard let token = auth["token"]?.stringValue else { return false }
                return try await consumeRegistrationToken(token)
            default: return false
            }
        }
    }

    public var registrationFlows: [[String]] {
        settings.registrationRequiresToken ? [["m.login.registration_token"]] : [["m.login.dummy"]]
    }

    /// Checks the HMAC of Synapse's shared-secret registration:
    /// HMAC-SHA1(secret, nonce NUL username NUL password NUL "admin"|"notadmin"), hex.
    public func sharedSecretMACIsValid(nonce: String, username: String, password: String, admin: Bool, mac: String) -> Bool {
        guard let secret = settings.registrationSharedSecret else { return false }
        var message = Array(nonce.utf8)
        message.append(0)
        message += Array(username.utf8)
        message.append(0)
        message += Array(password.utf8)
        message.append(0)
        message += Array((admin ? "admin" : "notadmin").utf8)
        let code = HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
        let expected = code.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        // Constant-time comparison of the hex strings.
        let given = Array(mac.lowercased().utf8)
        let wanted = Array(expected.utf8)
        guard given.count == wanted.count else { return false }
        return zip(given, wanted).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
