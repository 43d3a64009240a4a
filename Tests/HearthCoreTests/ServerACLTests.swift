import HearthCore
import Testing

@Suite struct ServerACLTests {
    @Test func aclVectors() throws {
        let cases = try SpecVectors.verifiedCases("server-acl")
        #expect(cases.count == 11)
        for testCase in cases {
            let name = try #require(testCase["server_name"]?.stringValue)
            let server = try #require(ServerName(name), "\(name)")
            let acl = ServerACL(content: try #require(testCase["acl_content"]?.objectValue))
            let expected = try #require(testCase["expected"]?.stringValue)
            #expect(acl.allows(server) == (expected == "allow"), "\(name)")
        }
    }

    @Test func defaultsAndEdgeCases() throws {
        let server = try #require(ServerName("matrix.org"))
        let ip = try #require(ServerName("10.0.0.1:8448"))
        #expect(ServerACL.allows(server, acl: nil))
        #expect(ServerACL.allows(ip, acl: nil))
        // allow_ip_literals defaults to true when missing or not a boolean.
        #expect(ServerACL(content: ["allow": ["*"], "allow_ip_literals": "false"]).allows(ip))
        #expect(ServerACL(content: ["allow": ["*"]]).allows(ip))
        // Non-string entries and a non-array list are ignored.
        #expect(ServerACL(content: ["allow": [1, "matrix.org"]]).allows(server))
        #expect(!ServerACL(content: ["allow": "*"]).allows(server))
        // `?` is exactly one character; patterns compare without the port.
        #expect(ServerACL(content: ["allow": ["matrix.or?"]]).allows(server))
        #expect(!ServerACL(content: ["allow": ["matrix.org?"]]).allows(server))
        #expect(ServerACL(content: ["allow": ["10.0.0.*"]]).allows(ip))
        #expect(!ServerACL(content: ["allow": ["*:8448"]]).allows(ip))
        #expect(ServerACL(content: ["allow": ["[::1]"]]).allows(try #require(ServerName("[::1]:8448"))))
    }

    @Test func globsDoNotBacktrackExponentially() {
        let pattern = GlobPattern(String(repeating: "*a", count: 40) + "b")
        #expect(!pattern.matches(String(repeating: "a", count: 5_000)))
        #expect(GlobPattern("").matches(""))
        #expect(!GlobPattern("").matches("a"))
        #expect(GlobPattern("*").matches(""))
        #expect(GlobPattern("a*b?c").matches("AxxBzC"))
        #expect(GlobPattern(literal: "a*").matches("A*") && !GlobPattern(literal: "a*").matches("ab"))
    }
}
