import Foundation
import HearthCore
import HearthHomeserver
import HearthStorage
import Testing

/// Hearth and a real Synapse federating over TLS on loopback (both trust the test's CA).
/// Needs HEARTH_INTEROP=1 and the .venv from `Scripts/setup-test-env.sh --synapse`.
@Suite(.serialized, .enabled(if: FederationInterop.enabled, "set HEARTH_INTEROP=1 (after Scripts/setup-test-env.sh --synapse)"))
struct SynapseFederationTests {
    struct Pair {
        let ca: TestCA
        let synapse: SynapsePeer
        let hearth: FedTestServer
        var hs: Homeserver { hearth.homeserver }
        func destroy() async {
            synapse.destroy()
            await hearth.destroy()
            ca.remove()
        }
    }

    /// Runs `body` with a fresh Synapse and Hearth, stopping both (and Synapse's process)
    /// whatever happens.
    static func withPair(_ body: (Pair) async throws -> Void) async throws {
        let ca = try TestCA()
        let synapse = try SynapsePeer(ca: ca)
        let pair: Pair
        do {
            try await synapse.start()
            pair = Pair(ca: ca, synapse: synapse, hearth: try await FedTestServer.start(ca: ca))
        } catch {
            synapse.destroy()
            ca.remove()
            throw error
        }
        do { try await body(pair) } catch {
            await pair.destroy()
            throw error
        }
        await pair.destroy()
    }

