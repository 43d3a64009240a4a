public import HearthCore
public import HearthStorage

/// How the federation transport reaches other servers.
public struct FederationTransportSettings: Sendable {
    /// Which addresses may be contacted (`ip_range_blacklist` / `ip_range_whitelist`).
    public var addressPolicy: AddressPolicy
    /// PEM files of the CAs to trust instead of the system roots (`federation_custom_ca_list`).
    public var customCAFiles: [String]
    /// `federation_verify_certificates`; false only for experiments.
    public var verifyCertificates: Bool
    public var connectTimeout: Duration
    public var requestTimeout: Duration
    /// Responses larger than this are refused (a remote cannot make us buffer without bound).
    public var maxResponseSize: Int
    public var srvResolver: any SRVResolver
    public var addressLookup: any AddressLookup
    /// Well-known lookups go to this port (443 in production; tests serve it elsewhere).
    public var wellKnownPort: Int

    public init(addressPolicy: AddressPolicy = AddressPolicy(), customCAFiles: [String] = [], verifyCertificates: Bool = true,
                connectTimeout: Duration = .seconds(10), requestTimeout: Duration = .seconds(60), maxResponseSize: Int = 64 << 20,
                srvResolver: any SRVResolver = UDPSRVResolver(), addressLookup: any AddressLookup = SystemAddressLookup(),
                wellKnownPort: Int = 443) {
        self.addressPolicy = addressPolicy
        self.customCAFiles = customCAFiles
        self.verifyCertificates = verifyCertificates
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxResponseSize = maxResponseSize
        self.srvResolver = srvResolver
        self.addressLookup = addressLookup
        self.wellKnownPort = wellKnownPort
    }
}
