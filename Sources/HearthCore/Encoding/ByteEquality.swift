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
