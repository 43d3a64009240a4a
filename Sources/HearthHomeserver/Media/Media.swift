import Crypto
import Foundation
public import HearthCore
public import HearthStorage

/// The media repository: uploaded files kept on disk under their SHA-256, metadata in the
/// database. Identical uploads share one file; a file is deleted when no media ID refers to it.
public final class Media: Sendable {
    let settings: HomeserverSettings
    let store: any MediaStore
    let clock: any WallClock
    let directory: URL

    init(settings: HomeserverSettings, store: any MediaStore, clock: any WallClock) throws {
        self.settings = settings
        self.store = store
        self.clock = clock
        directory = URL(fileURLWithPath: settings.mediaDirectory, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public struct Content: Sendable {
        public var record: MediaRecord
        public var bytes: [UInt8]
    }

    private func path(for sha256: String) -> URL { directory.appendingPathComponent(sha256) }

    /// Stores an upload and returns its `mxc://` URI.
    public func upload(_ bytes: [UInt8], contentType: String?, fileName: String?, uploader: UserID) async throws -> String {
        guard bytes.count <= settings.maxUploadSize else { throw MatrixError.tooLarge("Upload exceeds the maximum size") }
        let digest = SHA256.hash(data: bytes).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let file = path(for: digest)
        if !FileManager.default.fileExists(atPath: file.path) {
            // Write to a temporary name and rename, so a crash never leaves a partial file
            // under the final name; fsync before the database row points at it.
            let temporary = directory.appendingPathComponent(".upload-\(UUID().uuidString)")
            guard FileManager.default.createFile(atPath: temporary.path, contents: Data(bytes)) else {
                throw MatrixError.unknown("Could not store media")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.synchronize()
            try handle.close()
            try FileManager.default.moveItem(at: temporary, to: file)
        }
        let mediaID = Tokens.letters(24)
        try await store.saveMedia(MediaRecord(mediaID: mediaID, uploader: uploader,
                                              contentType: contentType ?? "application/octet-stream", fileName: fileName,
                                              size: Int64(bytes.count), createdAt: clock.now(), sha256: digest))
        return "mxc://\(settings.serverName.rawValue)/\(mediaID)"
    }

    /// A local upload's metadata and bytes.
    public func download(server: String, mediaID: String) async throws -> Content {
        guard server == settings.serverName.rawValue else {
            throw MatrixError.notFound("Remote media is not available on this server")
        }
        guard let record = try await store.media(mediaID),
              let data = FileManager.default.contents(atPath: path(for: record.sha256).path)
        else { throw MatrixError.notFound("Media not found") }
        return Content(record: record, bytes: Array(data))
    }

    /// A thumbnail of a local image, made once per size and method and then kept on disk next
    /// to the original. An image no larger than the request is served as it is.
    public func thumbnail(server: String, mediaID: String, width: Int, height: Int,
                          method: Thumbnailer.Method) async throws -> (bytes: [UInt8], contentType: String) {
        let original = try await download(server: server, mediaID: mediaID)
        let cache = directory.appendingPathComponent("thumbnails", isDirectory: true)
        let file = cache.appendingPathComponent("\(original.record.sha256)-\(width)x\(height)-\(method.rawValue)")
        if let data = FileManager.default.contents(atPath: file.path), let header = ImageHeader(Array(data)) {
            return (Array(data), "image/" + header.format.rawValue)
        }
        let bytes = original.bytes
        let made = try await Task.detached { () throws(MatrixError) -> Thumbnailer.Thumbnail? in
            try Thumbnailer.thumbnail(of: bytes, width: width, height: height, method: method)
        }.value
        guard let made else {
            // Smaller than asked: the original, which is an image (the thumbnailer read its header).
            let type = ImageHeader(bytes).map { "image/" + $0.format.rawValue } ?? original.record.contentType
            return (bytes, type)
        }
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        let temporary = cache.appendingPathComponent(".thumb-\(UUID().uuidString)")
        if FileManager.default.createFile(atPath: temporary.path, contents: Data(made.bytes)) {
            // A concurrent request may have written it first; either copy is the same.
            if (try? FileManager.default.moveItem(at: temporary, to: file)) == nil {
                try? FileManager.default.removeItem(at: temporary)
            }
        }
        return (made.bytes, made.contentType)
    }

    /// Deletes a media ID, and its file when no other ID shares it.
    public func delete(mediaID: String) async throws {
        guard let record = try await store.media(mediaID) else { return }
        try await store.deleteMedia(mediaID)
        if try await !store.isReferenced(sha256: record.sha256) {
            try? FileManager.default.removeItem(at: path(for: record.sha256))
            // Its thumbnails go with it.
            let cache = directory.appendingPathComponent("thumbnails", isDirectory: true)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? [] where name.hasPrefix(record.sha256 + "-") {
                try? FileManager.default.removeItem(at: cache.appendingPathComponent(name))
            }
        }
    }
}
