public import HearthCore
public import HearthHomeserver

/// The organization policy applied at the egress gate: every transaction, request and
/// response is taken apart into the things a rule speaks about (a PDU of a room, a typing
/// notice, a receipt, a profile, a piece of media…), each is judged, and what may not leave is
/// removed (the item is reshaped) or the whole item is refused. Each judgement is a finding,
/// recorded in the audit log with the rule that made it.
///
/// Unknown EDU types are dropped: only data a rule speaks about leaves. Responses of endpoints
/// no rule names (keys, version) leave as they are.
public struct OrganizationEgressPolicy: EgressPolicy {
    let facts: any PolicyFacts
    let serverName: ServerName

    public init(facts: any PolicyFacts, serverName: ServerName) {
        self.facts = facts
        self.serverName = serverName
    }

    public func decide(_ item: EgressItem) async -> EgressDecision { await rule(item).decision }

    public func rule(_ item: EgressItem) async -> EgressRuling {
        let policy = facts.policy
        guard let destination = item.destination else {
            // An answer to an unauthenticated request (keys, version): public, unless this
            // server does not federate at all.
            if case .off = policy.federation {
                return EgressRuling(decision: .refuse(reason: "federation is off on this server"), rule: "federation.off")
            }
            return EgressRuling(decision: .allow, rule: "public")
        }
        let link = policy.federates(with: destination)
        guard link.allowed else { return EgressRuling(decision: .refuse(reason: link.reason), rule: link.rule) }
        var judge = Judge(policy: policy, facts: facts, destination: destination)
        switch item.kind {
        case .keyFetch, .discovery:
            return EgressRuling(decision: .allow, rule: link.rule)
        case .transaction:
            return await judge.transaction(item)
        case .request:
            return await judge.request(item, link: link)
        case .response:
            return await judge.response(item, link: link, serverName: serverName)
        }
    }
}

/// Judges one item for one destination, collecting findings.
private struct Judge {
    let policy: OrganizationPolicy
    let facts: any PolicyFacts
    let destination: ServerName
    var findings: [EgressFinding] = []
    /// Room classes read for this item: a transaction's PDUs are mostly of one room.
    private var roomPolicies: [String: RoomPolicy] = [:]

    init(policy: OrganizationPolicy, facts: any PolicyFacts, destination: ServerName) {
        self.policy = policy
        self.facts = facts
        self.destination = destination
    }

    private mutating func note(_ kind: String, room: String? = nil, user: String? = nil, _ verdict: PolicyVerdict,
                               reshaped: Bool = false) {
        findings.append(EgressFinding(dataKind: kind, roomID: room, userID: user,
                                      decision: verdict.allowed ? (reshaped ? "reshape" : "allow") : "refuse", rule: verdict.rule,
                                      reason: verdict.reason))
    }

    private mutating func roomPolicy(_ text: String?) async -> RoomPolicy? {
        guard let text, let roomID = RoomID(text) else { return nil }
        if let known = roomPolicies[text] { return known }
        // A room whose class cannot be read is treated as local-only: fail closed.
        let policy = (try? await facts.roomPolicy(roomID)) ?? RoomPolicy(roomClass: .localOnly)
        roomPolicies[text] = policy
        return policy
    }

    private mutating func roomReach(_ text: String?) async -> PolicyVerdict {
        guard let room = await roomPolicy(text) else { return .refuse("room.unknown", "the item names no valid room") }
        return policy.room(room, reaches: destination)
    }

    // MARK: Transactions

