import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Profiles: display name and avatar (pushed into the member events of joined rooms) and, since
/// v1.16, any other field (`m.tz`, namespaced custom keys).
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#profiles
enum ProfileRoutes {
    static let profileTooLarge = ErrorCode(rawValue: "M_PROFILE_TOO_LARGE")
    static let keyTooLarge = ErrorCode(rawValue: "M_KEY_TOO_LARGE")
    /// The whole profile must stay under 64 KiB.
    static let maxProfileSize = 64 * 1024

    /// `avatar_url`, `displayname`, `m.tz`, or a namespaced key such as `org.example.role`.
    static func isValidKey(_ key: String) -> Bool {
        if ["avatar_url", "displayname", "m.tz"].contains(key) { return true }
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2 else { return false }
        return parts.allSatisfy { part in
            guard let first = part.first, first.isASCII, first.isLowercase else { return false }
            return part.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" }
        }
    }

    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        @Sendable func profile(_ user: UserID) async throws -> JSONObject {
            if user.server != hs.serverName { return try await hs.federation.remoteProfile(user) }
            guard let account = try await hs.accounts.account(user), !account.isDeactivated else {
                throw MatrixError.notFound("Profile not found")
            }
            var json = try await hs.storage.accounts.profileFields(user)
            if let name = account.displayName { json["displayname"] = .string(name) }
            if let avatar = account.avatarURL { json["avatar_url"] = .string(avatar) }
            return json
        }
        @Sendable func owner(_ request: MatrixRequest, _ requester: Requester) throws -> (UserID, String) {
            let user = try request.userID()
            guard user == requester.userID else { throw MatrixError.forbidden("Cannot change another user's profile") }
            let key = try request.path("keyName")
            guard key.utf8.count <= 255 else { throw MatrixError(keyTooLarge, status: 400, "Profile keys are at most 255 bytes") }
            guard isValidKey(key) else { throw MatrixError.invalidParam("Invalid profile key \(key)") }
            return (user, key)
        }
        let field = ClientEndpoint.client("/profile/{userId}/{keyName}")
        return [
            e.open(.get, ClientEndpoint.client("/profile/{userId}")) { request in
                MatrixResponse(json: try await profile(try request.userID()))
            },
            e.open(.get, field) { request in
                let key = try request.path("keyName")
                guard let value = try await profile(try request.userID())[key] else { throw MatrixError.notFound("Profile field not set") }
                return MatrixResponse(json: [key: value])
            },
            e.authed(.put, field, rateLimited: true) { request, requester in
                let (user, key) = try owner(request, requester)
                // Hearth's own fields (a verified role) are set by administrators only.
                if key.hasPrefix("org.hearth.") { throw MatrixError.forbidden("\(key) is set by the server's administrators") }
                guard let value = try request.jsonBody()[key] else { throw MatrixError.missingParam("Missing \(key)") }
                switch key {
                case "displayname", "avatar_url":
                    // Null clears these two, as clients have long done.
                    guard value.isNull || value.stringValue != nil else { throw MatrixError.badJSON("\(key) must be a string") }
                    if let text = value.stringValue {
                        if text.utf8.count > 256 { throw MatrixError.badJSON("\(key) is too long") }
                        if key == "displayname", text.contains(Rooms.verifiedMark) {
                            throw MatrixError.invalidParam("\(Rooms.verifiedMark) is reserved for roles this server has verified")
                        }
                        if key == "avatar_url", !text.isEmpty, !text.hasPrefix("mxc://") { throw MatrixError.badJSON("avatar_url must be an mxc:// URI") }
                    }
                    let text = value.stringValue
                    if key == "displayname" {
                        try await hs.setProfile(user, displayName: .some(text), avatarURL: nil)
                    } else {
                        try await hs.setProfile(user, displayName: nil, avatarURL: .some(text))
                    }
                default:
                    if key == "m.tz", value.stringValue == nil { throw MatrixError.badJSON("m.tz must be a string") }
                    var whole = try await profile(user)
                    whole[key] = value
                    guard whole.encoded().count < maxProfileSize else {
                        throw MatrixError(profileTooLarge, status: 400, "The profile would exceed 64 KiB")
                    }
                    try await hs.storage.accounts.setProfileField(user, key: key, value: value)
                }
                return .empty
            },
            e.authed(.delete, field, rateLimited: true) { request, requester in
                let (user, key) = try owner(request, requester)
                if key.hasPrefix("org.hearth.") { throw MatrixError.forbidden("\(key) is set by the server's administrators") }
                switch key {
                case "displayname": try await hs.setProfile(user, displayName: .some(nil), avatarURL: nil)
                case "avatar_url": try await hs.setProfile(user, displayName: nil, avatarURL: .some(nil))
                default: try await hs.storage.accounts.setProfileField(user, key: key, value: nil)
                }
                return .empty
            },
        ]
    }
}
