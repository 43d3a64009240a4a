import HearthCore
import Testing

/// "Auth events selection" (server-server API) and the error's client-facing form.
@Suite struct AuthEventSelectionTests {
    static func keys(_ type: String, stateKey: String? = nil, sender: UserID = Users.bob, content: JSONObject = [:],
                     version: RoomVersion) -> [StateKey] {
        EventAuthorization.authEventKeys(type: type, stateKey: stateKey, sender: sender, content: content, version: version)
    }

    @Test(arguments: Versions.all)
    func ordinaryEvents(version: RoomVersion) {
        let create: [StateKey] = version.auth.createEventIsAuthEvent ? [.create] : []
        #expect(Self.keys("m.room.message", version: version) == create + [.powerLevels, .member(Users.bob)])
        #expect(Self.keys("m.room.topic", stateKey: "", version: version) == create + [.powerLevels, .member(Users.bob)])
        #expect(Self.keys("m.room.create", stateKey: "", version: version).isEmpty)
    }

    @Test(arguments: Versions.all)
    func membershipEvents(version: RoomVersion) {
        let base: [StateKey] = (version.auth.createEventIsAuthEvent ? [.create] : []) + [.powerLevels]
        let bob = StateKey.member(Users.bob)
        let carol = StateKey.member(Users.carol)
        // Own join: sender and target are one key; join rules for join, invite and knock.
        #expect(Self.keys("m.room.member", stateKey: Users.bob.rawValue, content: ["membership": "join"], version: version)
                == base + [bob, .joinRules])
        #expect(Self.keys("m.room.member", stateKey: Users.bob.rawValue, content: ["membership": "knock"], version: version)
                == base + [bob, .joinRules])
        #expect(Self.keys("m.room.member", stateKey: Users.carol.rawValue, content: ["membership": "invite"], version: version)
                == base + [bob, carol, .joinRules])
        #expect(Self.keys("m.room.member", stateKey: Users.carol.rawValue, content: ["membership": "ban"], version: version)
                == base + [bob, carol])
        #expect(Self.keys("m.room.member", stateKey: Users.bob.rawValue, content: ["membership": "leave"], version: version)
                == base + [bob])
        // Third-party invites add the m.room.third_party_invite for the token.
        let thirdParty: JSONObject = ["membership": "invite", "third_party_invite": ["signed": ["token": "abc", "mxid": "@carol:c.example"]]]
        #expect(Self.keys("m.room.member", stateKey: Users.carol.rawValue, content: thirdParty, version: version)
                == base + [bob, carol, .joinRules, StateKey("m.room.third_party_invite", "abc")])
        // The authorising user's membership, in versions with restricted joins, for joins only.
        let via: JSONObject = ["membership": "join", "join_authorised_via_users_server": "@alice:a.example"]
        let expected = base + [bob, .joinRules] + (version.auth.allowsRestrictedJoins ? [.member(Users.alice)] : [])
        #expect(Self.keys("m.room.member", stateKey: Users.bob.rawValue, content: via, version: version) == expected)
        var leaveVia = via
        leaveVia["membership"] = "leave"
        #expect(Self.keys("m.room.member", stateKey: Users.bob.rawValue, content: leaveVia, version: version) == base + [bob])
    }

    @Test func authErrorIsForbidden() {
        let error = AuthError(rule: "5.3.2", "nope")
        #expect(error.description == "auth rule 5.3.2: nope")
        let matrix = error.matrixError
        #expect(matrix.code == .forbidden)
        #expect(matrix.status == 403)
        #expect(matrix.message.contains("5.3.2"))
    }
}