    mutating func transaction(_ item: EgressItem) async -> EgressRuling {
        guard let body = item.body.json?.objectValue else {
            return EgressRuling(decision: .refuse(reason: "a transaction must be a JSON object"), rule: "transaction.malformed")
        }
        var pdus: [JSONValue] = []
        let offeredPDUs = body["pdus"]?.arrayValue ?? []
        for pdu in offeredPDUs {
            let room = pdu["room_id"]?.stringValue
            let verdict = await roomReach(room)
            note("pdu", room: room, user: pdu["sender"]?.stringValue, verdict)
            if verdict.allowed { pdus.append(pdu) }
        }
        var edus: [JSONValue] = []
        let offeredEDUs = body["edus"]?.arrayValue ?? []
        for edu in offeredEDUs {
            if let kept = await self.edu(edu) { edus.append(kept) }
        }
        if pdus.isEmpty && edus.isEmpty && !(offeredPDUs.isEmpty && offeredEDUs.isEmpty) {
            // Nothing may leave: not even an empty transaction (it would tell that something happened).
            return EgressRuling(decision: .refuse(reason: "nothing in the transaction may reach \(destination)"),
                                rule: "transaction.nothing_left", findings: findings)
        }
        if pdus.count == offeredPDUs.count && edus == offeredEDUs {
            return EgressRuling(decision: .allow, rule: "transaction.all_allowed", findings: findings)
        }
        var reshaped = body
        reshaped["pdus"] = .array(pdus)
        reshaped["edus"] = .array(edus)
        return EgressRuling(decision: .reshape(.json(.object(reshaped)), reason: "items the policy forbids were removed"),
                            rule: "transaction.filtered", findings: findings)
    }

    /// The EDU as it may leave, or nil.
    private mutating func edu(_ edu: JSONValue) async -> JSONValue? {
        let type = edu["edu_type"]?.stringValue ?? ""
        let content = edu["content"]?.objectValue ?? [:]
        switch type {
        case "m.typing":
            let room = content["room_id"]?.stringValue
            guard let roomPolicy = await roomPolicy(room) else {
                note(type, .refuse("room.unknown", "the typing notice names no valid room"))
                return nil
            }
            let verdict = policy.ephemeral(.typing, of: roomPolicy, reaches: destination)
            note(type, room: room, user: content["user_id"]?.stringValue, verdict)
            return verdict.allowed ? edu : nil
        case "m.receipt":
            var kept: JSONObject = [:]
            for member in content {
                let (room, receipts) = (member.key, member.value)
                guard let roomPolicy = await roomPolicy(room) else { continue }
                let verdict = policy.ephemeral(.receipts, of: roomPolicy, reaches: destination)
                let user = receipts.objectValue?.keys.first.flatMap { receipts[$0]?.objectValue?.keys.first }
                note(type, room: room, user: user, verdict)
                if verdict.allowed { kept[room] = receipts }
            }
            if kept.isEmpty { return nil }
            var result = edu.objectValue ?? [:]
            result["content"] = .object(kept)
            return .object(result)
        case "m.presence":
            let verdict = policy.presence(reaches: destination)
            for update in content["push"]?.arrayValue ?? [] { note(type, user: update["user_id"]?.stringValue, verdict) }
            return verdict.allowed ? edu : nil
        case "m.device_list_update":
            let verdict = policy.deviceDisplayNames(reach: destination)
            let user = content["user_id"]?.stringValue
            guard !verdict.allowed, content["device_display_name"] != nil else {
                note(type, user: user, .allow("sharing.device_lists", "device lists go to servers that share a room"))
                return edu
            }
            note(type, user: user, .allow(verdict.rule, "device display name removed: \(verdict.reason)"), reshaped: true)
            var stripped = content
            stripped["device_display_name"] = nil
            var result = edu.objectValue ?? [:]
            result["content"] = .object(stripped)
            return .object(result)
        case "m.signing_key_update", "m.direct_to_device":
            // End-to-end encryption cannot work without these; they carry keys and ciphertext.
            note(type, user: content["user_id"]?.stringValue ?? content["sender"]?.stringValue,
                 .allow("e2ee", "end-to-end encryption data goes to servers this server federates with"))
            return edu
        default:
            note(type.isEmpty ? "edu" : type, .refuse("edu.unknown_type", "no rule lets EDUs of type '\(type)' leave"))
            return nil
        }
    }

