import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging
import Hummingbird

/// The content repository: uploads, authenticated downloads, configuration.
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
            e.authed(.get, ["/_matrix/client/v1/media/config"]) { _, _ in config },
            e.authed(.get, ["/_matrix/media/v3/config", "/_matrix/media/r0/config"]) { _, _ in config },
        ]
    }
}