    static func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
        try await TLSRoomTests.eventually(what, timeout: timeout, condition)
    }

    // MARK: Scenarios

    @Test func hearthJoinsASynapseRoomAndEverythingFlowsBothWays() async throws {
        try await Self.withPair { p in
            let sam = try await p.synapse.register("sam")
            let hanna = try await p.hs.makeUser("hanna")
            let room = try await p.synapse.createRoom(sam, ["preset": "public_chat", "name": "On Synapse"])
            try await p.synapse.send(sam, room, "before hanna")

            try await p.hs.rooms.join(room, user: hanna, via: [p.synapse.serverName])
            try await Self.eventually("Synapse sees hanna joined") { try await p.synapse.members(sam, room).contains(hanna.rawValue) }

            // Messages.
            let fromHearth = try await p.hs.say(hanna, in: room, "hello from hearth")
            let fromSynapse = try await p.synapse.send(sam, room, "hello from synapse")
            try await Self.eventually("Synapse has hearth's message") { try await p.synapse.bodies(sam, room).contains("hello from hearth") }
            try await Self.eventually("Hearth has synapse's message") { try await p.hs.bodies(in: room).contains("hello from synapse") }

            // Edits.
            let hearthEdit = try await p.hs.rooms.send(room, sender: hanna, type: "m.room.message", content: Self.edit(of: fromHearth, "edited on hearth"))
            let synapseEdit = try await p.synapse.sendMessage(sam, room, Self.edit(of: fromSynapse, "edited on synapse"))
            try await Self.eventually("Synapse has hearth's edit") {
                try await p.synapse.event(sam, room, hearthEdit)["content"]?["m.relates_to"]?["event_id"]?.stringValue == fromHearth.rawValue
            }
            try await Self.eventually("Hearth has synapse's edit") {
                try await p.hs.storage.rooms.event(synapseEdit)?.pdu.content["m.new_content"]?["body"]?.stringValue == "edited on synapse"
            }

            // State both ways: Synapse makes hanna a moderator and sets the topic; hanna renames the room.
            var levels = try await p.synapse.state(sam, room, "m.room.power_levels")
            var users = levels["users"]?.objectValue ?? [:]
            users[hanna.rawValue] = 50
            levels["users"] = .object(users)
            try await p.synapse.setState(sam, room, "m.room.power_levels", levels)
            try await p.synapse.setState(sam, room, "m.room.topic", ["topic": "set on synapse"])
            try await Self.eventually("Hearth sees the topic and hanna's level") {
                let topic = try await p.hs.rooms.currentStateEvent(room, StateKey("m.room.topic", ""))?.content["topic"]?.stringValue
                let level = try await p.hs.rooms.powerLevels(room).userLevel(hanna)
                return topic == "set on synapse" && level == .finite(50)
            }
            try await p.hs.rooms.send(room, sender: hanna, type: "m.room.name", stateKey: "", content: ["name": "Renamed on Hearth"])
            try await Self.eventually("Synapse sees the new name") {
                try await p.synapse.state(sam, room, "m.room.name")["name"]?.stringValue == "Renamed on Hearth"
            }

            // Redactions both ways.
            let doomedOnSynapse = try await p.synapse.send(sam, room, "synapse will redact this")
            let doomedOnHearth = try await p.hs.say(hanna, in: room, "hearth will redact this")
            try await Self.eventually("both messages arrived") {
                let onHearth = try await p.hs.storage.rooms.event(doomedOnSynapse)
                let onSynapse = try await p.synapse.bodies(sam, room)
                return onHearth != nil && onSynapse.contains("hearth will redact this")
            }
            try await p.synapse.redact(sam, room, doomedOnSynapse)
            _ = try await p.hs.rooms.redact(room, sender: hanna, target: doomedOnHearth, reason: nil, transaction: nil)
            try await Self.eventually("Hearth applied synapse's redaction") {
                try await p.hs.storage.rooms.event(doomedOnSynapse)?.redactedBy != nil
            }
            #expect(try await p.hs.storage.rooms.event(doomedOnSynapse)?.pdu.content.isEmpty == true)
            try await Self.eventually("Synapse applied hearth's redaction") {
                try await p.synapse.event(sam, room, doomedOnHearth)["content"]?.objectValue?.isEmpty == true
            }

            // Typing and receipts both ways.
            await p.hs.setTyping(hanna, in: room, typing: true, timeout: 30_000)
            try await Self.eventually("Synapse shows hanna typing") { try await p.synapse.typing(sam, room).contains(hanna.rawValue) }
            try await p.synapse.call("PUT", "/_matrix/client/v3/rooms/\(pct(room.rawValue))/typing/\(pct(sam.id.rawValue))", token: sam.token,
                                     json: ["typing": true, "timeout": 30000])
            try await Self.eventually("Hearth shows sam typing") { p.hs.ephemeral.typing(in: room, changedAfter: 0).users.contains(sam.id) }
            let since = try await p.synapse.sync(sam)["next_batch"]?.stringValue ?? ""
            try await p.hs.setReceipt(hanna, roomID: room, eventID: fromSynapse, type: "m.read", threadID: nil)
            try await Self.eventually("Synapse has hanna's receipt") {
                try await p.synapse.receipts(sam, room, since: since)[hanna.rawValue] == fromSynapse.rawValue
            }
            try await p.synapse.call("POST", "/_matrix/client/v3/rooms/\(pct(room.rawValue))/receipt/m.read/\(pct(fromHearth.rawValue))",
                                     token: sam.token, json: [:])
            try await Self.eventually("Hearth has sam's receipt") {
                try await p.hs.storage.userData.receipt(of: sam.id, in: room, type: "m.read")?.eventID == fromHearth
            }

            try await Self.eventually("the same room state on both") {
                let onSynapse = try await p.synapse.stateIDs(sam, room)
                return try await onSynapse == p.hs.state(room)
            }
        }
    }

    @Test func synapseJoinsAHearthRoomAndPaginatesItsHistory() async throws {
        try await Self.withPair { p in
            let hanna = try await p.hs.makeUser("hanna")
            let sam = try await p.synapse.register("sam")
            let room = try await p.hs.publicRoom(by: hanna, ["name": "On Hearth"])
            for n in 1...3 { try await p.hs.say(hanna, in: room, "early \(n)") }

            try await p.synapse.call("POST", "/_matrix/client/v3/join/\(pct(room.rawValue))?server_name=\(pct(p.hearth.name.rawValue))&via=\(pct(p.hearth.name.rawValue))",
                                     token: sam.token, json: [:])
            try await Self.eventually("Hearth sees sam joined") { try await p.hs.membership(sam.id, room) == "join" }
            try await p.synapse.send(sam, room, "hello from synapse")
            try await p.hs.say(hanna, in: room, "hello from hearth")
            try await Self.eventually("messages crossed") {
                let onHearth = try await p.hs.bodies(in: room)
                let onSynapse = try await p.synapse.bodies(sam, room)
                return onHearth.contains("hello from synapse") && onSynapse.contains("hello from hearth")
            }
            // Synapse backfills what was said before it joined from Hearth.
            try await Self.eventually("Synapse paginates the history") {
                Set(try await p.synapse.bodies(sam, room)).isSuperset(of: ["early 1", "early 2", "early 3"])
            }
            try await Self.eventually("the same room state on both") {
                let onSynapse = try await p.synapse.stateIDs(sam, room)
                return try await onSynapse == p.hs.state(room)
            }
        }
    }

    @Test func invitesCrossBothWays() async throws {
        try await Self.withPair { p in
            let sam = try await p.synapse.register("sam")
            let hanna = try await p.hs.makeUser("hanna")

            let onSynapse = try await p.synapse.createRoom(sam, ["preset": "private_chat", "name": "Synapse secret"])
            try await p.synapse.call("POST", "/_matrix/client/v3/rooms/\(pct(onSynapse.rawValue))/invite", token: sam.token,
                                     json: ["user_id": .string(hanna.rawValue)])
            try await Self.eventually("hanna is invited on Hearth") {
                try await p.hs.rooms.memberships(of: hanna).contains { $0.roomID == onSynapse && $0.membership == "invite" }
            }
            try await p.hs.rooms.join(onSynapse, user: hanna)
            try await Self.eventually("Synapse sees hanna joined") { try await p.synapse.members(sam, onSynapse).contains(hanna.rawValue) }

            let onHearth = try await p.hs.rooms.createRoom(["preset": "private_chat", "name": "Hearth secret"], by: hanna, creatorProfile: (nil, nil))
            try await p.hs.rooms.setMembership(onHearth, sender: hanna, target: sam.id, membership: "invite")
            try await Self.eventually("Synapse shows the invite") { try await p.synapse.invitedRooms(sam).contains(onHearth.rawValue) }
            try await p.synapse.call("POST", "/_matrix/client/v3/join/\(pct(onHearth.rawValue))", token: sam.token, json: [:])
            try await Self.eventually("Hearth sees sam joined") { try await p.hs.membership(sam.id, onHearth) == "join" }
        }
    }

    @Test func aSynapseRestartMidConversationLosesNothing() async throws {
        try await Self.withPair { p in
            let sam = try await p.synapse.register("sam")
            let hanna = try await p.hs.makeUser("hanna")
            let room = try await p.synapse.createRoom(sam, ["preset": "public_chat"])
            try await p.hs.rooms.join(room, user: hanna, via: [p.synapse.serverName])
            try await Self.eventually("Synapse sees hanna") { try await p.synapse.members(sam, room).contains(hanna.rawValue) }
            try await p.synapse.send(sam, room, "just before the restart")
            try await Self.eventually("Hearth got it") { try await p.hs.bodies(in: room).contains("just before the restart") }

            p.synapse.stop()
            for n in 1...3 { try await p.hs.say(hanna, in: room, "while synapse was down \(n)") }
            try await p.synapse.start()
            try await Self.eventually("Synapse received everything sent while it was down", timeout: .seconds(60)) {
                Set(try await p.synapse.bodies(sam, room)).isSuperset(of: (1...3).map { "while synapse was down \($0)" })
            }
            try await p.synapse.send(sam, room, "after the restart")
            try await Self.eventually("Hearth got the message after the restart") { try await p.hs.bodies(in: room).contains("after the restart") }
            try await Self.eventually("the same room state on both") {
                let onSynapse = try await p.synapse.stateIDs(sam, room)
                return try await onSynapse == p.hs.state(room)
            }
        }
    }

    @Test(arguments: ["12", "10"])
    func historyBeforeTheHearthUserJoinedIsBackfilled(version: String) async throws {
        try await Self.withPair { p in
            let sam = try await p.synapse.register("sam")
            let hanna = try await p.hs.makeUser("hanna")
            let room = try await p.synapse.createRoom(sam, ["preset": "public_chat", "room_version": .string(version)])
            try await p.synapse.setState(sam, room, "m.room.history_visibility", ["history_visibility": "shared"])
            for n in 1...30 { try await p.synapse.send(sam, room, "history \(n)") }
            try await p.hs.rooms.join(room, user: hanna, via: [p.synapse.serverName])

            var bodies: [String] = []
            var from: PaginationToken? = nil
            for _ in 0..<10 {
                let page = try await p.hs.rooms.messages(room, for: hanna, from: from, to: nil, backwards: true, limit: 10, filter: EventFilter(nil))
                bodies += page.chunk.filter { $0.pdu.type == "m.room.message" }.compactMap { $0.pdu.content["body"]?.stringValue }
                guard let end = page.end, let next = PaginationToken(end) else { break }
                from = next
            }
            #expect(bodies == (1...30).reversed().map { "history \($0)" })
        }
    }

    @Test func deviceKeysAndToDeviceMessagesCrossToSynapse() async throws {
        try await Self.withPair { p in
            let sam = try await p.synapse.register("sam")
            let hanna = UserID("@hanna:\(p.hearth.name.rawValue)")!
            _ = try await p.hs.accounts.createAccount(userID: hanna, password: nil, deviceID: "HANNADEV")
            let room = try await p.synapse.createRoom(sam, ["preset": "public_chat"])
            try await p.hs.rooms.join(room, user: hanna, via: [p.synapse.serverName])
            let deviceKeys: JSONObject = [
                "user_id": .string(sam.id.rawValue), "device_id": .string(sam.deviceID),
                "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
                "keys": .object(["curve25519:\(sam.deviceID)": "c2FtY3VydmU", "ed25519:\(sam.deviceID)": "c2FtZWQyNTUxOQ"] as JSONObject),
                "signatures": .object([sam.id.rawValue: .object(["ed25519:\(sam.deviceID)": "c2lnbmF0dXJl"] as JSONObject)] as JSONObject),
            ]
            try await p.synapse.call("POST", "/_matrix/client/v3/keys/upload", token: sam.token, json: ["device_keys": .object(deviceKeys)])

            // Hearth asks Synapse for sam's keys (POST /user/keys/query over federation).
            let answer = try await p.hs.keys.query(nil, deviceKeys: [sam.id: []])
            #expect(answer["device_keys"]?[sam.id.rawValue]?[sam.deviceID]?["keys"]?["ed25519:\(sam.deviceID)"]?.stringValue == "c2FtZWQyNTUxOQ")
            #expect(answer["failures"]?.objectValue?.isEmpty == true)
            // Synapse asks Hearth for hanna's.
            let fromSynapse = try await p.synapse.call("POST", "/_matrix/client/v3/keys/query", token: sam.token,
                                                       json: ["device_keys": .object([hanna.rawValue: []] as JSONObject)])
            #expect(fromSynapse["device_keys"]?[hanna.rawValue] != nil, "\(fromSynapse.encodedString())")
            #expect(fromSynapse["failures"]?.objectValue?.isEmpty == true, "\(fromSynapse.encodedString())")

            // To-device messages both ways, as m.direct_to_device EDUs.
            try await p.hs.federation.sendToDevice(type: "org.hearth.test", sender: hanna,
                                                   messages: [sam.id: [sam.deviceID: ["n": 1]]], to: p.synapse.serverName)
            try await Self.eventually("sam's device got hanna's message") {
                let events = try await p.synapse.sync(sam)["to_device"]?["events"]?.arrayValue ?? []
                return events.contains { $0["type"]?.stringValue == "org.hearth.test" && $0["sender"]?.stringValue == hanna.rawValue }
            }
            try await p.synapse.call("PUT", "/_matrix/client/v3/sendToDevice/org.hearth.test/\(UUID().uuidString)", token: sam.token,
                                     json: ["messages": .object([hanna.rawValue: ["HANNADEV": ["n": 2]]] as JSONObject)])
            try await Self.eventually("hanna's device got sam's message") {
                try await p.hs.storage.keys.toDeviceMessages(hanna, "HANNADEV", after: 0, limit: 10)
                    .contains { $0.type == "org.hearth.test" && $0.sender == sam.id && $0.content["n"]?.intValue == 2 }
            }
        }
    }

    static func edit(of original: EventID, _ text: String) -> JSONObject {
        ["msgtype": "m.text", "body": .string("* " + text),
         "m.new_content": ["msgtype": "m.text", "body": .string(text)],
         "m.relates_to": ["rel_type": "m.replace", "event_id": .string(original.rawValue)]]
    }
}

