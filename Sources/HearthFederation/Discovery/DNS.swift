#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NIOPosix

/// One SRV record (RFC 2782).
public struct SRVRecord: Hashable, Sendable {
    public var priority: UInt16
    public var weight: UInt16
    public var port: UInt16
    /// Without the trailing dot. `.` (empty) means "the service is not available here".
    public var target: String

    public init(priority: UInt16, weight: UInt16, port: UInt16, target: String) {
        self.priority = priority
        self.weight = weight
        self.port = port
        self.target = target
    }
}

/// Looks up SRV records. A protocol so resolution can be tested with fixed answers.
public protocol SRVResolver: Sendable {
    /// The records for `name` (e.g. `_matrix-fed._tcp.example.org`); empty when there are none.
    func srvRecords(for name: String) async throws -> [SRVRecord]
}

public struct DNSError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A minimal DNS client for SRV queries over UDP (RFC 1035 §4), because Foundation has no SRV
/// lookup. It asks the nameservers of `/etc/resolv.conf` (or the ones given, which tests use to
/// point at a server on loopback) and reads the answer section, following name compression.
public struct UDPSRVResolver: SRVResolver {
    public var nameservers: [(host: String, port: Int)]
    public var timeout: Duration

    public init(nameservers: [(host: String, port: Int)]? = nil, timeout: Duration = .seconds(3)) {
        self.nameservers = nameservers ?? UDPSRVResolver.systemNameservers()
        self.timeout = timeout
    }

