import Foundation
import HearthCore
import HearthFederation
import HearthHomeserver
import HearthServer
import HearthStorage
import Synchronization
import Testing

/// Keeps every byte a server was sent: request line, headers and body.
final class RequestRecorder: Sendable {
    private let requests = Mutex<[TappedRequest]>([])

    var tap: RequestTap { { request in self.requests.withLock { $0.append(request) } } }

    var all: [TappedRequest] { requests.withLock { $0 } }

    /// Everything received, as one byte string per request.
    private var transcripts: [[UInt8]] {
        all.map { request in
            Array("\(request.method) \(request.uri)\n".utf8)
                + request.headers.flatMap { Array("\($0.0): \($0.1)\n".utf8) } + request.body
        }
    }

    /// Whether `text` appears anywhere in what was received (raw or percent-encoded, as URIs
    /// carry identifiers).
    func received(_ text: String) -> Bool {
        let needles = [Array(text.utf8), Array(percentEncoded(text).utf8)]
        return transcripts.contains { bytes in needles.contains { bytes.contains(subsequence: $0) } }
    }

    func requests(from origin: ServerName) -> [TappedRequest] {
        all.filter { request in request.headers.contains { $0.0.lowercased() == "authorization" && $0.1.contains("origin=\"\(origin.rawValue)\"") } }
    }