    // MARK: Requests this server makes

    mutating func request(_ item: EgressItem, link: PolicyVerdict) async -> EgressRuling {
        let path = FederationPathParts(item.path)
        switch path.endpoint {
        case "make_join", "send_join", "make_leave", "send_leave", "make_knock", "send_knock", "backfill", "get_missing_events",
             "state", "state_ids", "event_auth", "invite", "exchange_third_party_invite":
            let room = path.argument(0)
            var user: String? = nil
            if path.endpoint == "invite" { user = item.body.json?["event"]?["sender"]?.stringValue }
            if path.endpoint.hasPrefix("make_") { user = path.argument(1) }
            let known = room.flatMap(RoomID.init)
            // A room this server does not hold (joining a remote room) has no class of its own
            // here: it counts as open, so the federation rule (already passed) decides.
            let verdict = known == nil ? link : await roomReach(room)
            note(path.endpoint, room: room, user: user, verdict)
            if !verdict.allowed { return EgressRuling(decision: .refuse(reason: verdict.reason), rule: verdict.rule, findings: findings) }
            return EgressRuling(decision: .allow, rule: verdict.rule, findings: findings)
        default:
            return EgressRuling(decision: .allow, rule: link.rule)
        }
    }

    // MARK: Responses of this server's routes

    mutating func response(_ item: EgressItem, link: PolicyVerdict, serverName: ServerName) async -> EgressRuling {
        let path = FederationPathParts(item.path)
        if path.api == "key" || path.endpoint == "version" { return EgressRuling(decision: .allow, rule: "public") }
        switch path.endpoint {
        case "make_join", "send_join", "make_leave", "send_leave", "make_knock", "send_knock", "backfill", "get_missing_events",
             "state", "state_ids", "event_auth", "exchange_third_party_invite":
            return refuseUnless(await roomReach(path.argument(0)), kind: path.endpoint, room: path.argument(0))
        case "hierarchy":
            return await hierarchy(item, root: path.argument(0))
        case "invite":
            // An invite from the destination to a local user: the room is the destination's.
            let verdict = policy.acceptsInvite(from: destination)
            return refuseUnless(verdict, kind: "invite", room: path.argument(0))
        case "event":
            let room = item.body.json?["pdus"]?.arrayValue?.first?["room_id"]?.stringValue
            guard room != nil || item.body.json?["errcode"] != nil else { return refuseUnless(link, kind: "event", room: nil) }
            return refuseUnless(room == nil ? link : await roomReach(room), kind: "event", room: room)
        case "query" where path.argument(0) == "profile":
            return await profile(item)
        case "query" where path.argument(0) == "directory":
            let directory = policy.roomDirectory(reaches: destination)
            guard directory.allowed else { return refuseUnless(directory, kind: "directory", room: nil) }
            let room = item.body.json?["room_id"]?.stringValue
            return refuseUnless(room == nil ? directory : await roomReach(room), kind: "directory", room: room)
        case "publicRooms":
            return await publicRooms(item)
        case "user" where path.argument(0) == "devices":
            return stripDeviceNames(item, kind: "devices", user: path.argument(1)) { body in
                var devices = body["devices"]?.arrayValue ?? []
                for index in devices.indices {
                    guard var device = devices[index].objectValue, device["device_display_name"] != nil else { continue }
                    device["device_display_name"] = nil
                    devices[index] = .object(device)
                }
                body["devices"] = .array(devices)
            }
        case "user" where path.argument(0) == "keys" && path.argument(1) == "query":
            return stripDeviceNames(item, kind: "device_keys", user: nil) { body in
                guard var users = body["device_keys"]?.objectValue else { return }
                for member in users {
                    let (user, devices) = (member.key, member.value)
                    guard var devices = devices.objectValue else { continue }
                    for member in devices {
                        let (id, keys) = (member.key, member.value)
                        guard var keys = keys.objectValue, var unsigned = keys["unsigned"]?.objectValue,
                              unsigned["device_display_name"] != nil else { continue }
                        unsigned["device_display_name"] = nil
                        keys["unsigned"] = .object(unsigned)
                        devices[id] = .object(keys)
                    }
                    users[user] = .object(devices)
                }
                body["device_keys"] = .object(users)
            }
        case "media":
            return await media(path, serverName: serverName)
        default:
            return EgressRuling(decision: .allow, rule: link.rule)
        }
    }

