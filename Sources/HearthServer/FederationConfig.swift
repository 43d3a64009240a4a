import Foundation
public import HearthCore
public import HearthFederation

/// The federation part of the configuration. Keys follow Synapse's names.
public struct FederationConfig: Sendable {
    /// `trusted_key_servers`: notaries asked for keys a server does not serve itself.
    public var trustedKeyServers: [TrustedKeyServer] = []
    /// `ip_range_blacklist` (and the older `federation_ip_range_blacklist`, merged in):
    /// addresses never contacted. Default: private, loopback, link-local and reserved ranges.
    public var ipRangeBlacklist: [IPRange] = AddressPolicy.defaultBlocked
    /// `ip_range_whitelist`: exceptions to the blacklist (tests allow 127.0.0.0/8).
    public var ipRangeWhitelist: [IPRange] = []
    /// `federation_custom_ca_list`: PEM files of the CAs trusted instead of the system roots.
    public var customCAList: [String] = []
    /// `federation_verify_certificates`.
    public var verifyCertificates = true
    /// `serve_server_wellknown`: serve `/.well-known/matrix/server` pointing at
    /// `public_baseurl`'s host on port 443.
    public var serveServerWellKnown = false
    /// `federation.destination_min_retry_interval` and friends.
    public var backoff = DestinationQueue.Backoff()
    /// Retired signing keys (written by `hearth rotate-key`), in the data directory.
    public var oldSigningKeysPath: String = ""

    public init() {}

    /// The transport settings these options describe.
    public func settings() -> FederationSettings {
        FederationSettings(
            transport: FederationTransportSettings(addressPolicy: AddressPolicy(blocked: ipRangeBlacklist, allowed: ipRangeWhitelist),
                                                   customCAFiles: customCAList, verifyCertificates: verifyCertificates),
            trustedKeyServers: trustedKeyServers, backoff: backoff)
    }

    static func parse(_ root: ConfigMapping, path: (String) -> String) throws -> FederationConfig {
        var config = FederationConfig()
        if let servers = try root.mappings("trusted_key_servers") {
            config.trustedKeyServers = try servers.map { server in
                guard let text = try server.string("server_name"), let name = ServerName(text) else {
                    throw ConfigError("\(server.path).server_name must be a server name")
                }
                var keys: [String: VerifyKey] = [:]
                for (keyID, value) in try server.stringMap("verify_keys") ?? [] {
                    guard keyID.hasPrefix("ed25519:"), let key = VerifyKey(base64: value) else {
                        throw ConfigError("\(server.path).verify_keys.\(keyID) must be an unpadded base64 ed25519 key")
                    }
                    keys[keyID] = key
                }
                server.ignore("accept_keys_insecurely")
                try server.finish()
                return TrustedKeyServer(serverName: name, verifyKeys: keys)
            }
        }
        func ranges(_ key: String) throws -> [IPRange]? {
            try root.strings(key)?.map { text in
                guard let range = IPRange(text) else { throw ConfigError("'\(key)': '\(text)' is not an IP range") }
                return range
            }
        }
        if let blacklist = try ranges("ip_range_blacklist") { config.ipRangeBlacklist = blacklist }
        if let legacy = try ranges("federation_ip_range_blacklist") { config.ipRangeBlacklist += legacy }
        config.ipRangeWhitelist = try ranges("ip_range_whitelist") ?? []
        config.customCAList = try root.strings("federation_custom_ca_list")?.map(path) ?? []
        config.verifyCertificates = try root.bool("federation_verify_certificates") ?? true
        config.serveServerWellKnown = try root.bool("serve_server_wellknown") ?? false
        if let federation = try root.mapping("federation") {
            let minimum = try federation.duration("destination_min_retry_interval") ?? config.backoff.minimum
            let maximum = try federation.duration("destination_max_retry_interval") ?? config.backoff.maximum
            let multiplier = try federation.int("destination_retry_multiplier").map(Int64.init) ?? config.backoff.multiplier
            guard minimum > 0, maximum >= minimum, multiplier >= 1 else {
                throw ConfigError("federation retry intervals must be positive, the maximum at least the minimum")
            }
            config.backoff = DestinationQueue.Backoff(minimum: minimum, multiplier: multiplier, maximum: maximum)
            federation.ignore("client_timeout", "max_short_retry_delay", "max_long_retry_delay", "max_short_retries",
                              "max_long_retries")
            try federation.finish()
        }
        return config
    }
}

extension ConfigMapping {
    /// A duration as Synapse writes it: milliseconds as a number, or `500ms`, `30s`, `10m`,
    /// `1h`, `2d`, `1w`, `1y`. In milliseconds.
    func duration(_ key: String) throws -> Int64? {
        guard let text = try string(key) else { return nil }
        if let value = Int64(text) { return value }
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
                                        ("w", 604_800_000), ("y", 31_536_000_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let value = Int64(text.dropLast(suffix.count)) { return value * factor }
        }
        throw ConfigError("'\(Self.qualified(path, key))' must be a duration such as 10m")
    }
}