    private func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let character = Character(Unicode.Scalar(byte))
            if character.isLetter || character.isNumber || "-._~".contains(character) { result.append(character) } else {
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        for start in 0...(count - needle.count) where self[start] == needle[0] {
            if self[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}

/// The organization policy's leak tests: Hearth (A) under a clinic's policy, a partner server
/// (P) and an outsider (R), both recording every byte they are sent. Local users do what
/// clients do; the assertions are on the bytes P and R received, not on A's bookkeeping.
@Suite(.serialized) struct PolicyLeakTests {
    static func pattern(_ name: ServerName) -> ServerPattern { ServerPattern(name.rawValue)! }

    static func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        try await TLSRoomTests.eventually(what, condition)
    }

    /// Waits until A's outbound queues are empty for `servers` (so "nothing arrived" means
    /// nothing was sent, not nothing yet).
    static func drained(_ a: FedTestServer, _ servers: [ServerName]) async throws {
        try await eventually("A's queues are drained") {
            for server in servers where try await a.homeserver.storage.federation.hasQueuedItems(for: server) { return false }
            return true
        }
        try await Task.sleep(for: .milliseconds(300))
    }

    static func expectForbidden(_ rule: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected M_FORBIDDEN (\(rule))")
        } catch let error as MatrixError {
            #expect(error.code == .forbidden, "\(error)")
            #expect(error.message.contains(rule), "\(error.message)")
        } catch {
            Issue.record("expected M_FORBIDDEN (\(rule)), got \(error)")
        }
    }

    /// A clinic: federation with P and R only; new rooms local-only; P the default partner and
    /// the only server receiving typing, receipts, presence and profiles; pseudonyms in
    /// federated rooms; invites accepted from P only.
    static func clinicPolicy(partner: ServerName, outsider: ServerName) -> OrganizationPolicy {
        var policy = OrganizationPolicy()
        policy.federation = .allowlist([pattern(partner), pattern(outsider)])
        policy.rooms.defaultClass = .localOnly
        policy.rooms.partners = [partner]
        policy.sharing = .minimal
        var partnerSharing = DataSharing()
        partnerSharing.profileQueries = .sharedRooms
        policy.destinationSharing = [(pattern(partner), partnerSharing)]
        policy.federatedProfile = .pseudonym
        policy.invites.inbound = .servers([pattern(partner)])
        return policy
    }

    @Test func aClinicPolicyKeepsEachRoomAndEachKindOfDataWithinItsBoundary() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let outsiderRecorder = RequestRecorder()
        let partnerRecorder = RequestRecorder()
        let r = try await FedTestServer.start(ca: ca, tap: outsiderRecorder.tap)
        let p = try await FedTestServer.start(ca: ca, tap: partnerRecorder.tap)
        let policy = Self.clinicPolicy(partner: p.name, outsider: r.name)
        let a = try await FedTestServer.start(ca: ca, policy: nil, persistentAudit: true, configure: { $0.policy = policy })
        defer { Task { await a.destroy(); await p.destroy(); await r.destroy() } }

        let alice = try await a.homeserver.makeUser("alice")
        let rita = try await r.homeserver.makeUser("rita")
        let paul = try await p.homeserver.makeUser("paul")
        let realName = "Alice Realname-7731"
        let avatar = try await a.homeserver.media.upload(Array("avatar-bytes".utf8), contentType: "image/png", fileName: nil,
                                                         uploader: alice)
        try await a.homeserver.setProfile(alice, displayName: realName, avatarURL: avatar)

        // A local-only room (the policy's default for new rooms).
        let local = try await a.homeserver.publicRoom(by: alice, ["name": "Local group", "visibility": "public"])
        #expect(try await a.homeserver.rooms.roomPolicy(local).roomClass == .localOnly)
        try await a.homeserver.say(alice, in: local, "secret-local-4411")
        let localMedia = try await a.homeserver.media.upload(Array("local-media-bytes".utf8), contentType: "text/plain",
                                                             fileName: nil, uploader: alice)
        try await a.homeserver.rooms.send(local, sender: alice, type: "m.room.message",
                                          content: ["msgtype": "m.file", "body": "notes.txt", "url": .string(localMedia)])
        await Self.expectForbidden("room_class.local_only") {
            try await a.homeserver.rooms.setMembership(local, sender: alice, target: rita, membership: "invite")
        }
        await #expect(throws: (any Error).self) { try await r.homeserver.rooms.join(local, user: rita, via: [a.name]) }

        // A partners room: P may take part, R may not.
        let partnerRoom = try await a.homeserver.publicRoom(by: alice, ["org.hearth.room_class": "partners", "visibility": "public"])
        let acl = try await a.homeserver.rooms.currentStateEvent(partnerRoom, StateKey("m.room.server_acl", ""))
        // Both are "localhost" here: ACLs match host names, not ports.
        #expect(acl?.content["allow"] == JSONValue(["localhost"]))
        try await a.homeserver.rooms.setMembership(partnerRoom, sender: alice, target: paul, membership: "invite")
        try await Self.eventually("paul is invited") {
            try await p.homeserver.rooms.memberships(of: paul).contains { $0.roomID == partnerRoom && $0.membership == "invite" }
        }
        try await p.homeserver.rooms.join(partnerRoom, user: paul, via: [a.name])
        let partnerMessage = try await a.homeserver.say(alice, in: partnerRoom, "secret-partner-5522")
        try await Self.eventually("paul reads the partner room") {
            try await p.homeserver.bodies(in: partnerRoom).contains("secret-partner-5522")
        }
        await Self.expectForbidden("room_class.partners") {
            try await a.homeserver.rooms.setMembership(partnerRoom, sender: alice, target: rita, membership: "invite")
        }
        await #expect(throws: (any Error).self) { try await r.homeserver.rooms.join(partnerRoom, user: rita, via: [a.name]) }

        // An open room that both P and R join.
        let open = try await a.homeserver.publicRoom(by: alice, ["org.hearth.room_class": "open", "visibility": "public"])
        try await r.homeserver.rooms.join(open, user: rita, via: [a.name])
        try await p.homeserver.rooms.join(open, user: paul, via: [a.name])
        let hello = try await a.homeserver.say(alice, in: open, "open-hello")
        try await Self.eventually("rita reads the open room") { try await r.homeserver.bodies(in: open).contains("open-hello") }
        // Alice's member event there carries her pseudonym, chosen when it was made.
        let member = try await a.homeserver.rooms.currentStateEvent(open, .member(alice))
        #expect(member?.content["displayname"]?.stringValue == a.homeserver.rooms.pseudonym(of: alice, in: open))
        #expect(member?.content["avatar_url"] == nil)

        // Ephemeral data in the open room: only the partner receives it.
        await a.homeserver.setTyping(alice, in: open, typing: true, timeout: 30_000)
        try await a.homeserver.setReceipt(alice, roomID: open, eventID: hello, type: "m.read", threadID: nil)
        await a.homeserver.setPresence(alice, state: "online", statusMessage: "presence-status-3131")
        try await Self.eventually("the partner receives typing, receipts and presence") {
            partnerRecorder.received("\"m.typing\"") && partnerRecorder.received("\"m.receipt\"")
                && partnerRecorder.received("presence-status-3131")
        }

        // Profiles: refused to R, answered to P (who shares a room with Alice).
        await #expect(throws: (any Error).self) {
            _ = try await r.federation.client.get("/_matrix/federation/v1/query/profile", query: [("user_id", alice.rawValue)],
                                                  from: a.name)
        }
        let profile = try await p.federation.client.get("/_matrix/federation/v1/query/profile",
                                                        query: [("user_id", alice.rawValue)], from: a.name)
        #expect(profile["displayname"]?.stringValue == realName)

