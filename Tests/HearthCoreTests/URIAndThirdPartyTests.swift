import HearthCore
import Testing

@Suite struct URIAndThirdPartyTests {
    @Test func uriVectors() throws {
        let cases = try SpecVectors.verifiedCases("uris")
        #expect(cases.count == 12)
        for testCase in cases {
            let text = try #require(testCase["uri"]?.stringValue)
            let uri = try #require(MatrixURI(text), "\(text)")
            let identifiers = try #require(testCase["identifiers"]?.arrayValue).compactMap(\.stringValue)
            #expect(uri.identifiers == identifiers, "\(text)")
            let query = try #require(testCase["query"]?.objectValue)
            #expect(Set(uri.query.map(\.name)) == Set(query.keys), "\(text)")
            for member in query {
                let values = uri.query.filter { $0.name == member.key }.map(\.value)
                #expect(values == member.value.arrayValue?.compactMap(\.stringValue), "\(text)")
            }
            // Both written forms read back to the same thing.
            #expect(MatrixURI(uri.matrixURIString) == uri, "\(uri.matrixURIString)")
            #expect(MatrixURI(uri.matrixToString) == uri, "\(uri.matrixToString)")
        }
    }

    @Test func uriDetails() throws {
        let chat = try #require(MatrixURI("matrix:u/alice:example.org?action=chat"))
        #expect(chat.entity == .user(try #require(UserID("@alice:example.org"))) && chat.action == "chat")
        #expect(MatrixURI("matrix:roomid/a:b.org?via=x.org&via=y.org")?.via == ["x.org", "y.org"])
        #expect(MatrixURI("matrix:user/alice:example.org")?.identifiers == ["@alice:example.org"])
        #expect(MatrixURI("matrix://authority/r/a:example.org#frag")?.identifiers == ["#a:example.org"])
        #expect(MatrixURI("matrix:r/a:example.org/e/ev")?.event?.rawValue == "$ev")  // deprecated, still read
        // A v3 event ID with an unencoded slash in a matrix.to link.
        let v3 = try #require(MatrixURI("https://matrix.to/#/!r:example.org/$abc/def+ghi"))
        #expect(v3.identifiers == ["!r:example.org", "$abc/def+ghi"])
        #expect(MatrixURI(v3.matrixToString) == v3)
        let v12 = try #require(MatrixURI("matrix:roomid/" + String(repeating: "A", count: 43)))
        #expect(v12.entity == .roomID(try #require(RoomID("!" + String(repeating: "A", count: 43)))))
        for bad in ["matrix:", "matrix:x/a:b", "matrix:u/alice", "matrix:u/a:b/e/ev", "matrix:roomid/a:b/x/ev",
                    "matrix:u/%zz:b", "matrix:u/%ff:b", "https://matrix.to/#/", "https://matrix.to/#/alice",
                    "https://matrix.to/#/@a:b/$ev", "http://matrix.to/#/@a:b", "matrix:r/a:b/e/ev/e/ev2"] {
            #expect(MatrixURI(bad) == nil, "\(bad)")
        }
    }

    @Test func thirdPartyCanonicalisationVectors() throws {
        let cases = try SpecVectors.verifiedCases("3pid-canonicalisation")
        #expect(cases.count == 2)
        for testCase in cases {
            let input = try #require(testCase["input"]?.stringValue)
            let medium = try #require(testCase["medium"]?.stringValue)
            #expect(ThirdPartyID.canonicalAddress(input, medium: medium) == testCase["expected"]?.stringValue)
        }
        #expect(ThirdPartyID.canonicalAddress("18005552067", medium: "msisdn") == "18005552067")
        #expect(CaseFolding.fold("ẞ ΣΑΣ İ Ꭰꭰ ﬀ") == "ss σασ i̇ ᎠᎠ ff")
    }

    @Test func identityLookupHashVectors() throws {
        let file = try SpecVectors.load("identity-lookup-hash")
        let pepper = try #require(file["pepper"]?.stringValue)
        let cases = try SpecVectors.verifiedCases("identity-lookup-hash")
        #expect(cases.count == 3)
        for testCase in cases {
            let input = try #require(testCase["input"]?.stringValue)
            let expected = try #require(testCase["expected"]?.stringValue)
            #expect(IdentityLookup.sha256Hash(of: input) == expected)
            let parts = input.split(separator: " ").map(String.init)
            #expect(IdentityLookup.sha256Hash(address: parts[0], medium: parts[1], pepper: pepper) == expected)
        }
    }
}
