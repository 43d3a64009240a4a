extension ResolutionRules {
    /// The room version's authorization rules (`EventAuthorization`), as state resolution uses
    /// them: the auth event selection for which keys an event consults, `authorize` for the
    /// iterative auth checks, and `PowerLevels` for the sender's level in the power ordering.
    static func standard(for version: RoomVersion) -> ResolutionRules {
        ResolutionRules(
            authEventKeys: { event in
                EventAuthorization.authEventKeys(type: event.type, stateKey: event.stateKey, sender: event.sender,
                                                 content: event.content, version: event.roomVersion)
            },
            isAllowed: { event, state in
                do {
                    try EventAuthorization.authorize(event, state: state)
                    return true
                } catch {
                    return false
                }
            },
            senderPower: { event, powerLevels, create in
                PowerLevels(content: powerLevels?.content, version: event.roomVersion,
                            creators: create.map(RoomCreators.of) ?? [])
                    .userLevel(event.sender)
            })
    }
}
