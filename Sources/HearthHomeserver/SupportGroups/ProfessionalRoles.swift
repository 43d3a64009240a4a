import Foundation
public import HearthCore
import HearthStorage

/// Verified professionals (counsellors, facilitators): a server admin vouches for an account's
/// role, and every client shows it, because the member events of the rooms the professional
/// is in carry it after their name ("Dana (✓ Counsellor)"). The role is also the profile field
/// `org.hearth.verified_role`, which only admins set; nobody may put the mark in a name.
public struct VerifiedRole: Sendable, Equatable {
    public var role: String
    /// As shown after the name.
    public var label: String
    public var verifiedBy: UserID?
    public var verifiedAt: Milliseconds

    public var json: JSONValue {
        var object: JSONObject = ["role": .string(role), "label": .string(label), "verified_at": .int(verifiedAt)]
        if let verifiedBy { object["verified_by"] = .string(verifiedBy.rawValue) }
        return .object(object)
    }

    init?(_ value: JSONValue) {
        guard let role = value["role"]?.stringValue, let label = value["label"]?.stringValue else { return nil }
        self.role = role
        self.label = label
        verifiedBy = value["verified_by"]?.stringValue.flatMap(UserID.init)
        verifiedAt = value["verified_at"]?.intValue ?? 0
    }

    public init(role: String, label: String, verifiedBy: UserID?, verifiedAt: Milliseconds) {
        self.role = role
        self.label = label
        self.verifiedBy = verifiedBy
        self.verifiedAt = verifiedAt
    }
}

extension Rooms {
    public static let verifiedRoleField = "org.hearth.verified_role"
    /// Reserved for verified roles: display names may not contain it.
    public static let verifiedMark = "✓"

    public func verifiedRole(of user: UserID) async throws -> VerifiedRole? {
        guard user.server == settings.serverName else { return nil }
        return try await accounts.profileFields(user)[Self.verifiedRoleField].flatMap(VerifiedRole.init)
    }
}

extension Homeserver {
    /// Sets (or with nil removes) a user's verified role and shows it in their rooms.
    public func setVerifiedRole(_ user: UserID, role: String?, label: String?, by admin: UserID) async throws {
        guard user.server == serverName, try await storage.accounts.account(user) != nil else { throw MatrixError.notFound("Unknown user \(user)") }
        if let role {
            let trimmed = role.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, trimmed.count <= 64 else { throw MatrixError.invalidParam("role must be 1 to 64 characters") }
            let shown = (label ?? trimmed.prefix(1).uppercased() + trimmed.dropFirst()).trimmingCharacters(in: .whitespaces)
            guard !shown.isEmpty, shown.count <= 64, !shown.contains(Rooms.verifiedMark) else {
                throw MatrixError.invalidParam("label must be 1 to 64 characters without \(Rooms.verifiedMark)")
            }
            let value = VerifiedRole(role: trimmed, label: shown, verifiedBy: admin, verifiedAt: clock.now())
            try await storage.accounts.setProfileField(user, key: Rooms.verifiedRoleField, value: value.json)
        } else {
            try await storage.accounts.setProfileField(user, key: Rooms.verifiedRoleField, value: nil)
        }
        // New member events in every joined room, with the role shown (or no longer shown).
        try await setProfile(user, displayName: nil, avatarURL: nil)
    }
}
