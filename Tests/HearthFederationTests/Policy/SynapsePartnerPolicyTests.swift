import Foundation
import HearthCore
import HearthHomeserver
import HearthStorage
import Testing

/// The clinic policy with a real Synapse as the partner clinic and a recording Hearth as an
/// outsider: the partner room works with Synapse as any room would, while nothing the policy
/// keeps home reaches Synapse's database or the outsider's ears.
@Suite(.serialized, .enabled(if: FederationInterop.enabled, "set HEARTH_INTEROP=1 (after Scripts/setup-test-env.sh --synapse)"))
struct SynapsePartnerPolicyTests {
    /// Every byte of Synapse's SQLite database (with its WAL): what Synapse kept of what it got.
    static func synapseDatabase(_ synapse: SynapsePeer) -> [UInt8] {
        ["", "-wal", "-journal"].flatMap { suffix in
            (FileManager.default.contents(atPath: synapse.directory + "/homeserver.db" + suffix)).map(Array.init) ?? []
        }
    }

    @Test func aSynapsePartnerSharesThePartnerRoomAndNothingElse() async throws {
        let ca = try TestCA()
        let synapse = try SynapsePeer(ca: ca)
        defer { synapse.destroy(); ca.remove() }
        try await synapse.start()
        let outsider = RequestRecorder()
        let r = try await FedTestServer.start(ca: ca, tap: outsider.tap)
        var policy = PolicyLeakTests.clinicPolicy(partner: synapse.serverName, outsider: r.name)
        // Synapse gets typing and receipts; presence and profiles stay home even for it.
        var partnerSharing = DataSharing.minimal
        partnerSharing.typing = .always
        partnerSharing.receipts = .always
        policy.destinationSharing = [(PolicyLeakTests.pattern(synapse.serverName), partnerSharing)]
        let a = try await FedTestServer.start(ca: ca, policy: nil, persistentAudit: true, configure: { $0.policy = policy })
        defer { Task { await a.destroy(); await r.destroy() } }

        let alice = try await a.homeserver.makeUser("alice")
        let realName = "Alice Clinicname-4242"
        try await a.homeserver.setProfile(alice, displayName: realName, avatarURL: nil)
        let sam = try await synapse.register("sam")

        // The partner room: Synapse joins, messages cross both ways, typing and receipts arrive.
        let partnerRoom = try await a.homeserver.publicRoom(by: alice, ["org.hearth.room_class": "partners"])
        try await synapse.call("POST", "/_matrix/client/v3/join/\(pct(partnerRoom.rawValue))?via=\(pct(a.name.rawValue))",
                               token: sam.token, json: [:])
        try await PolicyLeakTests.eventually("Hearth sees sam joined") { try await a.homeserver.membership(sam.id, partnerRoom) == "join" }
        let hello = try await a.homeserver.say(alice, in: partnerRoom, "partner-hello-1717")
        try await synapse.send(sam, partnerRoom, "from-synapse-2828")
        try await PolicyLeakTests.eventually("messages cross") {
            let onSynapse = try await synapse.bodies(sam, partnerRoom)
            let onHearth = try await a.homeserver.bodies(in: partnerRoom)
            return onSynapse.contains("partner-hello-1717") && onHearth.contains("from-synapse-2828")
        }
        // Sam sees Alice under her pseudonym for this room.
        let member = try await synapse.call("GET", "/_matrix/client/v3/rooms/\(pct(partnerRoom.rawValue))/state/m.room.member/\(pct(alice.rawValue))",
                                            token: sam.token)
        #expect(member["displayname"]?.stringValue == a.homeserver.rooms.pseudonym(of: alice, in: partnerRoom))
        await a.homeserver.setTyping(alice, in: partnerRoom, typing: true, timeout: 30_000)
        try await a.homeserver.setReceipt(alice, roomID: partnerRoom, eventID: hello, type: "m.read", threadID: nil)
        try await PolicyLeakTests.eventually("Synapse has Alice's read receipt") {
            let sync = try await synapse.call("GET", "/_matrix/client/v3/sync?timeout=0", token: sam.token)
            let ephemeral = sync["rooms"]?["join"]?[partnerRoom.rawValue]?["ephemeral"]?["events"]?.arrayValue ?? []
            return ephemeral.contains { $0["type"] == "m.receipt" && $0.encodedString().contains(alice.rawValue) }
        }

        // A local-only room: Synapse cannot join it, and never learns what is said there.
        let local = try await a.homeserver.publicRoom(by: alice, ["name": "Local only"])
        try await a.homeserver.say(alice, in: local, "local-secret-3939")
        let refused = try await synapse.request("POST", "/_matrix/client/v3/join/\(pct(local.rawValue))?via=\(pct(a.name.rawValue))",
                                                token: sam.token, json: [:])
        #expect(refused.status != 200)
        await PolicyLeakTests.expectForbidden("room_class.local_only") {
            try await a.homeserver.rooms.setMembership(local, sender: alice, target: sam.id, membership: "invite")
        }
        // Presence stays home; profile queries are refused to the partner too.
        await a.homeserver.setPresence(alice, state: "online", statusMessage: "presence-4646")
        let profile = try await synapse.request("GET", "/_matrix/client/v3/profile/\(pct(alice.rawValue))", token: sam.token)
        #expect(profile.json["displayname"]?.stringValue != realName)

        // The outsider cannot join the partner room and hears nothing of it.
        let rita = try await r.homeserver.makeUser("rita")
        await #expect(throws: (any Error).self) { try await r.homeserver.rooms.join(partnerRoom, user: rita, via: [a.name]) }
        try await PolicyLeakTests.drained(a, [synapse.serverName, r.name])

        // (The local room's ID is not on this list: Sam's own join attempt told Synapse of it.)
        let kept = Self.synapseDatabase(synapse)
        let keptPartnerMessage = kept.contains(subsequence: Array("partner-hello-1717".utf8))
        #expect(keptPartnerMessage)
        for forbidden in ["local-secret-3939", realName, "presence-4646"] {
            let found = kept.contains(subsequence: Array(forbidden.utf8))
            #expect(!found, "Synapse kept \(forbidden)")
        }
        for forbidden in ["partner-hello-1717", "local-secret-3939", realName, "presence-4646", String(partnerRoom.rawValue.dropFirst())] {
            #expect(!outsider.received(forbidden), "the outsider received \(forbidden)")
        }
        let records = try await a.homeserver.storage.federation.auditRecords(after: 0, limit: 100_000)
        #expect(AuditChain.firstBreak(in: records, anchor: "") == nil)
        #expect(records.contains { $0.destination == synapse.serverName.rawValue && $0.dataKind == "m.presence" && $0.decision == "refuse" })
        #expect(records.contains { $0.destination == synapse.serverName.rawValue && $0.dataKind == "profile" && $0.decision == "refuse" })
    }
}
