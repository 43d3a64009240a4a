import CGD
import Foundation
import HearthCore
import Testing

/// Real images, made and read with libgd: left half red, right half blue.
enum TestImage {
    enum Format: String, CaseIterable, Sendable { case png, jpeg, gif, webp }

    static func make(_ format: Format, width: Int, height: Int) -> [UInt8] {
        precondition(hearth_gd_load() != 0, "libgd (libgd3) is needed to make test images")
        let image = hearth_gdImageCreateTrueColor(Int32(width), Int32(height))!
        defer { hearth_gdImageDestroy(image) }
        hearth_gdImageFilledRectangle(image, 0, 0, Int32(width / 2 - 1), Int32(height - 1), 0xFF0000)
        hearth_gdImageFilledRectangle(image, Int32(width / 2), 0, Int32(width - 1), Int32(height - 1), 0x0000FF)
        var size: Int32 = 0
        let pointer: UnsafeMutableRawPointer? = switch format {
        case .png: hearth_gdImagePngPtr(image, &size)
        case .jpeg: hearth_gdImageJpegPtr(image, &size, 90)
        case .gif: hearth_gdImageGifPtr(image, &size)
        case .webp: hearth_gdImageWebpPtr(image, &size)
        }
        defer { hearth_gdFree(pointer) }
        return Array(UnsafeRawBufferPointer(start: pointer, count: Int(size)))
    }

    struct Decoded {
        var width: Int
        var height: Int
        /// (red, green, blue) of each sampled pixel.
        var left: (Int, Int, Int)
        var right: (Int, Int, Int)
    }

    static func decode(_ bytes: [UInt8], _ format: Format) -> Decoded? {
        precondition(hearth_gd_load() != 0, "libgd (libgd3) is needed to read test images")
        var copy = bytes
        let image: gdImagePtr? = copy.withUnsafeMutableBytes { buffer in
            switch format {
            case .png: hearth_gdImageCreateFromPngPtr(Int32(buffer.count), buffer.baseAddress)
            case .jpeg: hearth_gdImageCreateFromJpegPtr(Int32(buffer.count), buffer.baseAddress)
            case .gif: hearth_gdImageCreateFromGifPtr(Int32(buffer.count), buffer.baseAddress)
            case .webp: hearth_gdImageCreateFromWebpPtr(Int32(buffer.count), buffer.baseAddress)
            }
        }
        guard let image else { return nil }
        defer { hearth_gdImageDestroy(image) }
        let w = Int(image.pointee.sx), h = Int(image.pointee.sy)
        func rgb(_ x: Int) -> (Int, Int, Int) {
            let c = Int(hearth_gdImageGetTrueColorPixel(image, Int32(x), Int32(h / 2)))
            return ((c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF)
        }
        return Decoded(width: w, height: h, left: rgb(w / 8), right: rgb(w - 1 - w / 8))
    }
}

/// Thumbnails of uploaded images.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#thumbnails
@Suite(.serialized) struct ThumbnailTests {
    static let outputFormat: [TestImage.Format: (TestImage.Format, String)] = [
        .png: (.png, "image/png"), .jpeg: (.jpeg, "image/jpeg"), .gif: (.png, "image/png"), .webp: (.webp, "image/webp"),
    ]

