import Foundation
public import HearthCore
public import HearthHomeserver
import Yams

/// Hearth's configuration. Names follow Synapse's where the same setting exists, so an
/// operator's knowledge (and much of an existing homeserver.yaml) carries over.
public struct HearthConfig: Sendable {
    public struct Listener: Sendable {
        public var port: Int
        public var bindAddresses: [String]
        /// Serve the client API (`client`) and/or the federation API (`federation`).
        public var resources: Set<String>
        public var tls: Bool
        /// Trust X-Forwarded-For from a reverse proxy.
        public var xForwarded: Bool

        public init(port: Int, bindAddresses: [String], resources: Set<String>, tls: Bool, xForwarded: Bool) {
            self.port = port
            self.bindAddresses = bindAddresses
            self.resources = resources
            self.tls = tls
            self.xForwarded = xForwarded
        }
    }

    public var serverName: ServerName
    public var publicBaseURL: String?
    public var dataDirectory: String
    public var signingKeyPath: String
    public var databasePath: String
    public var sqliteSynchronous: String
    public var mediaStorePath: String
    public var listeners: [Listener]
    public var tlsCertificatePath: String?
    public var tlsPrivateKeyPath: String?
    public var enableRegistration: Bool
    public var registrationRequiresToken: Bool
    /// New accounts wait for an administrator's approval (MSC3866, Synapse's key name).
    public var registrationRequiresApproval = false
    public var registrationSharedSecret: String?
    public var allowGuestAccess: Bool
    public var defaultRoomVersion: RoomVersion
    public var maxUploadSize: Int
    public var bcryptRounds: Int
    public var logLevel: String
    public var logFormat: String
    public var rateLimitPerSecond: Double
    public var rateLimitBurst: Double
    /// Keys, trust, address policy and retry timing of federation.
    public var federation = FederationConfig()
    /// What may leave the organization (`organization_policy`, Spec/policy.md).
    public var policy = OrganizationPolicy()
    /// Message lifetimes (`retention`, Synapse's names; Spec/support-groups.md).
    public var retention = RetentionSettings()

    /// The local default `hearth serve` uses without a config file: a server named
    /// `localhost:8008`, open on loopback only, data in `./hearth-data`.
    public static func localDefault(dataDirectory: String = "hearth-data", port: Int = 8008) -> HearthConfig {
        let directory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        return HearthConfig(
            serverName: ServerName("localhost:\(port)")!, publicBaseURL: "http://localhost:\(port)/", dataDirectory: directory,
            signingKeyPath: directory + "/signing.key", databasePath: directory + "/homeserver.db", sqliteSynchronous: "full",
            mediaStorePath: directory + "/media",
            listeners: [Listener(port: port, bindAddresses: ["127.0.0.1"], resources: ["client", "federation"], tls: false,
                                 xForwarded: false)],
            tlsCertificatePath: nil, tlsPrivateKeyPath: nil, enableRegistration: true, registrationRequiresToken: false,
            registrationSharedSecret: nil, allowGuestAccess: false, defaultRoomVersion: .default, maxUploadSize: 50 << 20,
            bcryptRounds: 12, logLevel: "info", logFormat: "text", rateLimitPerSecond: 10, rateLimitBurst: 50,
            federation: { var federation = FederationConfig(); federation.oldSigningKeysPath = directory + "/old_signing_keys"; return federation }())
    }

