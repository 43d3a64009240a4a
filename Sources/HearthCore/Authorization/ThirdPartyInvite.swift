/// The rules for an invite that redeems a third-party invite: "If `membership` is `invite`:
/// If `content` has a `third_party_invite` property" (rule 5.4.1 in v12).
/// Spec: https://spec.matrix.org/v1.19/rooms/v12/#authorization-rules and
/// https://spec.matrix.org/v1.19/server-server-api/#verifying-the-invite
enum ThirdPartyInviteRules {
    static func check(_ context: AuthContext, target: String, thirdPartyInvite: JSONValue) throws(AuthError) {
        let event = context.event
        let numbers = context.numbers
        func reject(_ point: Int, _ reason: String) -> AuthError {
            numbers.reject(numbers.membership(.invite, 1, point), reason)
        }

        // "If *target user* is banned, reject."
        if context.membership(of: target) == "ban" {
            throw reject(1, "\(target) is banned")
        }
        // "If `content.third_party_invite` does not have a `signed` property, reject."
        guard let signedValue = thirdPartyInvite["signed"] else {
            throw reject(2, "third_party_invite has no signed property")
        }
        // "If `signed` does not have `mxid` and `token` properties, reject."
        guard let signed = signedValue.objectValue, let mxid = signed["mxid"], let token = signed["token"] else {
            throw reject(3, "third_party_invite.signed lacks mxid or token")
        }
        // "If `mxid` does not match `state_key`, reject."
        guard let mxidText = mxid.stringValue, mxidText.hasSameUTF8(as: target) else {
            throw reject(4, "third_party_invite.signed.mxid does not match the state_key")
        }
        // "If there is no `m.room.third_party_invite` event in the current room state with
        // `state_key` matching `token`, reject."
        guard let tokenText = token.stringValue,
              let inviteEvent = context.state[StateKey("m.room.third_party_invite", tokenText)] else {
            throw reject(5, "no m.room.third_party_invite event for the token")
        }
        // "If `sender` does not match `sender` of the `m.room.third_party_invite`, reject."
        guard inviteEvent.sender == event.sender else {
            throw reject(6, "the third-party invite was issued by \(inviteEvent.sender), not \(event.sender)")
        }
        // "If any signature in `signed` matches any public key in the `m.room.third_party_invite`
        // event, allow."
        if hasValidSignature(signed, keys: publicKeys(of: inviteEvent.content)) { return }
        // "Otherwise, reject."
        throw reject(8, "no signature in third_party_invite.signed matches the invite's public keys")
    }

    /// The keys of an `m.room.third_party_invite` content: "A single public key in the
    /// `public_key` property" and "A list of public keys in the `public_keys` property", each
    /// unpadded base64 in the standard or URL-safe alphabet. Unreadable entries are skipped.
    static func publicKeys(of content: JSONObject) -> [VerifyKey] {
        var keys: [VerifyKey] = []
        if let key = content["public_key"]?.stringValue.flatMap(VerifyKey.init(base64:)) { keys.append(key) }
        for entry in content["public_keys"]?.arrayValue ?? [] {
            if let key = entry["public_key"]?.stringValue.flatMap(VerifyKey.init(base64:)) { keys.append(key) }
        }
        return keys
    }

    /// Whether any signature in `signed.signatures` (under any signing entity and key ID)
    /// verifies against any of `keys`.
    static func hasValidSignature(_ signed: JSONObject, keys: [VerifyKey]) -> Bool {
        guard !keys.isEmpty, let signatures = signed["signatures"]?.objectValue else { return false }
        for entity in signatures {
            for keyID in entity.value.objectValue?.keys ?? [] {
                for key in keys {
                    if (try? JSONSigning.verify(signed, by: entity.key, keyID: keyID, key: key)) != nil { return true }
                }
            }
        }
        return false
    }
}