    @Test(arguments: TestImage.Format.allCases) func scaleAndCrop(format: TestImage.Format) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let original = TestImage.make(format, width: 200, height: 100)
        let upload = try await MediaTests.upload(server, alice, original, contentType: "image/\(format.rawValue)")
        let path = MediaTests.mediaPath(try #require(upload.json["content_uri"]?.stringValue))
        let (outFormat, contentType) = Self.outputFormat[format]!

        // scale: keeps 2:1 and covers the requested 50x50 box.
        let scaled = try await server.get("/_matrix/client/v1/media/thumbnail/\(path)?width=50&height=50&method=scale", alice)
        #expect(scaled.status == 200 && scaled.headers["content-type"] == contentType)
        #expect(scaled.headers["content-disposition"] == "inline; filename=\"thumbnail.\(contentType.dropFirst(6))\"")
        let s = try #require(TestImage.decode(scaled.bytes, outFormat))
        #expect(s.width == 100 && s.height == 50)
        #expect(s.left.0 > 200 && s.left.2 < 60, "left stays red: \(s.left)")
        #expect(s.right.2 > 200 && s.right.0 < 60, "right stays blue: \(s.right)")

        // crop: exactly the requested box, cut from the middle (so half red, half blue).
        let cropped = try await server.get("/_matrix/client/v1/media/thumbnail/\(path)?width=32&height=32&method=crop", alice)
        let c = try #require(TestImage.decode(cropped.bytes, outFormat))
        #expect(c.width == 32 && c.height == 32)
        #expect(c.left.0 > 200 && c.right.2 > 200)
        // A tall crop of a wide image keeps the full height and takes the centre.
        let tall = try await server.get("/_matrix/client/v1/media/thumbnail/\(path)?width=20&height=80&method=crop", alice)
        let t = try #require(TestImage.decode(tall.bytes, outFormat))
        #expect(t.width == 20 && t.height == 80)

        // Never upscaled: asking for more than the original returns the original.
        let big = try await server.get("/_matrix/client/v1/media/thumbnail/\(path)?width=400&height=400", alice)
        #expect(big.bytes == original && big.headers["content-type"] == "image/\(format.rawValue)")
        // Partly larger crop: as much as the image has, no upscaling.
        let wide = try await server.get("/_matrix/client/v1/media/thumbnail/\(path)?width=150&height=150&method=crop", alice)
        let w = try #require(TestImage.decode(wide.bytes, outFormat))
        #expect(w.width == 150 && w.height == 100)

        // The legacy unauthenticated endpoint serves the same thumbnail (now from the cache).
        let legacy = try await server.get("/_matrix/media/v3/thumbnail/\(path)?width=50&height=50&method=scale")
        #expect(legacy.status == 200 && legacy.bytes == scaled.bytes)
    }

    @Test func badRequests() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let image = TestImage.make(.png, width: 64, height: 64)
        let path = MediaTests.mediaPath(try #require(try await MediaTests.upload(server, alice, image, contentType: "image/png").json["content_uri"]?.stringValue))
        let base = "/_matrix/client/v1/media/thumbnail/\(path)"
        try await server.get(base + "?width=32&height=32").expectError(401, "M_MISSING_TOKEN")
        try await server.get(base + "?height=32", alice).expectError(400, "M_MISSING_PARAM")
        try await server.get(base + "?width=wide&height=32", alice).expectError(400, "M_INVALID_PARAM")
        try await server.get(base + "?width=-5&height=32", alice).expectError(400, "M_INVALID_PARAM")
        try await server.get(base + "?width=32&height=32&method=stretch", alice).expectError(400, "M_INVALID_PARAM")
        try await server.get("/_matrix/client/v1/media/thumbnail/hearth.test/missing?width=32&height=32", alice).expectError(404, "M_NOT_FOUND")
        // Not an image: cannot be thumbnailed.
        let text = try await MediaTests.upload(server, alice, Array("just text".utf8), contentType: "image/png")
        let textPath = MediaTests.mediaPath(try #require(text.json["content_uri"]?.stringValue))
        try await server.get("/_matrix/client/v1/media/thumbnail/\(textPath)?width=32&height=32", alice).expectError(400, "M_UNKNOWN")
        // An image claiming enormous dimensions is refused before it is decoded.
        var bomb = TestImage.make(.png, width: 8, height: 8)
        bomb.replaceSubrange(16..<24, with: [0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
        let bombPath = MediaTests.mediaPath(try #require(try await MediaTests.upload(server, alice, bomb, contentType: "image/png").json["content_uri"]?.stringValue))
        try await server.get("/_matrix/client/v1/media/thumbnail/\(bombPath)?width=32&height=32", alice).expectError(413, "M_TOO_LARGE")
        // animated=true is accepted; Hearth makes still thumbnails.
        #expect(try await server.get(base + "?width=32&height=32&animated=true", alice).headers["content-type"] == "image/png")
    }
}
