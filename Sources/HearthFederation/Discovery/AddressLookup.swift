#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOPosix

/// Turns a host name into addresses. A protocol so tests can pin names to loopback.
public protocol AddressLookup: Sendable {
    func addresses(of host: String, port: Int) async throws -> [IPAddress]
}

/// The system resolver (`getaddrinfo`: /etc/hosts, then DNS A/AAAA with CNAMEs followed),
/// run on NIO's blocking-I/O thread pool.
public struct SystemAddressLookup: AddressLookup {
    public init() {}

    public func addresses(of host: String, port: Int) async throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        return try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #else
            hints.ai_socktype = SOCK_STREAM
            #endif
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &result)
            guard status == 0, let first = result else { throw DNSError("cannot resolve \(host): \(String(cString: gai_strerror(status)))") }
            defer { freeaddrinfo(first) }
            var out: [IPAddress] = []
            var node: UnsafeMutablePointer<addrinfo>? = first
            while let current = node {
                if let address = current.pointee.ai_addr {
                    if current.pointee.ai_family == AF_INET {
                        let bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                            withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
                        }
                        if let ip = IPAddress(bytes: bytes), !out.contains(ip) { out.append(ip) }
                    } else if current.pointee.ai_family == AF_INET6 {
                        let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                            withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                        }
                        if let ip = IPAddress(bytes: bytes), !out.contains(ip) { out.append(ip) }
                    }
                }
                node = current.pointee.ai_next
            }
            return out
        }
    }
}