func pct(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
}

/// Client-API helpers on Synapse, for what the tests check there.
extension SynapsePeer {
    func createRoom(_ user: User, _ body: JSONObject) async throws -> RoomID {
        let answer = try await call("POST", "/_matrix/client/v3/createRoom", token: user.token, json: .object(body))
        guard let room = answer["room_id"]?.stringValue.flatMap(RoomID.init) else { throw FedTestError("createRoom: \(answer.encodedString())") }
        return room
    }

    @discardableResult
    func sendMessage(_ user: User, _ room: RoomID, _ content: JSONObject) async throws -> EventID {
        let txn = UUID().uuidString
        let answer = try await call("PUT", "/_matrix/client/v3/rooms/\(pct(room.rawValue))/send/m.room.message/\(txn)", token: user.token,
                                    json: .object(content))
        guard let id = answer["event_id"]?.stringValue.flatMap(EventID.init) else { throw FedTestError("send: \(answer.encodedString())") }
        return id
    }

    @discardableResult
    func send(_ user: User, _ room: RoomID, _ text: String) async throws -> EventID {
        try await sendMessage(user, room, ["msgtype": "m.text", "body": .string(text)])
    }

    func setState(_ user: User, _ room: RoomID, _ type: String, _ content: JSONObject) async throws {
        try await call("PUT", "/_matrix/client/v3/rooms/\(pct(room.rawValue))/state/\(type)/", token: user.token, json: .object(content))
    }

