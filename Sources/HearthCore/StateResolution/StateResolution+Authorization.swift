extension ResolutionRules {
    /// The room version's authorization rules.
    /// TEMPORARY: wired to `EventAuthorization` once branch core-auth lands; until then the
    /// tests inject their own rules through the internal entry point.
    static func standard(for version: RoomVersion) -> ResolutionRules {
        ResolutionRules(
            authEventKeys: { _ in [.create, .powerLevels] },
            isAllowed: { _, _ in true },
            senderPower: { _, _, _ in .finite(0) })
    }
}
