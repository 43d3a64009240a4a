import HearthCore
import Testing

/// Rule 5.4.1 (v12 numbering): invites that redeem an `m.room.third_party_invite`, with real
/// Ed25519 signatures from an identity server key.
@Suite struct AuthThirdPartyInviteTests {
    static let identityKey = SigningKey.generate(version: "0")
    static let otherKey = SigningKey.generate(version: "0")

    /// The identity server's `signed` object for `mxid` and `token`.
    static func signed(mxid: UserID = Users.bob, token: String = "tok", key: SigningKey = identityKey) throws -> JSONObject {
        try JSONSigning.sign(["mxid": .string(mxid.rawValue), "token": .string(token)], as: "id.example", with: key)
    }

    /// Standard room (Dave joined too) where Alice has issued a third-party invite `tok`.
    static func room(_ version: RoomVersion, inviteContent: JSONObject? = nil) throws -> RoomFixture {
        var room = try RoomFixture.withMembers(version, [Users.dave])
        try room.send("m.room.third_party_invite", stateKey: "tok", sender: Users.alice, content: inviteContent ?? [
            "display_name": "b...@example.org",
            "key_validity_url": "https://id.example/_matrix/identity/v2/pubkey/isvalid",
            "public_key": .string(identityKey.publicKeyBase64),
        ])
        return room
    }

    static func invite(_ thirdPartyInvite: JSONValue, target: UserID = Users.bob) -> JSONObject {
        ["membership": "invite", "third_party_invite": thirdPartyInvite]
    }

    static func point(_ version: RoomVersion, _ point: Int) -> String {
        MemberRules.rule(version, "invite", "1.\(point)")
    }

    @Test(arguments: Versions.all)
    func rule5_4_1_7_signatureFromTheInvitesKeyAllows(version: RoomVersion) throws {
        var room = try Self.room(version)
        let event = try room.event("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                   content: Self.invite(["display_name": "b...", "signed": .object(Self.signed())]))
        #expect(event.authEvents.contains(room.state[StateKey("m.room.third_party_invite", "tok")]!.eventID))
        #expect(room.rejection(event) == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_4_1_7_keysFromPublicKeysListInEitherAlphabet(version: RoomVersion) throws {
        let urlSafe = Base64.encode(Self.identityKey.publicKey, alphabet: .urlSafe)
        var room = try Self.room(version, inviteContent: [
            "display_name": "b...", "key_validity_url": "https://id.example/v",
            "public_key": .string(Self.otherKey.publicKeyBase64),
            "public_keys": [["public_key": "not base64!"], ["public_key": .string(urlSafe)]],
        ])
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                 content: Self.invite(["signed": .object(Self.signed())])) == nil)
    }

    @Test(arguments: Versions.all)
    func rule5_4_1_1_bannedTargetIsRejected(version: RoomVersion) throws {
        var room = try Self.room(version)
        try room.member(Users.bob, "ban", by: Users.alice)
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                 content: Self.invite(["signed": .object(Self.signed())]))?.rule == Self.point(version, 1))
    }

    @Test(arguments: Versions.all)
    func rule5_4_1_2_signedIsRequired(version: RoomVersion) throws {
        var room = try Self.room(version)
        for value: JSONValue in [["display_name": "b..."], "not an object", nil] {
            #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                     content: Self.invite(value))?.rule == Self.point(version, 2))
        }
    }

    @Test(arguments: Versions.all)
    func rule5_4_1_3_signedNeedsMxidAndToken(version: RoomVersion) throws {
        var room = try Self.room(version)
        var noToken = try Self.signed()
        noToken["token"] = nil
        var noMxid = try Self.signed()
        noMxid["mxid"] = nil
        for signed: JSONValue in [.object(noToken), .object(noMxid), "a string"] {
            #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                     content: Self.invite(["signed": signed]))?.rule == Self.point(version, 3))
        }
    }

    @Test(arguments: Versions.all)
    func rule5_4_1_4_mxidMustBeTheTarget(version: RoomVersion) throws {
        var room = try Self.room(version)
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                 content: Self.invite(["signed": .object(Self.signed(mxid: Users.carol))]))?.rule
                == Self.point(version, 4))
    }

    @Test(arguments: Versions.all)
    func rule5_4_1_5_tokenMustNameAThirdPartyInvite(version: RoomVersion) throws {
        var room = try Self.room(version)
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                 content: Self.invite(["signed": .object(Self.signed(token: "other"))]))?.rule
                == Self.point(version, 5))
    }

    @Test(arguments: Versions.all)
    func rule5_4_1_6_inviterMustHaveIssuedTheThirdPartyInvite(version: RoomVersion) throws {
        var room = try Self.room(version)
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.dave,
                                 content: Self.invite(["signed": .object(Self.signed())]))?.rule == Self.point(version, 6))
    }

    @Test(arguments: Versions.all)
    func rule5_4_1_8_otherwiseRejected(version: RoomVersion) throws {
        var room = try Self.room(version)
        // Signed by a key the invite does not list.
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                 content: Self.invite(["signed": .object(Self.signed(key: Self.otherKey))]))?.rule
                == Self.point(version, 8))
        // No signatures at all.
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                 content: Self.invite(["signed": ["mxid": .string(Users.bob.rawValue), "token": "tok"]]))?.rule
                == Self.point(version, 8))
        // A signature over different contents (token swapped after signing).
        var tampered = try Self.signed(token: "tok2")
        tampered["token"] = "tok"
        #expect(try room.attempt("m.room.member", stateKey: Users.bob.rawValue, sender: Users.alice,
                                 content: Self.invite(["signed": .object(tampered)]))?.rule == Self.point(version, 8))
    }

    /// Rule 7: issuing an `m.room.third_party_invite` needs the invite level.
    @Test(arguments: Versions.all)
    func rule7_1_thirdPartyInviteEventNeedsInviteLevel(version: RoomVersion) throws {
        var room = try RoomFixture.withMembers(version, [Users.dave], extraPowerLevels: ["invite": 10, "state_default": 0])
        let content: JSONObject = ["display_name": "x", "key_validity_url": "https://id.example/v",
                                   "public_key": .string(Self.identityKey.publicKeyBase64)]
        let expected = rule(version, [1: "7.1", 6: "6.1", 12: "7.1"])
        #expect(try room.attempt("m.room.third_party_invite", stateKey: "t", sender: Users.dave, content: content)?.rule
                == expected)
        #expect(try room.attempt("m.room.third_party_invite", stateKey: "t", sender: Users.alice, content: content) == nil)
        // Rule 7 decides alone: the required level for the type in `events` is not consulted.
        try room.powerLevels(room.powerLevelContent(users: [Users.dave: 10], extra: ["events": ["m.room.third_party_invite": 100]]))
        #expect(try room.attempt("m.room.third_party_invite", stateKey: "t", sender: Users.dave, content: content) == nil)
    }
}
