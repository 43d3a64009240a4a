import Foundation
import HearthCore
import Testing

/// Confidentiality agreements through the client API, as any client meets them: a refused
/// join or post with M_CONSENT_NOT_GIVEN and a consent_uri, a page to accept on, and the
/// moderators' list of who accepted which version.
@Suite(.serialized) struct AgreementTests {
    /// The path and query of a consent link (the test server's base URL differs from the
    /// configured public one).
    static func pathAndQuery(_ uri: String) throws -> String {
        let components = try #require(URLComponents(string: uri))
        return components.path + "?" + (components.percentEncodedQuery ?? "")
    }

    static func formEncoded(_ fields: [(String, String)]) -> [UInt8] {
        Array(fields.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)"
        }.joined(separator: "&").utf8)
    }

    /// Opens the consent link and presses the button, as a person would.
    static func accept(_ server: TestServer, _ consentURI: String) async throws {
        let target = try pathAndQuery(consentURI)
        let page = try await server.request("GET", target)
        #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
        let html = String(decoding: page.bytes, as: UTF8.self)
        func hidden(_ name: String) -> String? {
            guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
            let rest = html[range.upperBound...]
            return String(rest.prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
        }
        let fields = try ["room", "user", "h", "version"].map { ($0, try #require(hidden($0), "no \($0) in the form")) }
        let posted = try await server.request("POST", "/_hearth/consent", body: formEncoded(fields),
                                              contentType: "application/x-www-form-urlencoded")
        #expect(posted.status == 200)
    }

    @Test func membersAcceptTheAgreementBeforeJoiningAndAgainWhenItChanges() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let facilitator = try await server.register("facilitator")
        let member = try await server.register("member")
        let outsider = try await server.register("outsider")
        let room = try await server.createRoom(facilitator, [
            "preset": "public_chat",
            "initial_state": [["type": "org.hearth.agreement", "state_key": "", "content": [
                "version": "1", "title": "Group agreement", "text": "What is said here stays here.\nBe kind.",
            ]]],
        ])
        // The facilitator set it, and so has accepted it.
        _ = try await server.sendEvent(facilitator, room, type: "m.room.message", ["msgtype": "m.text", "body": "welcome"])

        let refused = try await server.post(TestServer.v3("/join/\(room.urlPathEncoded)"), member)
        refused.expectError(403, "M_CONSENT_NOT_GIVEN")
        let consentURI = try #require(refused.json["consent_uri"]?.stringValue)
        #expect(try await server.homeserver.rooms.membership(of: UserID(member.userID)!, in: RoomID(room)!) == nil)

        // A forged or altered link is refused.
        let forged = try Self.pathAndQuery(consentURI).replacingOccurrences(of: "member", with: "outsider")
        #expect(try await server.request("GET", forged).status == 403)
        let page = try await server.request("GET", try Self.pathAndQuery(consentURI))
        #expect(String(decoding: page.bytes, as: UTF8.self).contains("What is said here stays here.<br>Be kind."))
        try await Self.accept(server, consentURI)
        try await server.join(member, room)
        _ = try await server.sendEvent(member, room, type: "m.room.message", ["msgtype": "m.text", "body": "hello"])

        // Version 2: the member may read and leave, but not post until they accept it.
        _ = try await server.setState(facilitator, room, "org.hearth.agreement", "", [
            "version": "2", "text": "What is said here stays here. No screenshots.",
        ])
        let refusedPost = try await server.put(TestServer.room(room, "/send/m.room.message/t3"), member,
                                               ["msgtype": "m.text", "body": "again"])
        refusedPost.expectError(403, "M_CONSENT_NOT_GIVEN")
        try await server.get(TestServer.room(room, "/messages?dir=b&limit=5"), member).expectOK()
        try await Self.accept(server, try #require(refusedPost.json["consent_uri"]?.stringValue))
        try await server.put(TestServer.room(room, "/send/m.room.message/t4"), member, ["msgtype": "m.text", "body": "again"]).expectOK()

        // Moderators see who accepted which version; members who are not moderators do not.
        let list = try await server.get("/_hearth/admin/v1/rooms/\(room.urlPathEncoded)/agreement/acceptances", facilitator)
        list.expectOK()
        #expect(list.json["current_version"] == "2")
        let entries = (list.json["acceptances"]?.arrayValue ?? []).map { "\($0["user_id"]?.stringValue ?? "") v\($0["version"]?.stringValue ?? "")" }
        #expect(Set(entries) == ["\(facilitator.userID) v1", "\(facilitator.userID) v2", "\(member.userID) v1", "\(member.userID) v2"])
        try await server.get("/_hearth/admin/v1/rooms/\(room.urlPathEncoded)/agreement/acceptances", member).expectError(403, "M_FORBIDDEN")
        try await server.get("/_hearth/admin/v1/rooms/\(room.urlPathEncoded)/agreement/acceptances", outsider).expectError(403, "M_FORBIDDEN")
        // Leaving never needs consent.
        try await server.post(TestServer.room(room, "/leave"), member).expectOK()
    }
}
