import Foundation
import HearthCore
import HearthHomeserver
import HearthServer
import HearthStorage
import Testing

/// The organization policy through the client API: how rooms get and change their class,
/// what a client hears when an action would cross the boundary, and the admin endpoints.
/// What actually leaves is tested against recording peers in HearthFederationTests.
@Suite(.serialized) struct PolicyTests {
    static let clinicYAML = """
        server_name: clinic.example
        organization_policy:
          federation:
            mode: allowlist
            servers: ["partner.example", "*.trusted.example", "peer.example:8448"]
          rooms:
            default_class: local_only
            default_class_by_room_type:
              m.space: partners
            default_class_for_admins: partners
            partners: ["partner.example"]
            room_admins_may_choose: [local_only, partners]
          sharing:
            typing: false
            receipts: [partners]
            presence: false
            device_display_names: false
            profile_queries: refuse
            room_directory: false
            media: rooms
          destinations:
            - servers: ["partner.example"]
              sharing:
                typing: true
                presence: true
                profile_queries: shared_rooms
          federated_profile: pseudonym
          invites:
            from_servers: ["partner.example"]
            remote_invites_by: admins
          audit:
            retention: 365d
        """

    @Test func aClinicPolicyParsesIntoItsRules() throws {
        let config = try HearthConfig.parse(yaml: Self.clinicYAML, baseDirectory: "/tmp")
        let policy = config.policy
        let partner = ServerName("partner.example")!
        #expect(policy.federates(with: partner).allowed)
        #expect(policy.federates(with: ServerName("a.trusted.example:443")!).allowed)
        #expect(policy.federates(with: ServerName("peer.example:8448")!).allowed)
        #expect(!policy.federates(with: ServerName("peer.example:8449")!).allowed)
        #expect(policy.federates(with: ServerName("elsewhere.example")!).rule == "federation.allowlist")
        #expect(policy.rooms.initialClass(roomType: nil, creatorIsAdmin: false) == .localOnly)
        #expect(policy.rooms.initialClass(roomType: "m.space", creatorIsAdmin: false) == .partners)
        #expect(policy.rooms.initialClass(roomType: nil, creatorIsAdmin: true) == .partners)
        #expect(policy.rooms.roomAdminsMayChoose == [.localOnly, .partners])
        let partnersRoom = RoomPolicy(roomClass: .partners)
        #expect(policy.room(partnersRoom, reaches: partner).allowed)
        #expect(policy.room(partnersRoom, reaches: ServerName("a.trusted.example")!).rule == "room_class.partners")
        #expect(!policy.room(RoomPolicy(roomClass: .localOnly), reaches: partner).allowed)
        // Per destination: the partner gets typing and presence, others nothing of the sort.
        #expect(policy.ephemeral(.typing, of: partnersRoom, reaches: partner).allowed)
        #expect(!policy.ephemeral(.typing, of: RoomPolicy(roomClass: .open), reaches: ServerName("a.trusted.example")!).allowed)
        #expect(policy.ephemeral(.receipts, of: partnersRoom, reaches: partner).allowed)
        #expect(policy.presence(reaches: partner).allowed && !policy.presence(reaches: ServerName("a.trusted.example")!).allowed)
        #expect(policy.sharing(for: partner).profileQueries == .sharedRooms)
        #expect(policy.sharing(for: partner).deviceDisplayNames == false)
        #expect(policy.federatedProfile == .pseudonym)
        #expect(policy.acceptsInvite(from: partner).allowed && !policy.acceptsInvite(from: ServerName("a.trusted.example")!).allowed)
        #expect(!policy.mayInviteRemoteUsers(UserID("@m:clinic.example")!, isAdmin: false).allowed)
        #expect(policy.mayInviteRemoteUsers(UserID("@m:clinic.example")!, isAdmin: true).allowed)
        #expect(policy.auditRetention == 31_536_000_000)

        // Without the section, everything is allowed.
        let open = try HearthConfig.parse(yaml: "server_name: open.example\n", baseDirectory: "/tmp").policy
        #expect(open == OrganizationPolicy())
        #expect(open.room(RoomPolicy(roomClass: .open), reaches: partner).allowed)
        #expect(open.ephemeral(.typing, of: RoomPolicy(roomClass: .open), reaches: partner).allowed)
    }