    func state(_ user: User, _ room: RoomID, _ type: String) async throws -> JSONObject {
        try await call("GET", "/_matrix/client/v3/rooms/\(pct(room.rawValue))/state/\(type)/", token: user.token).objectValue ?? [:]
    }

    func redact(_ user: User, _ room: RoomID, _ event: EventID) async throws {
        try await call("PUT", "/_matrix/client/v3/rooms/\(pct(room.rawValue))/redact/\(pct(event.rawValue))/\(UUID().uuidString)",
                       token: user.token, json: [:])
    }

    func event(_ user: User, _ room: RoomID, _ event: EventID) async throws -> JSONValue {
        try await call("GET", "/_matrix/client/v3/rooms/\(pct(room.rawValue))/event/\(pct(event.rawValue))", token: user.token)
    }

    func members(_ user: User, _ room: RoomID) async throws -> [String] {
        let answer = try await call("GET", "/_matrix/client/v3/rooms/\(pct(room.rawValue))/joined_members", token: user.token)
        return answer["joined"]?.objectValue?.keys ?? []
    }

    /// Message bodies, paginating /messages back to the room's start.
    func bodies(_ user: User, _ room: RoomID) async throws -> [String] {
        var bodies: [String] = []
        var from: String? = nil
        for _ in 0..<20 {
            var path = "/_matrix/client/v3/rooms/\(pct(room.rawValue))/messages?dir=b&limit=100"
            if let from { path += "&from=\(pct(from))" }
            let page = try await call("GET", path, token: user.token)
            let chunk = page["chunk"]?.arrayValue ?? []
            bodies += chunk.filter { $0["type"]?.stringValue == "m.room.message" }.compactMap { $0["content"]?["body"]?.stringValue }
            guard let end = page["end"]?.stringValue, !chunk.isEmpty else { break }
            from = end
        }
        return bodies.reversed()
    }