    /// The `nameserver` lines of `/etc/resolv.conf`, or 127.0.0.1 when it has none.
    public static func systemNameservers(path: String = "/etc/resolv.conf") -> [(host: String, port: Int)] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let servers = text.split(separator: "\n").compactMap { line -> (String, Int)? in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { return nil }
            return (String(fields[1]), 53)
        }
        return servers.isEmpty ? [("127.0.0.1", 53)] : servers
    }

    public func srvRecords(for name: String) async throws -> [SRVRecord] {
        let id = UInt16.random(in: 0...UInt16.max)
        let query = DNSMessage.query(id: id, name: name, type: DNSMessage.typeSRV)
        var lastError: any Error = DNSError("no nameserver configured")
        for server in nameservers {
            do {
                let reply = try await Self.exchange(query, with: server, timeout: timeout)
                return try DNSMessage.parseSRVAnswer(reply, id: id)
            } catch let error as DNSMessage.NameError {
                _ = error
                return []
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// Sends one datagram and waits for the reply, on NIO's blocking-I/O thread pool.
    static func exchange(_ query: [UInt8], with server: (host: String, port: Int), timeout: Duration) async throws -> [UInt8] {
        try await NIOThreadPool.singleton.runIfActive {
            guard let address = IPAddress(server.host) else { throw DNSError("nameserver \(server.host) is not an IP address") }
            let family = address.isIPv4 ? AF_INET : AF_INET6
            #if canImport(Glibc)
            let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
            #else
            let fd = socket(family, SOCK_DGRAM, 0)
            #endif
            guard fd >= 0 else { throw DNSError("socket() failed") }
            defer { close(fd) }
            let millis = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            var tv = timeval(tv_sec: millis / 1000, tv_usec: .init(millis % 1000 * 1000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var sent = -1
            if address.isIPv4 {
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_port = in_port_t(UInt16(server.port).bigEndian)
                withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: address.bytes) }
                sent = withUnsafePointer(to: &sin) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, query, query.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            } else {
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                sin6.sin6_port = in_port_t(UInt16(server.port).bigEndian)
                withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: address.bytes) }
                sent = withUnsafePointer(to: &sin6) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, query, query.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
            guard sent == query.count else { throw DNSError("sendto \(server.host) failed") }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let received = recv(fd, &buffer, buffer.count, 0)
            guard received > 0 else { throw DNSError("no answer from \(server.host) within \(timeout)") }
            return Array(buffer[0..<received])
        }
    }
}

/// Encoding a query and decoding the SRV records of an answer.
public enum DNSMessage {
    public static let typeSRV: UInt16 = 33
    static let classIN: UInt16 = 1

    /// NXDOMAIN: the name does not exist (no records, not a failure).
    struct NameError: Error {}

    public static func query(id: UInt16, name: String, type: UInt16) -> [UInt8] {
        var out: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        out += encodeName(name)
        out += [UInt8(type >> 8), UInt8(type & 0xFF), 0, UInt8(classIN)]
        return out
    }

    public static func encodeName(_ name: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in name.split(separator: ".") {
            let bytes = Array(label.utf8.prefix(63))
            out.append(UInt8(bytes.count))
            out += bytes
        }
        out.append(0)
        return out
    }

    /// Reads a possibly compressed name at `offset`; returns it and the offset after it.
    static func readName(_ message: [UInt8], at start: Int) throws -> (String, Int) {
        var labels: [String] = []
        var offset = start
        var end: Int? = nil
        var jumps = 0
        while true {
            guard offset < message.count else { throw DNSError("truncated name") }
            let length = Int(message[offset])
            if length == 0 {
                offset += 1
                break
            }
            if length & 0xC0 == 0xC0 {
                guard offset + 1 < message.count else { throw DNSError("truncated pointer") }
                jumps += 1
                guard jumps < 64 else { throw DNSError("compression loop") }
                if end == nil { end = offset + 2 }
                offset = (length & 0x3F) << 8 | Int(message[offset + 1])
                continue
            }
            guard length < 64, offset + 1 + length <= message.count else { throw DNSError("bad label") }
            labels.append(String(decoding: message[(offset + 1)..<(offset + 1 + length)], as: UTF8.self))
            offset += 1 + length
        }
        return (labels.joined(separator: "."), end ?? offset)
    }

    static func uint16(_ message: [UInt8], _ offset: Int) throws -> UInt16 {
        guard offset + 1 < message.count else { throw DNSError("truncated message") }
        return UInt16(message[offset]) << 8 | UInt16(message[offset + 1])
    }

    /// The SRV records in the answer section of a reply to query `id`.
    public static func parseSRVAnswer(_ message: [UInt8], id: UInt16) throws -> [SRVRecord] {
        guard message.count >= 12 else { throw DNSError("short reply") }
        guard try uint16(message, 0) == id else { throw DNSError("reply to another query") }
        let flags = try uint16(message, 2)
        guard flags & 0x8000 != 0 else { throw DNSError("not a reply") }
        switch flags & 0x000F {
        case 0: break
        case 3: throw NameError()
        case let code: throw DNSError("server answered rcode \(code)")
        }
        let questions = Int(try uint16(message, 4))
        let answers = Int(try uint16(message, 6))
        var offset = 12
        for _ in 0..<questions {
            offset = try readName(message, at: offset).1 + 4
        }
        var records: [SRVRecord] = []
        for _ in 0..<answers {
            offset = try readName(message, at: offset).1
            let type = try uint16(message, offset)
            let length = Int(try uint16(message, offset + 8))
            let data = offset + 10
            guard data + length <= message.count else { throw DNSError("truncated record") }
            if type == typeSRV, length >= 7 {
                let (target, _) = try readName(message, at: data + 6)
                records.append(SRVRecord(priority: try uint16(message, data), weight: try uint16(message, data + 2),
                                         port: try uint16(message, data + 4), target: target))
            }
            offset = data + length
        }
        return records
    }

    /// A reply carrying `records` for a query (used by tests' loopback DNS servers).
    public static func srvReply(to query: [UInt8], records: [SRVRecord]) -> [UInt8] {
        guard query.count >= 12, let (name, end) = try? readName(query, at: 12) else { return [] }
        var out = Array(query[0..<2]) + [0x81, records.isEmpty ? 0x83 : 0x80, 0, 1, 0, UInt8(records.count), 0, 0, 0, 0]
        out += Array(query[12..<(end + 4)])
        for record in records {
            out += encodeName(name)
            let target = encodeName(record.target)
            let length = 6 + target.count
            out += [0, UInt8(typeSRV), 0, 1, 0, 0, 0, 60, UInt8(length >> 8), UInt8(length & 0xFF)]
            for value in [record.priority, record.weight, record.port] { out += [UInt8(value >> 8), UInt8(value & 0xFF)] }
            out += target
        }
        return out
    }
}
