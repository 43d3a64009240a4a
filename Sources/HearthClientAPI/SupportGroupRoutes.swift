import Foundation
import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird

/// Support-group features a client reaches without knowing them: the consent page a
/// `consent_uri` points at, and the moderators' view of who accepted a room's agreement.
enum SupportGroupRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            // The agreement, with an accept button. The link's digest stands in for a login.
            e.open(.get, ["/_hearth/consent"]) { request in
                let (roomID, user) = try consentParameters(request.query("room"), request.query("user"), request.query("h"), hs)
                guard let agreement = try await hs.rooms.agreement(roomID) else { throw MatrixError.notFound("This room has no agreement") }
                let accepted = try await hs.storage.privacy.hasAcceptedAgreement(roomID, user, version: agreement.version)
                let form = accepted
                    ? "<p class=\"done\">You accepted version \(html(agreement.version)). You can return to your Matrix client.</p>"
                    : """
                      <form method="post" action="/_hearth/consent">
                        <input type="hidden" name="room" value="\(html(roomID.rawValue))">
                        <input type="hidden" name="user" value="\(html(user.rawValue))">
                        <input type="hidden" name="h" value="\(html(request.query("h") ?? ""))">
                        <input type="hidden" name="version" value="\(html(agreement.version))">
                        <button type="submit">I accept this agreement</button>
                      </form>
                      """
                return page(title: agreement.title ?? "Room agreement", body: """
                    <p>\(html(user.rawValue)), this room asks its members to accept its agreement (version \(html(agreement.version))).</p>
                    <blockquote>\(html(agreement.text).replacingOccurrences(of: "\n", with: "<br>"))</blockquote>
                    \(form)
                    """)
            },
            e.open(.post, ["/_hearth/consent"]) { request in
                let form = formFields(request.body)
                let (roomID, user) = try consentParameters(form["room"], form["user"], form["h"], hs)
                guard let version = form["version"] else { throw MatrixError.missingParam("version is required") }
                try await hs.rooms.acceptAgreement(roomID, user, version: version)
                return page(title: "Agreement accepted", body: """
                    <p class="done">Thank you. Your acceptance of version \(html(version)) is recorded. You can return to your Matrix client.</p>
                    """)
            },
            // What the server keeps and what leaves, from the configuration in force.
            e.open(.get, ["/_hearth/transparency"]) { _ in
                var headers = HTTPFields()
                headers[.cacheControl] = "no-store"
                return MatrixResponse(bytes: Array(TransparencyPage.html(hs.settings).utf8), contentType: "text/html; charset=utf-8",
                                      headers: headers)
            },
            // A member's own archive (Spec/support-groups.md); server admins may export anyone's.
            e.authed(.get, ["/_hearth/client/v1/export"], access: .nonGuest, rateLimited: true) { _, requester in
                MatrixResponse(json: try await hs.exportMember(requester.userID))
            },
            e.authed(.get, [PolicyRoutes.prefix + "/users/{userId}/export"]) { request, requester in
                guard requester.isAdmin else { throw MatrixError.forbidden("Only server admins may export other users' data") }
                return MatrixResponse(json: try await hs.exportMember(try request.userID()))
            },
            // Verified professionals: server admins set and remove a user's role.
            e.authed(.put, [PolicyRoutes.prefix + "/users/{userId}/role"]) { request, requester in
                guard requester.isAdmin else { throw MatrixError.forbidden("Only server admins verify roles") }
                let body = try request.jsonBody()
                guard let role = body["role"]?.stringValue else { throw MatrixError.missingParam("role is required") }
                try await hs.setVerifiedRole(try request.userID(), role: role, label: body["label"]?.stringValue, by: requester.userID)
                return .empty
            },
            e.authed(.delete, [PolicyRoutes.prefix + "/users/{userId}/role"]) { request, requester in
                guard requester.isAdmin else { throw MatrixError.forbidden("Only server admins verify roles") }
                try await hs.setVerifiedRole(try request.userID(), role: nil, label: nil, by: requester.userID)
                return .empty
            },
            // Break glass: who is behind a pseudonym (recorded in the audit log first).
            e.authed(.post, [PolicyRoutes.prefix + "/pseudonyms/{userId}/reveal"]) { request, requester in
                guard requester.isAdmin else { throw MatrixError.forbidden("Only server admins may reveal a pseudonym") }
                guard let reason = try request.jsonBody()["reason"]?.stringValue, !reason.isEmpty else {
                    throw MatrixError.missingParam("A reason is required: it is recorded in the audit log")
                }
                let member = try await hs.revealPseudonym(try request.userID(), by: requester.userID, reason: reason)
                return MatrixResponse(json: ["user_id": .string(member.rawValue)])
            },
            // New accounts awaiting approval, and approving them.
            e.authed(.get, [PolicyRoutes.prefix + "/users/pending"]) { _, requester in
                guard requester.isAdmin else { throw MatrixError.forbidden("Only server admins approve accounts") }
                let pending = try await hs.storage.accounts.accountsAwaitingApproval()
                return MatrixResponse(json: ["users": .array(pending.map { ["user_id": .string($0.userID.rawValue), "created_at": .int($0.createdAt)] })])
            },
            e.authed(.post, [PolicyRoutes.prefix + "/users/{userId}/approve"]) { request, requester in
                guard requester.isAdmin else { throw MatrixError.forbidden("Only server admins approve accounts") }
                let user = try request.userID()
                guard try await hs.storage.accounts.account(user) != nil else { throw MatrixError.notFound("Unknown user") }
                try await hs.storage.accounts.setAwaitingApproval(user, false)
                return .empty
            },
            // The moderation queue.
            e.authed(.get, [PolicyRoutes.prefix + "/reports"]) { request, requester in
                let roomID = try request.query("room_id").map { text throws(MatrixError) -> RoomID in
                    guard let id = RoomID(text) else { throw MatrixError.invalidParam("room_id is not a room ID") }
                    return id
                }
                let reports = try await hs.moderationQueue(for: requester.userID, isServerAdmin: requester.isAdmin, roomID: roomID,
                                                           includeResolved: try request.queryBool("include_resolved") ?? false)
                return MatrixResponse(json: ["reports": .array(reports.map { .object($0.json) })])
            },
            e.authed(.post, [PolicyRoutes.prefix + "/reports/{reportId}/resolve"]) { request, requester in
                guard let id = Int64(try request.path("reportId")) else { throw MatrixError.invalidParam("reportId must be a number") }
                let body = try request.jsonBody()
                let resolution = body["resolution"]?.stringValue ?? "resolved"
                try await hs.resolveReport(id: id, by: requester.userID, isServerAdmin: requester.isAdmin, resolution: resolution,
                                           removeEvent: body["remove_event"]?.boolValue ?? false)
                return .empty
            },
            e.authed(.get, [PolicyRoutes.prefix + "/rooms/{roomId}/agreement/acceptances"]) { request, requester in
                let roomID = try request.roomID()
                let acceptances = try await hs.rooms.agreementAcceptances(roomID, requester: requester.userID, isServerAdmin: requester.isAdmin)
                let current = try await hs.rooms.agreement(roomID)?.version
                return MatrixResponse(json: [
                    "room_id": .string(roomID.rawValue),
                    "current_version": current.map(JSONValue.string) ?? .null,
                    "acceptances": .array(acceptances.map { acceptance in
                        ["user_id": .string(acceptance.userID.rawValue), "version": .string(acceptance.version),
                         "accepted_at": .int(acceptance.acceptedAt)]
                    }),
                ])
            },
        ]
    }

    /// The room and user a consent link names, after checking its digest.
    static func consentParameters(_ room: String?, _ user: String?, _ digest: String?, _ hs: Homeserver) throws -> (RoomID, UserID) {
        guard let room, let roomID = RoomID(room), let user, let userID = UserID(user), let digest else {
            throw MatrixError.missingParam("This link is incomplete: room, user and h are required")
        }
        let expected = hs.rooms.consentDigest(roomID, userID)
        // Compared in constant time: the digest is the only credential here.
        guard expected.utf8.count == digest.utf8.count,
              zip(expected.utf8, digest.utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw MatrixError.forbidden("This link is not valid")
        }
        return (roomID, userID)
    }

    /// `application/x-www-form-urlencoded` fields.
    static func formFields(_ body: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { decode(String($0)) }
            if let name = parts.first { fields[name] = parts.count > 1 ? parts[1] : "" }
        }
        return fields
    }

    /// Form fields use `+` for spaces, then percent-encoding.
    private static func decode(_ text: String) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return MatrixURI.percentDecode(Substring(spaced)) ?? spaced
    }

    static func html(_ text: String) -> String { HTML.escape(text) }

    static func page(title: String, body: String) -> MatrixResponse {
        let document = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(html(title))</title>
            <style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
            blockquote{border-left:4px solid #888;margin:1rem 0;padding:.5rem 1rem;background:#f5f5f5}
            button{font-size:1rem;padding:.6rem 1.2rem}.done{color:#155724}</style></head>
            <body><h1>\(html(title))</h1>
            \(body)
            </body></html>
            """
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        return MatrixResponse(bytes: Array(document.utf8), contentType: "text/html; charset=utf-8", headers: headers)
    }
}
