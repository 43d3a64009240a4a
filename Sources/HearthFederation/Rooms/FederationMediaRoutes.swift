public import HearthCore
public import HearthHTTP
public import HearthHomeserver
import HearthStorage
import Hummingbird

/// Authenticated media for other servers: the content as `multipart/mixed`, a JSON metadata
/// part (empty) followed by the bytes.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#content-repository
enum FederationMediaRoutes {
    static func routes(_ e: FederationEndpoint, _ homeserver: Homeserver) -> [Route] {
        @Sendable func serve(_ request: MatrixRequest) async throws -> MatrixResponse {
            let content = try await homeserver.media.download(server: homeserver.serverName.rawValue,
                                                              mediaID: try request.path("mediaId"))
            let boundary = "hearth" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            var body = Array("--\(boundary)\r\nContent-Type: application/json\r\n\r\n{}\r\n--\(boundary)\r\n".utf8)
            body += Array("Content-Type: \(content.record.contentType)\r\n".utf8)
            if let name = content.record.fileName, !name.contains("\"") {
                body += Array("Content-Disposition: attachment; filename=\"\(name)\"\r\n".utf8)
            }
            body += Array("\r\n".utf8)
            body += content.bytes
            body += Array("\r\n--\(boundary)--\r\n".utf8)
            return MatrixResponse(bytes: body, contentType: "multipart/mixed; boundary=\(boundary)")
        }
        return [
            e.signed(.get, FederationEndpoint.federation("/media/download/{mediaId}")) { request, _ in try await serve(request) },
            // Hearth makes no thumbnails: the original serves as its own (a client scales it).
            e.signed(.get, FederationEndpoint.federation("/media/thumbnail/{mediaId}")) { request, _ in
                guard try request.queryInt("width") != nil, try request.queryInt("height") != nil else {
                    throw MatrixError.missingParam("width and height are required")
                }
                return try await serve(request)
            },
        ]
    }
}
