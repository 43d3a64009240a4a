import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging
import Hummingbird

/// The content repository: uploads, authenticated downloads, thumbnails, configuration.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#content-repository
enum MediaRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        let limit = hs.settings.maxUploadSize
        @Sendable func download(_ request: MatrixRequest) async throws -> MatrixResponse {
            let content = try await hs.media.download(server: try request.path("serverName"), mediaID: try request.path("mediaId"))
            var headers: HTTPFields = [:]
            let name = request.pathParameters["fileName"] ?? content.record.fileName
            // Inline only for types a browser cannot turn into script.
            let safeInline = ["image/png", "image/jpeg", "image/gif", "image/webp", "video/mp4", "audio/ogg", "text/plain"]
            let disposition = safeInline.contains(content.record.contentType) ? "inline" : "attachment"
            if let name, !name.contains("\"") {
                headers[.contentDisposition] = "\(disposition); filename=\"\(name)\""
            } else {
                headers[.contentDisposition] = disposition
            }
            headers[.contentSecurityPolicy] = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
            headers[.cacheControl] = "private, max-age=86400"
            return MatrixResponse(bytes: content.bytes, contentType: content.record.contentType, headers: headers)
        }
        @Sendable func thumbnail(_ request: MatrixRequest) async throws -> MatrixResponse {
            func dimension(_ name: String) throws -> Int {
                guard let value = try request.queryInt(name) else { throw MatrixError.missingParam("Missing \(name)") }
                guard value > 0 else { throw MatrixError.invalidParam("\(name) must be positive") }
                return value
            }
            let width = try dimension("width")
            let height = try dimension("height")
            guard let method = Thumbnailer.Method(rawValue: request.query("method") ?? "scale") else {
                throw MatrixError.invalidParam("method must be crop or scale")
            }
            _ = try request.queryBool("animated")
            let result = try await hs.media.thumbnail(server: try request.path("serverName"), mediaID: try request.path("mediaId"),
                                                      width: width, height: height, method: method)
            let ext = result.contentType.split(separator: "/").last.map(String.init) ?? "bin"
            var headers: HTTPFields = [:]
            headers[.contentDisposition] = "inline; filename=\"thumbnail.\(ext)\""
            headers[.contentSecurityPolicy] = "sandbox; default-src 'none'; script-src 'none'; object-src 'none';"
            headers[.cacheControl] = "private, max-age=86400"
            return MatrixResponse(bytes: result.bytes, contentType: result.contentType, headers: headers)
        }
        let config = MatrixResponse(json: ["m.upload.size": .int(Int64(limit))])
        return [
            e.authed(.post, ["/_matrix/media/v3/upload", "/_matrix/media/r0/upload"], access: .nonGuest, rateLimited: true,
                     maxBodySize: limit) { request, requester in
                let uri = try await hs.media.upload(request.body, contentType: request.headers[.contentType],
                                                    fileName: request.query("filename"), uploader: requester.userID)
                return MatrixResponse(json: ["content_uri": .string(uri)])
            },
            e.authed(.get, ["/_matrix/client/v1/media/download/{serverName}/{mediaId}",
                            "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}"]) { request, _ in
                try await download(request)
            },
            // The unauthenticated legacy endpoints, still used by older clients.
            e.open(.get, ["/_matrix/media/v3/download/{serverName}/{mediaId}", "/_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}",
                          "/_matrix/media/r0/download/{serverName}/{mediaId}", "/_matrix/media/r0/download/{serverName}/{mediaId}/{fileName}"]) { request in
                try await download(request)
            },
            e.authed(.get, ["/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}"], rateLimited: true) { request, _ in
                try await thumbnail(request)
            },
            e.open(.get, ["/_matrix/media/v3/thumbnail/{serverName}/{mediaId}", "/_matrix/media/r0/thumbnail/{serverName}/{mediaId}"],
                   rateLimited: true) { request in
                try await thumbnail(request)
            },
            e.authed(.get, ["/_matrix/client/v1/media/config"]) { _, _ in config },
            e.authed(.get, ["/_matrix/media/v3/config", "/_matrix/media/r0/config"]) { _, _ in config },
        ]
    }
}