    private mutating func refuseUnless(_ verdict: PolicyVerdict, kind: String, room: String?, user: String? = nil) -> EgressRuling {
        note(kind, room: room, user: user, verdict)
        return EgressRuling(decision: verdict.allowed ? .allow : .refuse(reason: verdict.reason), rule: verdict.rule,
                            findings: findings)
    }

    /// A space's hierarchy: the space must reach the destination, and so must each child the
    /// answer describes (the others are removed, with their `m.space.child` events).
    private mutating func hierarchy(_ item: EgressItem, root: String?) async -> EgressRuling {
        let reach = await roomReach(root)
        guard reach.allowed, var body = item.body.json?.objectValue, body["errcode"] == nil else {
            return refuseUnless(reach, kind: "hierarchy", room: root)
        }
        note("hierarchy", room: root, reach)
        var changed = false
        var children: [JSONValue] = []
        for child in body["children"]?.arrayValue ?? [] {
            let room = child["room_id"]?.stringValue
            let verdict = await roomReach(room)
            note("hierarchy", room: room, verdict)
            if verdict.allowed { children.append(child) } else { changed = true }
        }
        var inaccessible: [JSONValue] = []
        for child in body["inaccessible_children"]?.arrayValue ?? [] {
            if await roomReach(child.stringValue).allowed { inaccessible.append(child) } else { changed = true }
        }
        if var room = body["room"]?.objectValue {
            var state: [JSONValue] = []
            for event in room["children_state"]?.arrayValue ?? [] {
                if await roomReach(event["state_key"]?.stringValue).allowed { state.append(event) } else { changed = true }
            }
            room["children_state"] = .array(state)
            body["room"] = .object(room)
        }
        guard changed else { return EgressRuling(decision: .allow, rule: reach.rule, findings: findings) }
        body["children"] = .array(children)
        body["inaccessible_children"] = .array(inaccessible)
        return EgressRuling(decision: .reshape(.json(.object(body)), reason: "child rooms kept from \(destination) removed"),
                            rule: reach.rule, findings: findings)
    }

    private mutating func profile(_ item: EgressItem) async -> EgressRuling {
        let user = FederationPathParts.query(item.path, "user_id")
        let setting = policy.sharing(for: destination).profileQueries
        switch setting {
        case .allow:
            return refuseUnless(.allow("profiles.allow", "profiles are answered"), kind: "profile", room: nil, user: user)
        case .refuse:
            return refuseUnless(.refuse("profiles.refuse", "this server does not answer profile queries from \(destination)"),
                                kind: "profile", room: nil, user: user)
        case .sharedRooms:
            let shares = if let user, let id = UserID(user) { (try? await facts.sharesRoom(id, with: destination)) ?? false } else { false }
            return refuseUnless(shares ? .allow("profiles.shared_rooms", "the user shares a room with \(destination)")
                                    : .refuse("profiles.shared_rooms", "the user shares no room with \(destination)"),
                                kind: "profile", room: nil, user: user)
        }
    }

