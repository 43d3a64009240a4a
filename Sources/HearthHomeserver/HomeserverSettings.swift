public import HearthCore
public import HearthStorage

/// The homeserver's behaviour-relevant settings, independent of how they were configured.
public struct HomeserverSettings: Sendable {
    public var serverName: ServerName
    /// Open registration (with m.login.dummy) when true.
    public var enableRegistration: Bool
    /// Registration needs a token (m.login.registration_token), even when open.
    public var registrationRequiresToken: Bool
    /// Shared secret for `/_synapse/admin/v1/register` (operators' scripts use it).
    public var registrationSharedSecret: String?
    public var allowGuestAccess: Bool
    public var defaultRoomVersion: RoomVersion
    public var maxUploadSize: Int
    /// Lifetime of access tokens issued with a refresh token.
    public var refreshableAccessTokenLifetime: Milliseconds
    /// bcrypt cost; tests lower it, deployments keep 12.
    public var bcryptRounds: Int
    /// Where uploaded media files are kept.
    public var mediaDirectory: String
    /// Base URL clients reach this server at (for /.well-known and links).
    public var publicBaseURL: String?
    /// The organization policy in force (replaced in place when the configuration is reloaded).
    public var policy = PolicyHolder()
    /// Message lifetimes (`retention`).
    public var retention = RetentionSettings()
    /// New accounts wait for an administrator's approval before they can be used
    /// (`registration_requires_approval`).
    public var registrationRequiresApproval = false

    public init(serverName: ServerName, enableRegistration: Bool = false, registrationRequiresToken: Bool = false,
                registrationSharedSecret: String? = nil, allowGuestAccess: Bool = false,
                defaultRoomVersion: RoomVersion = .default, maxUploadSize: Int = 50 << 20,
                refreshableAccessTokenLifetime: Milliseconds = 5 * 60 * 1000, bcryptRounds: Int = 12,
                mediaDirectory: String, publicBaseURL: String? = nil) {
        self.serverName = serverName
        self.enableRegistration = enableRegistration
        self.registrationRequiresToken = registrationRequiresToken
        self.registrationSharedSecret = registrationSharedSecret
        self.allowGuestAccess = allowGuestAccess
        self.defaultRoomVersion = defaultRoomVersion
        self.maxUploadSize = maxUploadSize
        self.refreshableAccessTokenLifetime = refreshableAccessTokenLifetime
        self.bcryptRounds = bcryptRounds
        self.mediaDirectory = mediaDirectory
        self.publicBaseURL = publicBaseURL
    }
}

/// Who is making a client request, established from its access token.
public struct Requester: Sendable {
    public let userID: UserID
    public let deviceID: String
    public let isGuest: Bool
    public let isAdmin: Bool
    let accessTokenDigest: [UInt8]
}