    @Test func mistakesInThePolicyAreErrorsThatNameTheKey() {
        let cases: [(String, String)] = [
            ("organization_policy:\n  federation:\n    mode: closed\n", "mode"),
            ("organization_policy:\n  federation:\n    mode: open\n    servers: [a.example]\n", "servers"),
            ("organization_policy:\n  rooms:\n    default_class: secret\n", "default_class"),
            ("organization_policy:\n  sharing:\n    typing: sometimes\n", "typing"),
            ("organization_policy:\n  sharing:\n    tpying: false\n", "tpying"),
            ("organization_policy:\n  invites:\n    remote_invites_by: [\"not a user\"]\n", "remote_invites_by"),
            ("organization_policy:\n  destinations:\n    - sharing: {presence: false}\n", "servers"),
            ("organization_policy:\n  federation:\n    mode: allowlist\n    servers: [\"bad/name\"]\n", "servers"),
        ]
        for (yaml, key) in cases {
            do {
                _ = try HearthConfig.parse(yaml: "server_name: x.example\n" + yaml, baseDirectory: "/tmp")
                Issue.record("accepted: \(yaml)")
            } catch let error as ConfigError {
                #expect(error.message.contains(key), "\(error.message)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func roomsGetTheirClassAtCreationAndRoomAdminsChangeItWithinTheRules() async throws {
        var policy = OrganizationPolicy()
        policy.rooms.defaultClass = .localOnly
        policy.rooms.partners = [ServerName("partner.example")!]
        policy.rooms.roomAdminsMayChoose = [.localOnly, .partners]
        let server = try await TestServer.start { $0.policy = policy }
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let admin = try await server.register("admin")
        try await server.homeserver.storage.accounts.setAdmin(UserID(admin.userID)!, true)

        func roomClass(_ room: String, _ user: TestServer.User) async throws -> TestServer.Response {
            try await server.get("/_hearth/admin/v1/rooms/\(room.urlPathEncoded)/class", user)
        }
        func setClass(_ room: String, _ user: TestServer.User, _ body: JSONValue) async throws -> TestServer.Response {
            try await server.put("/_hearth/admin/v1/rooms/\(room.urlPathEncoded)/class", user, body)
        }

        // The default class, with m.federate false in the create event.
        let group = try await server.createRoom(alice, ["preset": "private_chat"])
        let groupClass = try await roomClass(group, alice)
        groupClass.expectOK()
        #expect(groupClass.json["class"] == "local_only")
        let create = try await server.get(TestServer.room(group, "/state/m.room.create/"), alice)
        #expect(create.json["m.federate"] == false)
        // Non-members cannot read it; a bad class is M_BAD_JSON.
        try await roomClass(group, bob).expectError(403, "M_FORBIDDEN")
        try await setClass(group, alice, ["class": "secret"]).expectError(400, "M_BAD_JSON")
        // A room created local-only stays local-only, even for server admins.
        try await setClass(group, admin, ["class": "open"]).expectError(403, "M_FORBIDDEN")

        // Asking for a class at creation: room admins only within room_admins_may_choose.
        let refused = try await server.post(TestServer.v3("/createRoom"), alice, ["org.hearth.room_class": "open"])
        refused.expectError(403, "M_FORBIDDEN")
        #expect(refused.json["error"]?.stringValue?.contains("rooms.room_admins_may_choose") == true)
        let shared = try await server.createRoom(alice, ["org.hearth.room_class": "partners", "preset": "private_chat"])
        #expect(try await roomClass(shared, alice).json["class"] == "partners")
        let acl = try await server.get(TestServer.room(shared, "/state/m.room.server_acl/"), alice)
        #expect(acl.json["allow"] == ["hearth.test", "partner.example"])
        let openByAdmin = try await server.createRoom(admin, ["org.hearth.room_class": "open"])
        #expect(try await roomClass(openByAdmin, admin).json["class"] == "open")

        // Changing a class: the room's admin may narrow it; others in the room may not.
        try await server.invite(alice, shared, bob)
        try await server.join(bob, shared)
        try await setClass(shared, bob, ["class": "local_only"]).expectError(403, "M_FORBIDDEN")
        try await setClass(shared, alice, ["class": "open"]).expectError(403, "M_FORBIDDEN")
        try await setClass(shared, alice, ["class": "local_only"]).expectOK()
        #expect(try await roomClass(shared, bob).json["class"] == "local_only")
        try await setClass(shared, admin, ["class": "open"]).expectOK()
        #expect(try await roomClass(shared, admin).json["class"] == "open")

        // A reloaded policy with other default partners: partners rooms that follow the
        // default get an ACL naming them.
        let following = try await server.createRoom(alice, ["org.hearth.room_class": "partners", "preset": "private_chat"])
        var reloaded = policy
        reloaded.rooms.partners = [ServerName("partner.example")!, ServerName("second.example")!]
        server.homeserver.settings.policy.replace(reloaded)
        await server.homeserver.rooms.refreshPartnerACLs()
        let updated = try await server.get(TestServer.room(following, "/state/m.room.server_acl/"), alice)
        #expect(updated.json["allow"] == ["hearth.test", "partner.example", "second.example"])
    }

    @Test func actionsThatWouldCrossTheBoundaryAreForbiddenNamingTheRule() async throws {
        var policy = OrganizationPolicy()
        policy.federation = .allowlist([ServerPattern("partner.example")!])
        policy.invites.outbound = .admins
        let server = try await TestServer.start { $0.policy = policy }
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice, ["preset": "private_chat"])

        // Inviting a user of a server outside the allowlist, and a partner by a non-admin.
        let outsider = try await server.post(TestServer.room(room, "/invite"), alice, ["user_id": "@eve:elsewhere.example"])
        outsider.expectError(403, "M_FORBIDDEN")
        #expect(outsider.json["error"]?.stringValue?.contains("invites.outbound") == true)
        try await server.homeserver.storage.accounts.setAdmin(UserID(alice.userID)!, true)
        let notAllowed = try await server.post(TestServer.room(room, "/invite"), alice, ["user_id": "@eve:elsewhere.example"])
        notAllowed.expectError(403, "M_FORBIDDEN")
        #expect(notAllowed.json["error"]?.stringValue?.contains("federation.allowlist") == true)
        // createRoom with such an invitee creates nothing.
        let before = try await server.get(TestServer.v3("/joined_rooms"), alice).json["joined_rooms"]?.arrayValue?.count
        let created = try await server.post(TestServer.v3("/createRoom"), alice, ["invite": ["@eve:elsewhere.example"]])
        created.expectError(403, "M_FORBIDDEN")
        #expect(try await server.get(TestServer.v3("/joined_rooms"), alice).json["joined_rooms"]?.arrayValue?.count == before)
        // Joining a room through a server outside the allowlist.
        let join = try await server.post(TestServer.v3("/join/\("!faraway:elsewhere.example".urlPathEncoded)"), alice)
        join.expectError(403, "M_FORBIDDEN")
        #expect(join.json["error"]?.stringValue?.contains("federation.allowlist") == true)
    }

    @Test func theAdminAPIExplainsThePolicyAndServesTheAuditLog() async throws {
        var policy = OrganizationPolicy()
        policy.federation = .allowlist([ServerPattern("partner.example")!])
        policy.sharing = .minimal
        policy.federatedProfile = .pseudonym
        let server = try await TestServer.start { $0.policy = policy }
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let admin = try await server.register("admin")
        try await server.homeserver.storage.accounts.setAdmin(UserID(admin.userID)!, true)
        let room = try await server.createRoom(alice, ["org.hearth.room_class": "open"])

        let query = "destination=partner.example&room_id=\(room.urlPathEncoded)&user_id=\(alice.userID.urlPathEncoded)"
        try await server.get("/_hearth/admin/v1/policy/explain?\(query)", alice).expectError(403, "M_FORBIDDEN")
        let explained = try await server.get("/_hearth/admin/v1/policy/explain?\(query)", admin)
        explained.expectOK()
        #expect(explained.json["room_class"] == "open")
        let lines = explained.json["lines"]?.arrayValue ?? []
        func line(_ subject: String) -> JSONValue? { lines.first { $0["subject"]?.stringValue?.hasPrefix(subject) == true } }
        #expect(line("federation")?["decision"] == "allow")
        #expect(line("room events")?["decision"] == "allow")
        #expect(line("typing")?["rule"] == "sharing.typing" && line("typing")?["decision"] == "refuse")
        #expect(line("presence")?["decision"] == "refuse")
        #expect(line("profile queries")?["rule"] == "profiles.refuse")
        #expect(line("display name and avatar")?["reason"]?.stringValue?.contains("pseudonym") == true)
        let elsewhere = try await server.get("/_hearth/admin/v1/policy/explain?destination=elsewhere.example", admin)
        #expect(elsewhere.json["lines"]?.arrayValue?.first?["rule"] == "federation.allowlist")
        try await server.get("/_hearth/admin/v1/policy/explain", admin).expectError(400, "M_MISSING_PARAM")

        // The audit log: admins only, filtered, and its chain verifiable.
        let store = server.homeserver.storage.federation
        try await store.appendAuditRecords([
            EgressAuditRecordFixture.record(destination: "partner.example", decision: "allow", room: room),
            EgressAuditRecordFixture.record(destination: "elsewhere.example", decision: "refuse", room: nil),
        ])
        try await server.get("/_hearth/admin/v1/audit", alice).expectError(403, "M_FORBIDDEN")
        let refusals = try await server.get("/_hearth/admin/v1/audit?decision=refuse", admin)
        #expect(refusals.json["records"]?.arrayValue?.map { $0["destination"] } == ["elsewhere.example"])
        let byRoom = try await server.get("/_hearth/admin/v1/audit?room_id=\(room.urlPathEncoded)", admin)
        #expect(byRoom.json["records"]?.arrayValue?.count == 1)
        let paged = try await server.get("/_hearth/admin/v1/audit?limit=1", admin)
        #expect(paged.json["next_from"] == 1)
        let verified = try await server.get("/_hearth/admin/v1/audit/verify", admin)
        #expect(verified.json["intact"] == true && verified.json["records_checked"] == 2)
    }
}

enum EgressAuditRecordFixture {
    static func record(destination: String, decision: String, room: String?) -> EgressAuditRecord {
        EgressAuditRecord(timestamp: 1_000, destination: destination, kind: "transaction", method: "PUT",
                          path: "/_matrix/federation/v1/send/1", decision: decision, reason: nil, bodyDigest: nil, bodySize: 0,
                          dataKind: "pdu", roomID: room, userID: "@alice:hearth.test", rule: "room_class.open")
    }
}