    private mutating func publicRooms(_ item: EgressItem) async -> EgressRuling {
        let directory = policy.roomDirectory(reaches: destination)
        guard directory.allowed, var body = item.body.json?.objectValue else {
            return refuseUnless(directory, kind: "directory", room: nil)
        }
        var kept: [JSONValue] = []
        let chunk = body["chunk"]?.arrayValue ?? []
        for entry in chunk {
            let room = entry["room_id"]?.stringValue
            let verdict = await roomReach(room)
            note("directory", room: room, verdict)
            if verdict.allowed { kept.append(entry) }
        }
        if kept.count == chunk.count { return EgressRuling(decision: .allow, rule: directory.rule, findings: findings) }
        body["chunk"] = .array(kept)
        if body["total_room_count_estimate"] != nil { body["total_room_count_estimate"] = .int(Int64(kept.count)) }
        return EgressRuling(decision: .reshape(.json(.object(body)), reason: "rooms the policy keeps from \(destination) removed"),
                            rule: directory.rule, findings: findings)
    }

    private mutating func stripDeviceNames(_ item: EgressItem, kind: String, user: String?,
                                           _ strip: (inout JSONObject) -> Void) -> EgressRuling {
        let verdict = policy.deviceDisplayNames(reach: destination)
        guard !verdict.allowed, var body = item.body.json?.objectValue else {
            note(kind, user: user, .allow("sharing.device_lists", "device lists are answered"))
            return EgressRuling(decision: .allow, rule: verdict.rule, findings: findings)
        }
        strip(&body)
        note(kind, user: user, .allow(verdict.rule, "device display names removed: \(verdict.reason)"), reshaped: true)
        return EgressRuling(decision: .reshape(.json(.object(body)), reason: "device display names removed"), rule: verdict.rule,
                            findings: findings)
    }

    private mutating func media(_ path: FederationPathParts, serverName: ServerName) async -> EgressRuling {
        guard let mediaID = path.argument(1) else { return refuseUnless(.allow("media", "no media named"), kind: "media", room: nil) }
        let mxc = "mxc://\(serverName.rawValue)/\(mediaID)"
        switch policy.sharing(for: destination).media {
        case .allow:
            return refuseUnless(.allow("media.allow", "\(mxc) served to \(destination)"), kind: "media", room: nil)
        case .refuse:
            return refuseUnless(.refuse("media.refuse", "\(mxc): media is not served to \(destination)"), kind: "media", room: nil)
        case .rooms:
            let rooms = (try? await facts.roomsMentioningMedia(mxc)) ?? []
            for room in rooms {
                let verdict = await roomReach(room.rawValue)
                if verdict.allowed {
                    return refuseUnless(.allow("media.rooms", "\(mxc) was posted in a room that reaches \(destination)"), kind: "media",
                                        room: room.rawValue)
                }
            }
            return refuseUnless(.refuse("media.rooms", "\(mxc) was not posted in any room that reaches \(destination)"), kind: "media",
                                room: rooms.first?.rawValue)
        }
    }
}

/// A federation path taken apart: `/_matrix/federation/v1/make_join/!r/@u?ver=12` is api
/// `federation`, endpoint `make_join`, arguments `!r`, `@u` (percent-decoded).
struct FederationPathParts {
    var api = ""
    var endpoint = ""
    var arguments: [String] = []

    init(_ target: String) {
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        // Malformed escapes are kept as they are: the route, not the policy, refuses them.
        let segments = path.split(separator: "/").map { MatrixURI.percentDecode($0) ?? String($0) }
        // _matrix, federation|key|media, v1|v2, endpoint, arguments…
        guard segments.count >= 3, segments[0] == "_matrix" else { return }
        api = segments[1]
        if segments.count >= 4 { endpoint = segments[3] }
        arguments = Array(segments.dropFirst(4))
    }

    func argument(_ index: Int) -> String? { arguments.indices.contains(index) ? arguments[index] : nil }

    /// A query parameter, percent-decoded.
    static func query(_ target: String, _ name: String) -> String? {
        guard let query = target.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.first.map(String.init) == name { return parts.count > 1 ? MatrixURI.percentDecode(parts[1]) ?? String(parts[1]) : "" }
        }
        return nil
    }
}
