public import HearthCore
public import HearthStorage

/// A user's push rules: the server defaults merged with the user's changes, kept as the
/// `m.push_rules` account data clients read in /sync.
public struct PushRules: Sendable {
    let userData: any UserDataStore

    public static let accountDataType = "m.push_rules"

    /// The rules in force for `user`.
    public func ruleset(for user: UserID) async throws -> PushRuleset {
        let stored = try await userData.accountData(user, roomID: nil, type: Self.accountDataType)?["global"]?.objectValue
        return PushRuleset.merged(user: stored.map(PushRuleset.init(json:)) ?? PushRuleset(), defaults: .serverDefault(for: user))
    }

    /// The account-data content for a ruleset.
    public static func content(_ ruleset: PushRuleset) -> JSONObject { ["global": .object(ruleset.json)] }

    /// Stores a changed ruleset; /sync delivers it as account data.
    public func save(_ ruleset: PushRuleset, for user: UserID) async throws {
        try await userData.setAccountData(user, roomID: nil, type: Self.accountDataType, content: Self.content(ruleset))
    }
}
