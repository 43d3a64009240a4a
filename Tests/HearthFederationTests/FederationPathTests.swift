import HearthFederation
import Testing

@Suite struct FederationPathTests {
    @Test func segmentsArePercentEncoded() {
        #expect(FederationPath.make("v1", "state", "!room:example.org") == "/_matrix/federation/v1/state/%21room%3Aexample.org")
        #expect(FederationPath.make("v2", "invite", "!r:a", "$ev/x+y") == "/_matrix/federation/v2/invite/%21r%3Aa/%24ev%2Fx%2By")
        #expect(FederationPath.query([("event_id", "$a:b"), ("limit", "10")]) == "event_id=%24a%3Ab&limit=10")
    }
}