        // Media: what was posted only in the local-only room is not served to anyone outside.
        let localMediaID = String(localMedia.split(separator: "/").last!)
        await #expect(throws: (any Error).self) {
            _ = try await r.federation.client.request("GET", "/_matrix/federation/v1/media/download/\(localMediaID)", json: nil,
                                                      destination: a.name)
        }
        let openMedia = try await a.homeserver.media.upload(Array("open-media-bytes".utf8), contentType: "text/plain", fileName: nil,
                                                            uploader: alice)
        try await a.homeserver.rooms.send(open, sender: alice, type: "m.room.message",
                                          content: ["msgtype": "m.file", "body": "open.txt", "url": .string(openMedia)])
        let served = try await r.federation.client.request(
            "GET", "/_matrix/federation/v1/media/download/\(openMedia.split(separator: "/").last!)", json: nil, destination: a.name)
        #expect(served.status == 200)

        // The room directory: refused to R; P's view leaves out the rooms P may not see.
        await #expect(throws: (any Error).self) { _ = try await r.federation.client.get("/_matrix/federation/v1/publicRooms", from: a.name) }
        let directory = try await p.federation.client.get("/_matrix/federation/v1/publicRooms", from: a.name)
        let listed = Set((directory["chunk"]?.arrayValue ?? []).compactMap { $0["room_id"]?.stringValue })
        #expect(listed.contains(open.rawValue) && listed.contains(partnerRoom.rawValue) && !listed.contains(local.rawValue))

        // Invites: accepted from P, refused from R.
        let ritasRoom = try await r.homeserver.publicRoom(by: rita)
        await #expect(throws: (any Error).self) {
            try await r.homeserver.rooms.setMembership(ritasRoom, sender: rita, target: alice, membership: "invite")
        }
        #expect(try await !a.homeserver.rooms.memberships(of: alice).contains { $0.roomID == ritasRoom })
        let paulsRoom = try await p.homeserver.publicRoom(by: paul)
        try await p.homeserver.rooms.setMembership(paulsRoom, sender: paul, target: alice, membership: "invite")
        #expect(try await a.homeserver.rooms.memberships(of: alice).contains { $0.roomID == paulsRoom && $0.membership == "invite" })

        // The open room becomes local-only: from now on nothing of it leaves, to anyone.
        try await a.homeserver.rooms.changeRoomClass(open, to: .localOnly, partners: [], by: alice, isServerAdmin: false)
        let closing = try await a.homeserver.say(alice, in: open, "after-closing-9090")
        // Reactions, edits and redactions are room events like any other: they stay home too.
        try await a.homeserver.rooms.send(open, sender: alice, type: "m.reaction", content: [
            "m.relates_to": ["rel_type": "m.annotation", "event_id": .string(closing.rawValue), "key": "reaction-key-5656"]])
        try await a.homeserver.rooms.send(open, sender: alice, type: "m.room.message", content: [
            "msgtype": "m.text", "body": "* edited-5757", "m.new_content": ["msgtype": "m.text", "body": "edited-5757"],
            "m.relates_to": ["rel_type": "m.replace", "event_id": .string(closing.rawValue)]])
        _ = try await a.homeserver.rooms.redact(open, sender: alice, target: closing, reason: "redaction-reason-5858", transaction: nil)
        try await a.homeserver.say(alice, in: partnerRoom, "partner-only-5959")
        try await a.homeserver.rooms.send(partnerRoom, sender: alice, type: "m.reaction", content: [
            "m.relates_to": ["rel_type": "m.annotation", "event_id": .string(partnerMessage.rawValue), "key": "partner-reaction-6060"]])
        try await Self.eventually("the partner receives the partner room's reaction") { partnerRecorder.received("partner-reaction-6060") }
        try await Self.drained(a, [r.name, p.name])

        // What R received: the open room's messages, and nothing the policy keeps from it.
        #expect(outsiderRecorder.received("open-hello"))
        for forbidden in ["secret-local-4411", "secret-partner-5522", "after-closing-9090", "reaction-key-5656", "edited-5757",
                          "redaction-reason-5858", "partner-only-5959", "partner-reaction-6060", realName, avatar, "avatar-bytes",
                          "local-media-bytes", "presence-status-3131", "\"m.typing\"", "\"m.receipt\"", "\"m.presence\"",
                          String(local.rawValue.dropFirst()), String(partnerRoom.rawValue.dropFirst())] {
            #expect(!outsiderRecorder.received(forbidden), "R received \(forbidden)")
        }
        for forbidden in ["secret-local-4411", "after-closing-9090", "reaction-key-5656", "edited-5757", "redaction-reason-5858",
                          "local-media-bytes", String(local.rawValue.dropFirst())] {
            #expect(!partnerRecorder.received(forbidden), "P received \(forbidden)")
        }

        // R cannot push events into the partners room either: its PDU is refused, naming the rule.
        let version = try await a.homeserver.rooms.version(of: partnerRoom)
        let forged = try EventHashing.hashAndSign([
            "type": "m.room.message", "room_id": .string(partnerRoom.rawValue), "sender": .string(rita.rawValue),
            "content": ["msgtype": "m.text", "body": "pushed-in-6161"], "depth": 100, "origin_server_ts": 1_700_000_000_000,
            "prev_events": [], "auth_events": [],
        ], server: r.name, key: r.homeserver.signingKey, version: version)
        let pushed = try PDU(json: forged, version: version)
        let answer = try await r.federation.client.sendTransaction("push-1", pdus: [forged], edus: [], originServerTS: 1, to: a.name)
        #expect(answer["pdus"]?[pushed.eventID.rawValue]?["error"]?.stringValue?.contains("room_class.partners") == true)
        #expect(try await a.homeserver.storage.rooms.event(pushed.eventID) == nil)

        // Every decision is in A's audit log, chained; the refusals name their rules.
        let records = try await a.homeserver.storage.federation.auditRecords(after: 0, limit: 100_000)
        #expect(AuditChain.firstBreak(in: records, anchor: "") == nil)
        let refusals = records.filter { $0.decision == "refuse" }
        #expect(refusals.contains { $0.rule == "room_class.local_only" && $0.dataKind == "pdu" && $0.roomID == open.rawValue
            && $0.destination == r.name.rawValue })
        #expect(refusals.contains { $0.rule == "sharing.typing" && $0.destination == r.name.rawValue })
        #expect(refusals.contains { $0.rule == "profiles.refuse" && $0.userID == alice.rawValue })
        #expect(refusals.contains { $0.rule == "media.rooms" && $0.destination == r.name.rawValue })
        #expect(refusals.contains { $0.rule == "invites.inbound" && $0.destination == r.name.rawValue })
        #expect(records.contains { $0.decision == "allow" && $0.dataKind == "pdu" && $0.destination == p.name.rawValue })
    }

    @Test func withFederationOffNothingLeavesAtAll() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let recorder = RequestRecorder()
        let r = try await FedTestServer.start(ca: ca, tap: recorder.tap)
        var policy = OrganizationPolicy()
        policy.federation = .off
        let a = try await FedTestServer.start(ca: ca, policy: nil, persistentAudit: true, configure: { $0.policy = policy })
        defer { Task { await a.destroy(); await r.destroy() } }
        let alice = try await a.homeserver.makeUser("alice")
        let rita = try await r.homeserver.makeUser("rita")
        let room = try await a.homeserver.publicRoom(by: alice, ["org.hearth.room_class": "open"])
        try await a.homeserver.say(alice, in: room, "nobody-else-2020")
        await Self.expectForbidden("federation.off") {
            try await a.homeserver.rooms.setMembership(room, sender: alice, target: rita, membership: "invite")
        }
        await Self.expectForbidden("federation.off") {
            try await a.homeserver.rooms.join(RoomID("!elsewhere:\(r.name.rawValue)")!, user: alice, via: [r.name])
        }
        await #expect(throws: (any Error).self) { try await r.homeserver.rooms.join(room, user: rita, via: [a.name]) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(recorder.all.isEmpty, "R was sent \(recorder.all.map(\.uri))")
        #expect(!recorder.received("nobody-else-2020"))
        let records = try await a.homeserver.storage.federation.auditRecords(after: 0, limit: 1000)
        #expect(!records.isEmpty && records.allSatisfy { $0.decision == "refuse" })
    }

    @Test func aDenylistedServerGetsNothingWhileOthersFederate() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let deniedRecorder = RequestRecorder()
        let r = try await FedTestServer.start(ca: ca, tap: deniedRecorder.tap)
        let p = try await FedTestServer.start(ca: ca)
        var policy = OrganizationPolicy()
        policy.federation = .open(deny: [Self.pattern(r.name)])
        let a = try await FedTestServer.start(ca: ca, policy: nil, configure: { $0.policy = policy })
        defer { Task { await a.destroy(); await p.destroy(); await r.destroy() } }
        let alice = try await a.homeserver.makeUser("alice")
        let paul = try await p.homeserver.makeUser("paul")
        let rita = try await r.homeserver.makeUser("rita")
        let room = try await a.homeserver.publicRoom(by: alice)
        try await p.homeserver.rooms.join(room, user: paul, via: [a.name])
        await #expect(throws: (any Error).self) { try await r.homeserver.rooms.join(room, user: rita, via: [a.name]) }
        try await a.homeserver.say(alice, in: room, "for-partners-only-8080")
        try await Self.eventually("paul reads it") { try await p.homeserver.bodies(in: room).contains("for-partners-only-8080") }
        // What R sends is refused before it is looked at, whatever it is.
        await #expect(throws: (any Error).self) {
            _ = try await r.federation.client.put("/_matrix/federation/v1/send/denied-1", json: ["origin": .string(r.name.rawValue),
                                                  "origin_server_ts": 1, "pdus": [], "edus": []], to: a.name)
        }
        await #expect(throws: (any Error).self) {
            _ = try await r.federation.client.get("/_matrix/federation/v1/state_ids/\(pct(room.rawValue))", query: [], from: a.name)
        }
        try await Self.drained(a, [p.name, r.name])
        #expect(deniedRecorder.all.isEmpty, "R was sent \(deniedRecorder.all.map(\.uri))")
        #expect(!deniedRecorder.received("for-partners-only-8080"))
    }
}