    /// The current state as (type, state_key) → event ID.
    func stateIDs(_ user: User, _ room: RoomID) async throws -> [StateKey: EventID] {
        let events = try await call("GET", "/_matrix/client/v3/rooms/\(pct(room.rawValue))/state", token: user.token).arrayValue ?? []
        var state: [StateKey: EventID] = [:]
        for event in events {
            guard let type = event["type"]?.stringValue, let key = event["state_key"]?.stringValue,
                  let id = event["event_id"]?.stringValue.flatMap(EventID.init) else { continue }
            state[StateKey(type, key)] = id
        }
        return state
    }

    func sync(_ user: User, since: String? = nil) async throws -> JSONValue {
        try await call("GET", "/_matrix/client/v3/sync?timeout=0" + (since.map { "&since=\(pct($0))" } ?? ""), token: user.token)
    }

    func typing(_ user: User, _ room: RoomID) async throws -> [String] {
        let events = try await sync(user)["rooms"]?["join"]?[room.rawValue]?["ephemeral"]?["events"]?.arrayValue ?? []
        return events.first { $0["type"]?.stringValue == "m.typing" }?["content"]?["user_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// User → event of their m.read receipt, as an incremental sync from `since` reports them.
    func receipts(_ user: User, _ room: RoomID, since: String) async throws -> [String: String] {
        let events = try await sync(user, since: since)["rooms"]?["join"]?[room.rawValue]?["ephemeral"]?["events"]?.arrayValue ?? []
        var result: [String: String] = [:]
        for event in events where event["type"]?.stringValue == "m.receipt" {
            for byEvent in event["content"]?.objectValue ?? [:] {
                for reader in byEvent.value["m.read"]?.objectValue ?? [:] { result[reader.key] = byEvent.key }
            }
        }
        return result
    }

    func invitedRooms(_ user: User) async throws -> [String] {
        try await sync(user)["rooms"]?["invite"]?.objectValue?.keys ?? []
    }
}
