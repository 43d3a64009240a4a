#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension String {
    /// Whether the two strings have the same UTF-8 bytes. Matrix compares identifiers and JSON
    /// strings by their code points, never by canonical equivalence (what `==` on `String`
    /// compares); and `utf8.elementsEqual` walks an iterator byte by byte, which showed up in
    /// profiles of dictionary lookups keyed by event IDs. This compares eight bytes at a time.
    @inlinable
    public func hasSameUTF8(as other: String) -> Bool {
        if utf8.count != other.utf8.count { return false }
        var a = self, b = other
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let count = x.count
                if count == 0 { return true }
                let p = UnsafeRawBufferPointer(x), q = UnsafeRawBufferPointer(y)
                var offset = 0
                while offset + 8 <= count {
                    if p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                        != q.loadUnaligned(fromByteOffset: offset, as: UInt64.self) { return false }
                    offset += 8
                }
                while offset < count {
                    if p[offset] != q[offset] { return false }
                    offset += 1
                }
                return true
            }
        }
    }
}

extension String {
    /// Whether `needle`'s UTF-8 bytes occur in this string's: a byte search. `contains` on
    /// `String` goes through Foundation's locale-aware search on Linux, which was 8% of the
    /// CPU when storing a big room's state.
    public func containsUTF8(_ needle: String) -> Bool {
        var haystack = self, needle = needle
        return haystack.withUTF8 { bytes in
            needle.withUTF8 { pattern in
                guard !pattern.isEmpty else { return true }
                guard bytes.count >= pattern.count, let base = bytes.baseAddress, let wanted = pattern.baseAddress
                else { return false }
                // libc's memchr and memcmp compare many bytes per step; a byte loop was 5% of
                // writing a big room's state (every stored event is searched for media URIs).
                let candidates = bytes.count - pattern.count + 1
                var offset = 0
                while offset < candidates {
                    guard let hit = memchr(base + offset, Int32(pattern[0]), candidates - offset) else { return false }
                    if memcmp(hit, wanted, pattern.count) == 0 { return true }
                    offset = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit)) + 1
                }
                return false
            }
        }
    }
}
