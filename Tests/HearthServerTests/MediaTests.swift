import Foundation
import HearthCore
import Testing

/// The content repository: upload, download (authenticated and legacy), config, limits.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#content-repository
@Suite(.serialized) struct MediaTests {
    static func upload(_ server: TestServer, _ user: TestServer.User, _ bytes: [UInt8], contentType: String,
                       fileName: String? = nil) async throws -> TestServer.Response {
        let query = fileName.map { "?filename=\($0.urlQueryEncoded)" } ?? ""
        return try await server.request("POST", "/_matrix/media/v3/upload" + query, token: user.token, body: bytes, contentType: contentType)
    }

    static func mediaPath(_ uri: String) -> String { String(uri.dropFirst("mxc://".count)) }

    @Test func uploadAndDownload() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bytes = Array("Hello, clinic!\n".utf8)
        let uploaded = try await Self.upload(server, alice, bytes, contentType: "text/plain", fileName: "note one.txt")
        uploaded.expectOK()
        let uri = try #require(uploaded.json["content_uri"]?.stringValue)
        #expect(uri.hasPrefix("mxc://hearth.test/"))
        let path = Self.mediaPath(uri)
        // Authenticated download.
        let download = try await server.get("/_matrix/client/v1/media/download/\(path)", alice)
        #expect(download.status == 200 && download.bytes == bytes)
        #expect(download.headers["content-type"] == "text/plain")
        #expect(download.headers["content-disposition"] == "inline; filename=\"note one.txt\"")
        #expect(download.headers["content-security-policy"]?.contains("sandbox") == true)
        // A file name in the path overrides the uploaded one.
        let renamed = try await server.get("/_matrix/client/v1/media/download/\(path)/renamed.txt", alice)
        #expect(renamed.headers["content-disposition"] == "inline; filename=\"renamed.txt\"")
        // The authenticated endpoint needs a token; the legacy one does not.
        try await server.get("/_matrix/client/v1/media/download/\(path)").expectError(401, "M_MISSING_TOKEN")
        let legacy = try await server.get("/_matrix/media/v3/download/\(path)")
        #expect(legacy.status == 200 && legacy.bytes == bytes)
        #expect(try await server.get("/_matrix/media/r0/download/\(path)/x.txt").bytes == bytes)
        // HTML is never served inline.
        let html = try await Self.upload(server, alice, Array("<script>alert(1)</script>".utf8), contentType: "text/html")
        let htmlPath = Self.mediaPath(try #require(html.json["content_uri"]?.stringValue))
        #expect(try await server.get("/_matrix/client/v1/media/download/\(htmlPath)", alice).headers["content-disposition"]?.hasPrefix("attachment") == true)
        // Without a content type, octet-stream.
        let raw = try await server.request("POST", "/_matrix/media/v3/upload", token: alice.token, body: [0, 1, 2], contentType: nil)
        let rawPath = Self.mediaPath(try #require(raw.json["content_uri"]?.stringValue))
        #expect(try await server.get("/_matrix/client/v1/media/download/\(rawPath)", alice).headers["content-type"] == "application/octet-stream")
        // Unknown media and other servers' media are not found.
        try await server.get("/_matrix/client/v1/media/download/hearth.test/nothing", alice).expectError(404, "M_NOT_FOUND")
        try await server.get("/_matrix/client/v1/media/download/elsewhere.test/abc", alice).expectError(404, "M_NOT_FOUND")
        try await server.request("POST", "/_matrix/media/v3/upload", body: bytes, contentType: "text/plain").expectError(401, "M_MISSING_TOKEN")
    }

    @Test func configAndSizeLimit() async throws {
        let server = try await TestServer.start { $0.maxUploadSize = 1000 }
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let config = try await server.get("/_matrix/client/v1/media/config", alice)
        #expect(config.json["m.upload.size"] == 1000)
        #expect(try await server.get("/_matrix/media/v3/config", alice).json["m.upload.size"] == 1000)
        try await server.get("/_matrix/client/v1/media/config").expectError(401, "M_MISSING_TOKEN")
        try await Self.upload(server, alice, Array(repeating: 7, count: 1000), contentType: "application/octet-stream").expectOK()
        try await Self.upload(server, alice, Array(repeating: 7, count: 1001), contentType: "application/octet-stream").expectError(413, "M_TOO_LARGE")
    }
}
