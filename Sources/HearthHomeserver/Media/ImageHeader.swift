/// The format and pixel size of an image, read from its first bytes without decoding it, so
/// that an image too large to thumbnail safely (a decompression bomb) is refused before libgd
/// allocates its pixels.
struct ImageHeader: Equatable {
    enum Format: String {
        case png, jpeg, gif, webp
    }

    var format: Format
    var width: Int
    var height: Int

    init(format: Format, width: Int, height: Int) {
        self.format = format
        self.width = width
        self.height = height
    }

    init?(_ bytes: [UInt8]) {
        func be16(_ i: Int) -> Int { Int(bytes[i]) << 8 | Int(bytes[i + 1]) }
        func le16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func le24(_ i: Int) -> Int { le16(i) | Int(bytes[i + 2]) << 16 }
        func be32(_ i: Int) -> Int { be16(i) << 16 | be16(i + 2) }
        func ascii(_ i: Int, _ text: String) -> Bool {
            let expected = Array(text.utf8)
            return bytes.count >= i + expected.count && Array(bytes[i..<i + expected.count]) == expected
        }
        if bytes.count >= 24, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), ascii(12, "IHDR") {
            self.init(format: .png, width: be32(16), height: be32(20))
        } else if bytes.count >= 10, ascii(0, "GIF87a") || ascii(0, "GIF89a") {
            self.init(format: .gif, width: le16(6), height: le16(8))
        } else if bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 {
            // JPEG: walk the segments to the first start-of-frame.
            var i = 2
            while i + 9 < bytes.count {
                guard bytes[i] == 0xFF else { return nil }
                let marker = bytes[i + 1]
                if marker == 0xFF { i += 1; continue }
                if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) {
                    self.init(format: .jpeg, width: be16(i + 7), height: be16(i + 5))
                    return
                }
                if marker == 0xD8 || (0xD0...0xD7).contains(marker) { i += 2; continue }
                i += 2 + be16(i + 2)
            }
            return nil
        } else if bytes.count >= 30, ascii(0, "RIFF"), ascii(8, "WEBP") {
            if ascii(12, "VP8 ") {
                self.init(format: .webp, width: le16(26) & 0x3FFF, height: le16(28) & 0x3FFF)
            } else if ascii(12, "VP8L") {
                let b = bytes[21...24].map(Int.init)
                self.init(format: .webp, width: 1 + (b[0] | (b[1] & 0x3F) << 8),
                          height: 1 + (b[1] >> 6 | b[2] << 2 | (b[3] & 0x0F) << 10))
            } else if ascii(12, "VP8X") {
                self.init(format: .webp, width: 1 + le24(24), height: 1 + le24(27))
            } else {
                return nil
            }
        } else {
            return nil
        }
    }
}