    /// Parses a YAML configuration. Relative paths are resolved against `baseDirectory`.
    public static func parse(yaml text: String, baseDirectory: String) throws -> HearthConfig {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ConfigError("invalid YAML: \(error)")
        }
        guard let node else { throw ConfigError("the configuration file is empty") }
        let root = try ConfigMapping(node, path: "")
        func path(_ value: String) -> String {
            value.hasPrefix("/") ? value : URL(fileURLWithPath: baseDirectory).appendingPathComponent(value).standardizedFileURL.path
        }
        guard let nameText = try root.string("server_name") else { throw ConfigError("server_name is required") }
        guard let serverName = ServerName(nameText) else { throw ConfigError("server_name '\(nameText)' is not a valid server name") }
        let dataDirectory = path(try root.string("data_directory") ?? "hearth-data")
        var config = HearthConfig.localDefault(dataDirectory: dataDirectory)
        config.serverName = serverName
        config.publicBaseURL = try root.string("public_baseurl")
        config.signingKeyPath = path(try root.string("signing_key_path") ?? dataDirectory + "/signing.key")
        config.federation = try FederationConfig.parse(root, path: path)
        config.policy = try PolicyConfig.parse(root)
        config.policy.policyLists = try (root.strings("policy_lists") ?? []).map { text in
            guard let room = RoomID(text) else { throw ConfigError("policy_lists: '\(text)' is not a room ID") }
            return room
        }
        if let retention = try root.mapping("retention") {
            config.retention.enabled = try retention.bool("enabled") ?? false
            if let defaults = try retention.mapping("default_policy") {
                config.retention.defaultMaxLifetime = try defaults.duration("max_lifetime")
                defaults.ignore("min_lifetime")
                try defaults.finish()
            }
            config.retention.allowedLifetimeMin = try retention.duration("allowed_lifetime_min")
            config.retention.allowedLifetimeMax = try retention.duration("allowed_lifetime_max")
            if let minimum = config.retention.allowedLifetimeMin, let maximum = config.retention.allowedLifetimeMax, minimum > maximum {
                throw ConfigError("retention.allowed_lifetime_min must not exceed retention.allowed_lifetime_max")
            }
            config.retention.purgeInterval = try retention.duration("purge_interval") ?? config.retention.purgeInterval
            guard config.retention.purgeInterval >= 1000 else { throw ConfigError("retention.purge_interval must be at least 1s") }
            // Synapse's purge jobs are replaced by one interval here.
            retention.ignore("purge_jobs")
            try retention.finish()
        }
        config.federation.oldSigningKeysPath = dataDirectory + "/old_signing_keys"
        config.mediaStorePath = path(try root.string("media_store_path") ?? dataDirectory + "/media")
        if let database = try root.mapping("database") {
            let name = try database.string("name") ?? "sqlite3"
            guard name == "sqlite3" || name == "sqlite" else {
                throw ConfigError("database.name '\(name)' is not supported yet (use sqlite3)")
            }
            if let args = try database.mapping("args") {
                if let file = try args.string("database") { config.databasePath = path(file) }
                if let synchronous = try args.string("synchronous") {
                    guard ["full", "normal"].contains(synchronous) else {
                        throw ConfigError("database.args.synchronous must be full or normal")
                    }
                    config.sqliteSynchronous = synchronous
                }
                args.ignore("cp_min", "cp_max")
                try args.finish()
            }
            try database.finish()
        } else {
            config.databasePath = dataDirectory + "/homeserver.db"
        }
        if let listeners = try root.mappings("listeners") {
            config.listeners = try listeners.map { listener in
                guard let port = try listener.int("port"), (1...65535).contains(port) else {
                    throw ConfigError("\(listener.path).port must be a port number")
                }
                let type = try listener.string("type") ?? "http"
                guard type == "http" else { throw ConfigError("\(listener.path).type must be http") }
                var resources: Set<String> = []
                for resource in try listener.mappings("resources") ?? [] {
                    for name in try resource.strings("names") ?? [] {
                        guard ["client", "federation", "keys", "media", "consent"].contains(name) else {
                            throw ConfigError("\(resource.path).names: unknown resource '\(name)'")
                        }
                        resources.insert(name == "keys" ? "federation" : name == "media" || name == "consent" ? "client" : name)
                    }
                    resource.ignore("compress")
                    try resource.finish()
                }
                let result = Listener(port: port, bindAddresses: try listener.strings("bind_addresses") ?? ["::1", "127.0.0.1"],
                                      resources: resources.isEmpty ? ["client"] : resources, tls: try listener.bool("tls") ?? false,
                                      xForwarded: try listener.bool("x_forwarded") ?? false)
                try listener.finish()
                return result
            }
        }
        config.tlsCertificatePath = try root.string("tls_certificate_path").map(path)
        config.tlsPrivateKeyPath = try root.string("tls_private_key_path").map(path)
        config.enableRegistration = try root.bool("enable_registration") ?? false
        config.registrationRequiresToken = try root.bool("registration_requires_token") ?? false
        config.registrationRequiresApproval = try root.bool("registration_requires_approval") ?? false
        config.registrationSharedSecret = try root.string("registration_shared_secret")
        config.allowGuestAccess = try root.bool("allow_guest_access") ?? false
        if let version = try root.string("default_room_version") {
            guard let known = RoomVersion(version) else { throw ConfigError("default_room_version '\(version)' is not supported") }
            config.defaultRoomVersion = known
        }
        config.maxUploadSize = try root.size("max_upload_size") ?? config.maxUploadSize
        config.bcryptRounds = try root.int("bcrypt_rounds") ?? config.bcryptRounds
        guard (4...31).contains(config.bcryptRounds) else { throw ConfigError("bcrypt_rounds must be between 4 and 31") }
        config.logLevel = try root.string("log_level") ?? config.logLevel
        config.logFormat = try root.string("log_format") ?? config.logFormat
        guard ["text", "json"].contains(config.logFormat) else { throw ConfigError("log_format must be text or json") }
        if let limit = try root.mapping("rc_message") {
            config.rateLimitPerSecond = try limit.double("per_second") ?? config.rateLimitPerSecond
            config.rateLimitBurst = try limit.double("burst_count") ?? config.rateLimitBurst
            try limit.finish()
        }
        for listener in config.listeners where listener.tls {
            guard config.tlsCertificatePath != nil, config.tlsPrivateKeyPath != nil else {
                throw ConfigError("a TLS listener needs tls_certificate_path and tls_private_key_path")
            }
        }
        // Synapse settings that have no meaning here but appear in converted configs.
        root.ignore("report_stats", "pid_file", "log_config", "macaroon_secret_key", "form_secret", "suppress_key_server_warning")
        try root.finish()
        return config
    }

    /// A commented configuration for `hearth generate-config`.
    public static func commentedTemplate(serverName: String, dataDirectory: String, sharedSecret: String) -> String {
        """
        # Hearth configuration. Keys follow Synapse's names where the setting is the same.
        # An unknown or misspelt key is an error (with its line number), never silently ignored.

        # The name of this homeserver: the part after the colon in user IDs (@alice:\(serverName)).
        # It cannot be changed once users exist.
        server_name: "\(serverName)"

        # The URL clients use to reach this server (served in /.well-known/matrix/client).
        public_baseurl: "https://\(serverName)/"

        # Where Hearth keeps its database, signing key and media. Relative paths are resolved
        # against this file's directory.
        data_directory: "\(dataDirectory)"
        # signing_key_path: "\(dataDirectory)/signing.key"   # created on first start
        # media_store_path: "\(dataDirectory)/media"

        database:
          name: sqlite3
          args:
            database: "\(dataDirectory)/homeserver.db"
            # full: every acknowledged write survives a power cut. normal: survives a crash.
            synchronous: full

        listeners:
          # Plain HTTP on loopback, for a reverse proxy that terminates TLS (see Deploy/).
          - port: 8008
            bind_addresses: ['127.0.0.1', '::1']
            type: http
            tls: false
            x_forwarded: true
            resources:
              - names: [client, federation]

        # For a TLS listener (for example federation on 8448), give a certificate and key.
        # Renewed files are picked up by new connections without a restart.
        #  - port: 8448
        #    bind_addresses: ['0.0.0.0', '::']
        #    type: http
        #    tls: true
        #    resources:
        #      - names: [federation]
        # tls_certificate_path: "/etc/hearth/tls.crt"
        # tls_private_key_path: "/etc/hearth/tls.key"

        # Federation. Other servers' certificates are checked against the system's CAs, or
        # only against these (a private CA):
        # federation_custom_ca_list: ["/etc/hearth/clinic-ca.pem"]
        # Notaries asked for keys a server cannot serve itself (none by default):
        # trusted_key_servers:
        #   - server_name: "notary.example.org"
        #     verify_keys:
        #       "ed25519:auto": "<unpadded base64 public key>"
        # Addresses federation never contacts (default: private, loopback, link-local and
        # reserved ranges) and exceptions to that list:
        # ip_range_blacklist: ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', ...]
        # ip_range_whitelist: ['10.20.0.0/16']
        # Serve /.well-known/matrix/server pointing at public_baseurl's host, port 443:
        # serve_server_wellknown: true
        # Retry timing for servers that are down:
        # federation:
        #   destination_min_retry_interval: 10s
        #   destination_retry_multiplier: 2
        #   destination_max_retry_interval: 1d

        # The organization policy: which servers to federate with, how far each room reaches
        # (local_only, partners, open) and what personal data leaves. Without this section
        # everything is allowed. Every key, the rule names and the audit log: Spec/policy.md.
        # A clinic that shares only rooms made with two partner clinics:
        # organization_policy:
        #   federation:
        #     mode: allowlist
        #     servers: ["north-clinic.example", "south-clinic.example"]
        #   rooms:
        #     default_class: local_only
        #     partners: ["north-clinic.example", "south-clinic.example"]
        #     room_admins_may_choose: [local_only, partners]
        #   sharing:
        #     typing: false
        #     receipts: false
        #     presence: false
        #     device_display_names: false
        #     profile_queries: refuse
        #     room_directory: false
        #   federated_profile: pseudonym
        #   invites:
        #     from_servers: ["north-clinic.example", "south-clinic.example"]
        #   audit:
        #     retention: 3y
        # Reload it without a restart with SIGHUP.

        # Registration. Support groups usually run invite-only: registration with a token.
        enable_registration: false
        registration_requires_token: false
        # Lets `hearth register-user` and Synapse's register_new_matrix_user create accounts.
        registration_shared_secret: "\(sharedSecret)"
        allow_guest_access: false

        default_room_version: "12"
        max_upload_size: 50M
        bcrypt_rounds: 12

        # Logging: debug, info, notice, warning, error. Format: text or json (one object per line).
        log_level: info
        log_format: text

        # Rate limit for client actions per user (messages, joins, uploads, ...).
        rc_message:
          per_second: 10
          burst_count: 50

        """
    }
}
