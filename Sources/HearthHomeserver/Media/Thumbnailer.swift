import CGD
public import HearthCore

/// Makes thumbnails of PNG, JPEG, GIF and WebP images with libgd (loaded at the first one).
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#thumbnails
///
/// The requested size is a minimum: "scale" keeps the aspect ratio and covers the requested
/// box, "crop" fills it exactly and cuts the overflow from the middle. Nothing is ever
/// upscaled; an image already no larger than the request is returned as it is (`nil`).
public enum Thumbnailer {
    public enum Method: String, Sendable {
        case crop, scale
    }

    public struct Thumbnail: Sendable, Equatable {
        public var bytes: [UInt8]
        public var contentType: String
        public var width: Int
        public var height: Int
    }

    /// Largest source image, in pixels, that is decoded (about 160 MB of RGBA).
    public static let maxSourcePixels = 40_000_000
    /// Largest thumbnail side.
    public static let maxSide = 2048

    /// The thumbnail of `bytes`, or nil when the original should be served instead.
    public static func thumbnail(of bytes: [UInt8], width: Int, height: Int, method: Method) throws(MatrixError) -> Thumbnail? {
        guard let header = ImageHeader(bytes), header.width > 0, header.height > 0 else {
            throw MatrixError(.unknown, status: 400, "Cannot generate thumbnails for the requested content")
        }
        guard header.width * header.height <= maxSourcePixels else {
            throw MatrixError.tooLarge("Content is too large to thumbnail")
        }
        let wantW = min(max(width, 1), maxSide)
        let wantH = min(max(height, 1), maxSide)
        // The factor that makes the image cover the requested box, never above 1.
        let factor = min(1, max(Double(wantW) / Double(header.width), Double(wantH) / Double(header.height)))
        if factor >= 1, method == .scale || (header.width <= wantW && header.height <= wantH) { return nil }

        guard hearth_gd_load() != 0 else {
            let why = hearth_gd_error().map { String(cString: $0) } ?? "unknown"
            throw MatrixError(.unknown, status: 400, "Thumbnails are not available on this server (libgd: \(why))")
        }
        var copy = bytes
        let decoded: gdImagePtr? = copy.withUnsafeMutableBytes { buffer in
            let size = Int32(buffer.count)
            switch header.format {
            case .png: return hearth_gdImageCreateFromPngPtr(size, buffer.baseAddress)
            case .jpeg: return hearth_gdImageCreateFromJpegPtr(size, buffer.baseAddress)
            case .gif: return hearth_gdImageCreateFromGifPtr(size, buffer.baseAddress)
            case .webp: return hearth_gdImageCreateFromWebpPtr(size, buffer.baseAddress)
            }
        }
        guard let source = decoded else {
            throw MatrixError(.unknown, status: 400, "Cannot generate thumbnails for the requested content")
        }
        defer { hearth_gdImageDestroy(source) }
        let sourceW = Int(source.pointee.sx)
        let sourceH = Int(source.pointee.sy)

        // Output size and the source rectangle it is drawn from.
        var outW = max(1, Int((Double(sourceW) * factor).rounded(.up)))
        var outH = max(1, Int((Double(sourceH) * factor).rounded(.up)))
        var cropX = 0, cropY = 0, cropW = sourceW, cropH = sourceH
        if method == .crop {
            outW = min(wantW, outW)
            outH = min(wantH, outH)
            cropW = min(sourceW, max(1, Int((Double(outW) / factor).rounded())))
            cropH = min(sourceH, max(1, Int((Double(outH) / factor).rounded())))
            cropX = (sourceW - cropW) / 2
            cropY = (sourceH - cropH) / 2
        }
        guard let target = hearth_gdImageCreateTrueColor(Int32(outW), Int32(outH)) else {
            throw MatrixError.unknown("Could not allocate the thumbnail")
        }
        defer { hearth_gdImageDestroy(target) }
        // Keep transparency: copy alpha as it is rather than blending onto black.
        hearth_gdImageAlphaBlending(target, 0)
        hearth_gdImageSaveAlpha(target, 1)
        hearth_gdImageFilledRectangle(target, 0, 0, Int32(outW - 1), Int32(outH - 1), 0x7F00_0000)
        hearth_gdImageCopyResampled(target, source, 0, 0, Int32(cropX), Int32(cropY), Int32(outW), Int32(outH),
                             Int32(cropW), Int32(cropH))

        // JPEG stays JPEG; WebP stays WebP; PNG and GIF become PNG (lossless, keeps alpha).
        var size: Int32 = 0
        let contentType: String
        let encoded: UnsafeMutableRawPointer?
        switch header.format {
        case .jpeg:
            contentType = "image/jpeg"
            encoded = hearth_gdImageJpegPtr(target, &size, 85)
        case .webp:
            contentType = "image/webp"
            encoded = hearth_gdImageWebpPtr(target, &size)
        case .png, .gif:
            contentType = "image/png"
            encoded = hearth_gdImagePngPtr(target, &size)
        }
        guard let encoded, size > 0 else { throw MatrixError.unknown("Could not encode the thumbnail") }
        defer { hearth_gdFree(encoded) }
        let output = Array(UnsafeRawBufferPointer(start: encoded, count: Int(size)))
        return Thumbnail(bytes: output, contentType: contentType, width: outW, height: outH)
    }
}
