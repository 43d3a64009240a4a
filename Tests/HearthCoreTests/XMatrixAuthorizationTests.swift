import HearthCore
import Testing

@Suite struct XMatrixAuthorizationTests {
    @Test func headerVectors() throws {
        let cases = try SpecVectors.verifiedCases("x-matrix-auth-header")
        #expect(cases.count == 1)
        for testCase in cases {
            let header = try #require(testCase["header"]?.stringValue)
            let expected = try #require(testCase["expected_params"]?.objectValue)
            let params = try XMatrixAuthorization.parameters(header)
            #expect(params.count == expected.count)
            for member in expected {
                #expect(params[member.key] == member.value.stringValue, "\(member.key)")
            }
            let auth = try XMatrixAuthorization(header: header)
            #expect(auth.origin.rawValue == expected["origin"]?.stringValue)
            #expect(auth.destination?.rawValue == expected["destination"]?.stringValue)
            #expect(auth.keyID == expected["key"]?.stringValue)
            #expect(auth.signature == expected["sig"]?.stringValue)
            // Hearth writes exactly the form the spec's example uses.
            #expect(auth.headerValue == header)
        }
    }

    @Test func signedFieldsVector() throws {
        let file = try SpecVectors.load("x-matrix-auth-header")
        let fields = try #require(file["signed_json_fields"]?.arrayValue).compactMap(\.stringValue)
        let origin = try #require(ServerName("origin.hs.example.com"))
        let destination = try #require(ServerName("destination.hs.example.com"))
        let withBody = XMatrixAuthorization.requestJSON(method: "POST", uri: "/target", origin: origin,
                                                        destination: destination, content: ["a": 1])
        #expect(withBody.keys == ["content", "destination", "method", "origin", "uri"])
        #expect(fields.contains("content (only when there is a body)") && fields.contains("signatures"))
        let withoutBody = XMatrixAuthorization.requestJSON(method: "GET", uri: "/target", origin: origin,
                                                           destination: destination, content: nil)
        #expect(!withoutBody.keys.contains("content"))
    }

    @Test func parsingFollowsRFC9110() throws {
        let params = try XMatrixAuthorization.parameters(
            "x-matrix   ORIGIN=origin.example:8448 ,\tKey=\"ed25519:a\\\"b\" , sig = abc/+= ,unknown=\"x,y\",,destination=\"d.example\"")
        #expect(params["origin"] == "origin.example:8448")
        #expect(params["key"] == "ed25519:a\"b")
        #expect(params["sig"] == "abc/+=")
        #expect(params["unknown"] == "x,y")
        #expect(params["destination"] == "d.example")
        // A backslash escapes any character.
        #expect(try XMatrixAuthorization.parameters("X-Matrix sig=\"\\a\\\\\"")["sig"] == "a\\")
        // The spec's prose name for the signature is accepted when `sig` is absent.
        let prose = try XMatrixAuthorization(header: "X-Matrix origin=a.example,key=ed25519:1,signature=xyz")
        #expect(prose.signature == "xyz" && prose.destination == nil)
    }

    @Test func malformedHeadersAreRefused() {
        let bad = [
            "", "X-Matrix", "Bearer abc", "X-Matrixorigin=a", "X-Matrix origin", "X-Matrix origin=",
            "X-Matrix origin=\"unterminated", "X-Matrix origin=a origin2=b", "X-Matrix origin=a,origin=b",
            "X-Matrix =a", "X-Matrix origin=\"a\nb\"",
        ]
        for header in bad {
            #expect(throws: XMatrixAuthorization.Failure.self, "\(header)") {
                _ = try XMatrixAuthorization(header: header)
            }
        }
        #expect(throws: XMatrixAuthorization.Failure.missingParameter("key")) {
            _ = try XMatrixAuthorization(header: "X-Matrix origin=a.example,sig=x")
        }
        #expect(throws: XMatrixAuthorization.Failure.invalidServerName("bad_name!")) {
            _ = try XMatrixAuthorization(header: "X-Matrix origin=\"bad_name!\",key=k,sig=x")
        }
    }

    @Test func signThenVerify() throws {
        let key = try SigningTests.specKey()
        let verifyKey = try #require(VerifyKey(bytes: key.publicKey))
        let origin = try #require(ServerName("origin.example"))
        let receiver = try #require(ServerName("dest.example:8448"))
        let body: JSONValue = ["pdus": [], "edus": [["edu_type": "m.typing", "content": ["typing": true]]]]
        let uri = "/_matrix/federation/v1/send/txn1?x=%20y"
        let auth = try XMatrixAuthorization.sign(method: "PUT", uri: uri, origin: origin, destination: receiver,
                                                 content: body, key: key)
        let parsed = try XMatrixAuthorization(header: auth.headerValue)
        #expect(parsed == auth)
        try parsed.verify(method: "PUT", uri: uri, content: body, receiver: receiver, key: verifyKey)

        // The signature is the JSON-signing signature of the request object.
        let object = XMatrixAuthorization.requestJSON(method: "PUT", uri: uri, origin: origin, destination: receiver,
                                                      content: body)
        let signed = try JSONSigning.sign(object, as: origin.rawValue, with: key)
        #expect(signed["signatures"]?[origin.rawValue]?[key.keyID]?.stringValue == auth.signature)

        // Any change to what is signed breaks it.
        for (method, u, content) in [("POST", uri, body), ("PUT", uri + "&z", body), ("PUT", uri, nil as JSONValue?),
                                     ("PUT", uri, ["pdus": []] as JSONValue)] {
            #expect(throws: XMatrixAuthorization.Failure.badSignature(.badSignature)) {
                try parsed.verify(method: method, uri: u, content: content, receiver: receiver, key: verifyKey)
            }
        }
        let elsewhere = try #require(ServerName("other.example"))
        #expect(throws: XMatrixAuthorization.Failure.wrongDestination(receiver)) {
            try parsed.verify(method: "PUT", uri: uri, content: body, receiver: elsewhere, key: verifyKey)
        }
        // A pre-v1.3 header without destination is checked against the receiver's own name.
        var legacy = parsed
        legacy.destination = nil
        try legacy.verify(method: "PUT", uri: uri, content: body, receiver: receiver, key: verifyKey)
        #expect(!legacy.headerValue.contains("destination"))
        #expect(XMatrixAuthorization.Failure.wrongDestination(receiver).matrixError.status == 401)
    }
}
