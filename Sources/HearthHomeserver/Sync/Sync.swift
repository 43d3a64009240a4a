public import HearthCore
public import HearthStorage

/// `GET /sync`: assembles what changed for a user since a token, waiting for news when there
/// is none yet.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3sync
public final class Sync: Sendable {
    let rooms: Rooms
    let store: any RoomStore
    let userData: any UserDataStore
    let ephemeral: EphemeralState
    let notifier: StreamNotifier
    let clock: any WallClock
    let pushRules: PushRules
    let keys: EndToEndKeys
    let keyStore: any KeyStore

    init(rooms: Rooms, store: any RoomStore, userData: any UserDataStore, ephemeral: EphemeralState,
         notifier: StreamNotifier, clock: any WallClock, keys: EndToEndKeys, keyStore: any KeyStore) {
        self.pushRules = PushRules(userData: userData)
        self.keys = keys
        self.keyStore = keyStore
        self.rooms = rooms
        self.store = store
        self.userData = userData
        self.ephemeral = ephemeral
        self.notifier = notifier
        self.clock = clock
    }

    public struct Request: Sendable {
        public var since: SyncToken?
        public var filter: SyncFilter
        public var fullState: Bool
        public var timeout: Duration
        public init(since: SyncToken?, filter: SyncFilter, fullState: Bool, timeout: Duration) {
            self.since = since
            self.filter = filter
            self.fullState = fullState
            self.timeout = timeout
        }
    }

    public func sync(_ request: Request, for requester: Requester) async throws -> JSONObject {
        let marker = notifier.version
        var response = try await compute(request, for: requester)
        if request.since != nil, request.timeout > .zero, response.isEmpty {
            let joined = try await store.memberships(of: requester.userID).filter { $0.membership == "join" }
            ephemeral.expireTyping()
            await notifier.wait(userID: requester.userID.rawValue, rooms: Set(joined.map(\.roomID.rawValue)),
                                after: marker, timeout: request.timeout)
            response = try await compute(request, for: requester)
        }
        return response.json
    }

    struct Response {
        var json: JSONObject
        var isEmpty: Bool
    }

    private func compute(_ request: Request, for requester: Requester) async throws -> Response {
        let user = requester.userID
        var now = try await store.currentStreamPosition()
        let serial = ephemeral.serial
        let since = request.since
        let sinceStream = since?.stream ?? 0
        let filter = request.filter
        var hasNews = false

        // To-device messages: a sync with `since` acknowledges everything up to it; deliver at
        // most a page more and, if more wait, end the whole response at the last one delivered so
        // the next sync picks up exactly there.
        if let since { try await keyStore.acknowledgeToDevice(user, requester.deviceID, upTo: since.stream) }
        let pageSize = 100
        var messages = try await keyStore.toDeviceMessages(user, requester.deviceID, after: sinceStream, limit: pageSize + 1)
        messages = messages.filter { $0.stream <= now }
        if messages.count > pageSize {
            messages = Array(messages.prefix(pageSize))
            now = messages.last!.stream
        }
        let toDevice: [JSONValue] = messages.map {
            ["sender": .string($0.sender.rawValue), "type": .string($0.type), "content": .object($0.content)]
        }
        if !toDevice.isEmpty { hasNews = true }

        var join = JSONObject()
        var invite = JSONObject()
        var knock = JSONObject()
        var leave = JSONObject()
        var sharedUsers = Set<UserID>([user])

        let memberships = try await store.memberships(of: user)
        let joinedRooms = memberships.filter { $0.membership == "join" }.map(\.roomID)
        let receipts = try await userData.receipts(in: joinedRooms, changedAfter: sinceStream)
        let accountData = try await userData.accountData(user, changedAfter: sinceStream)
        // Presence is shared with everyone in a joined room, whatever the room filter shows.
        for roomID in joinedRooms {
            for member in try await rooms.members(of: roomID) where member.membership == "join" { sharedUsers.insert(member.userID) }
        }

        for membership in memberships where filter.room.allowsRoom(membership.roomID) {
            let roomID = membership.roomID
            let newMembership = membership.stream > sinceStream
            switch membership.membership {
            case "join":
                var section = try await joinedRoom(roomID, requester: requester, since: newMembership ? nil : since,
                                                   upTo: now, filter: filter, fullState: request.fullState)
                let roomReceipts = receipts.filter { $0.roomID == roomID }
                let typing = ephemeral.typing(in: roomID, changedAfter: since?.typing ?? 0)
                var ephemeralEvents: [JSONValue] = []
                if typing.changed || since == nil, filter.room.includesEphemeral {
                    ephemeralEvents.append(["type": "m.typing", "content": ["user_ids": JSONValue(typing.users.map(\.rawValue))]])
                }
                if let receiptEvent = receiptEvent(roomReceipts, for: user), filter.room.includesEphemeral {
                    ephemeralEvents.append(.object(receiptEvent))
                }
                let roomAccountData = accountData.filter { $0.roomID == roomID }
                section.json["ephemeral"] = ["events": .array(ephemeralEvents)]
                section.json["account_data"] = ["events": .array(roomAccountData.map {
                    ["type": .string($0.type), "content": .object($0.content)]
                })]
                section.json["unread_notifications"] = .object(try await unreadCounts(roomID, for: user))
                let news = section.hasTimeline || !section.stateIsEmpty || typing.changed || !roomReceipts.isEmpty
                    || !roomAccountData.isEmpty || newMembership
                if news || since == nil {
                    join[roomID.rawValue] = .object(section.json)
                    if news { hasNews = true }
                }
            case "invite" where newMembership:
                invite[roomID.rawValue] = ["invite_state": ["events": .array(try await strippedState(roomID, membershipEvent: membership.eventID))]]
                hasNews = true
            case "knock" where newMembership:
                knock[roomID.rawValue] = ["knock_state": ["events": .array(try await strippedState(roomID, membershipEvent: membership.eventID))]]
                hasNews = true
            case "leave", "ban":
                guard (newMembership && since != nil) || (since == nil && filter.room.includeLeave) else { continue }
                let section = try await leftRoom(roomID, requester: requester, membership: membership, since: since, filter: filter)
                leave[roomID.rawValue] = .object(section)
                hasNews = true
            default:
                continue
            }
        }

        var globalAccountData: [JSONValue] = []
        for entry in accountData where entry.roomID == nil {
            globalAccountData.append(["type": .string(entry.type), "content": .object(entry.content)])
            hasNews = true
        }
        if since == nil, !accountData.contains(where: { $0.roomID == nil && $0.type == PushRules.accountDataType }) {
            let defaults = PushRules.content(try await pushRules.ruleset(for: user))
            globalAccountData.append(["type": .string(PushRules.accountDataType), "content": .object(defaults)])
        }

        var presenceEvents: [JSONValue] = []
        for (other, presence) in ephemeral.presenceChanges(of: sharedUsers, after: since?.typing ?? 0) {
            var content: JSONObject = ["presence": .string(presence.state),
                                       "last_active_ago": .int(max(0, clock.now() - presence.lastActive))]
            if let message = presence.statusMessage { content["status_msg"] = .string(message) }
            content["currently_active"] = .bool(presence.state == "online")
            presenceEvents.append(["type": "m.presence", "sender": .string(other.rawValue), "content": .object(content)])
            hasNews = true
        }

        // Device lists: whose devices the client must re-fetch, and who no longer shares a room.
        var changedUsers: Set<UserID> = []
        var leftUsers: Set<UserID> = []
        if since != nil {
            changedUsers = try await keys.changedDeviceLists(for: user, after: sinceStream, upTo: now)
            var stillShared: Set<UserID> = []
            var departed: Set<UserID> = []
            for roomID in joinedRooms {
                for member in try await rooms.members(of: roomID) {
                    if member.membership == "join" {
                        stillShared.insert(member.userID)
                        if member.stream > sinceStream, member.userID != user { changedUsers.insert(member.userID) }
                    } else if member.stream > sinceStream {
                        departed.insert(member.userID)
                    }
                }
            }
            leftUsers = departed.subtracting(stillShared)
            if !changedUsers.isEmpty || !leftUsers.isEmpty { hasNews = true }
        }
        var otkCounts = JSONObject()
        for (algorithm, count) in try await keyStore.oneTimeKeyCounts(user, requester.deviceID) { otkCounts[algorithm] = .int(Int64(count)) }
        if otkCounts["signed_curve25519"] == nil { otkCounts["signed_curve25519"] = 0 }
        let fallbackTypes = try await keyStore.unusedFallbackKeyAlgorithms(user, requester.deviceID)

        let json: JSONObject = [
            "next_batch": .string(SyncToken(stream: now, typing: serial).text),
            "rooms": ["join": .object(join), "invite": .object(invite), "leave": .object(leave), "knock": .object(knock)],
            "account_data": ["events": .array(globalAccountData)],
            "presence": ["events": .array(presenceEvents)],
            "to_device": ["events": .array(toDevice)],
            "device_lists": ["changed": JSONValue(changedUsers.map(\.rawValue).sorted()),
                             "left": JSONValue(leftUsers.map(\.rawValue).sorted())],
            "device_one_time_keys_count": .object(otkCounts),
            "device_unused_fallback_key_types": JSONValue(fallbackTypes),
        ]
        return Response(json: json, isEmpty: !hasNews)
    }

    struct RoomSection {
        var json: JSONObject
        var hasTimeline: Bool
        var stateIsEmpty: Bool
    }

    private func joinedRoom(_ roomID: RoomID, requester: Requester, since: SyncToken?, upTo now: StreamPosition,
                            filter: SyncFilter, fullState: Bool) async throws -> RoomSection {
        let limit = max(1, min(filter.room.timeline.limit ?? 10, 500))
        let after = since?.stream ?? 0
        // Read one more than asked to know whether the timeline is limited.
        var fetched: [StoredEvent] = []
        var cursor = now
        var exhausted = false
        while fetched.count <= limit, !exhausted {
            let batch = try await store.recentEvents(in: roomID, after: after, upTo: cursor, limit: (limit + 1) * 2)
            if batch.count < (limit + 1) * 2 { exhausted = true }
            guard let oldest = batch.last else { break }
            cursor = oldest.stream - 1
            let allowed = batch.filter { filter.room.timeline.allows($0.pdu) }
            fetched += try await rooms.visible(allowed, to: requester.userID, in: roomID)
        }
        let limited = fetched.count > limit
        let timeline = Array(fetched.prefix(limit).reversed())
        let timelineIDs = Set(timeline.map(\.pdu.eventID))

        // State: the full state at the start of the timeline for an initial sync (or a room the
        // user just joined); for an incremental sync with a gap, the state that changed in the gap.
        var stateIDs: [EventID] = []
        let current = try await rooms.currentState(roomID)
        if since == nil || fullState {
            let atStart: [StateKey: EventID]
            if let first = timeline.first { atStart = try await rooms.stateMap(first.stateGroupBefore) } else { atStart = current }
            stateIDs = Array(atStart.values)
        } else if limited {
            let changed = try await store.events(Array(current.values))
            stateIDs = changed.values.filter { $0.stream > after && $0.stream <= now }.map(\.pdu.eventID)
        }
        stateIDs = stateIDs.filter { !timelineIDs.contains($0) }
        var stateEvents = Array(try await store.events(stateIDs).values).filter { filter.room.state.allows($0.pdu) }
        if filter.room.state.lazyLoadMembers {
            var wanted = Set(timeline.map(\.pdu.sender.rawValue))
            wanted.insert(requester.userID.rawValue)
            stateEvents = stateEvents.filter { $0.pdu.type != "m.room.member" || wanted.contains($0.pdu.stateKey ?? "") }
            if since != nil {
                // Members of the new timeline's senders that the client may not have loaded yet.
                // (The user's own member event came with the room's first sync.)
                let missing = wanted.subtracting([requester.userID.rawValue]).compactMap { current[StateKey("m.room.member", $0)] }
                    .filter { id in !timelineIDs.contains(id) && !stateEvents.contains { $0.pdu.eventID == id } }
                stateEvents += try await store.events(missing).values
            }
        }
        stateEvents.sort { $0.stream < $1.stream }

        var timelineJSON: JSONObject = [
            "events": .array(try await rooms.clientEvents(timeline, for: requester)),
            "limited": .bool(limited),
        ]
        if let first = timeline.first {
            timelineJSON["prev_batch"] = .string(PaginationToken.topological(TopologicalPosition(depth: first.pdu.depth, stream: first.stream)).text)
        } else {
            timelineJSON["prev_batch"] = .string(SyncToken(stream: now, typing: 0).text)
        }
        var summary: JSONObject = [:]
        if since == nil || timeline.contains(where: { $0.pdu.type == "m.room.member" }) {
            let members = try await rooms.members(of: roomID)
            summary["m.joined_member_count"] = .int(Int64(members.filter { $0.membership == "join" }.count))
            summary["m.invited_member_count"] = .int(Int64(members.filter { $0.membership == "invite" }.count))
            let names = try await rooms.currentStateEvent(roomID, StateKey("m.room.name", ""))
            if names == nil {
                let heroes = members.filter { $0.userID != requester.userID && ($0.membership == "join" || $0.membership == "invite") }
                    .prefix(5).map { JSONValue.string($0.userID.rawValue) }
                summary["m.heroes"] = .array(Array(heroes))
            }
        }
        return RoomSection(
            json: [
                "timeline": .object(timelineJSON),
                "state": ["events": .array(try await rooms.clientEvents(stateEvents, for: requester))],
                "summary": .object(summary),
            ],
            hasTimeline: !timeline.isEmpty, stateIsEmpty: stateEvents.isEmpty)
    }

    private func leftRoom(_ roomID: RoomID, requester: Requester, membership: Membership, since: SyncToken?,
                          filter: SyncFilter) async throws -> JSONObject {
        let limit = max(1, min(filter.room.timeline.limit ?? 10, 100))
        let events = try await store.recentEvents(in: roomID, after: since?.stream ?? 0, upTo: membership.stream, limit: limit + 1)
        let visible = try await rooms.visible(events, to: requester.userID, in: roomID)
        let timeline = Array(visible.prefix(limit).reversed())
        return [
            "timeline": [
                "events": .array(try await rooms.clientEvents(timeline, for: requester)),
                "limited": .bool(visible.count > limit),
                "prev_batch": .string(timeline.first.map {
                    PaginationToken.topological(TopologicalPosition(depth: $0.pdu.depth, stream: $0.stream)).text
                } ?? SyncToken(stream: membership.stream, typing: 0).text),
            ],
            "state": ["events": []],
            "account_data": ["events": []],
        ]
    }

    /// The stripped state an invitee or knocker sees before joining.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#stripped-state
    public func strippedState(_ roomID: RoomID, membershipEvent: EventID) async throws -> [JSONValue] {
        func stripped(_ event: JSONObject) -> JSONValue? {
            guard let type = event["type"]?.stringValue, let content = event["content"]?.objectValue else { return nil }
            var out: JSONObject = ["type": .string(type), "content": .object(content)]
            if let sender = event["sender"] { out["sender"] = sender }
            if let key = event["state_key"] { out["state_key"] = key }
            return .object(out)
        }
        // An invite or knock from another server carries the room's state, as that server
        // described it, in the membership event's `unsigned`.
        if let membership = try await store.event(membershipEvent), membership.outlier {
            let carried = membership.pdu.json["unsigned"]?["invite_room_state"]?.arrayValue
                ?? membership.pdu.json["unsigned"]?["knock_room_state"]?.arrayValue ?? []
            return carried.compactMap { $0.objectValue.flatMap(stripped) } + [stripped(membership.pdu.json)].compactMap { $0 }
        }
        let keys = ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias",
                    "m.room.encryption", "m.room.topic"].map { StateKey($0, "") }
        let current = try await rooms.currentState(roomID)
        var ids = keys.compactMap { current[$0] }
        ids.append(membershipEvent)
        let events = try await rooms.pdus(ids)
        return ids.compactMap { events[$0] }.compactMap { stripped($0.json) }
    }

    /// Aggregates receipts into the `m.receipt` EDU shape; private receipts only for their owner.
    func receiptEvent(_ receipts: [Receipt], for user: UserID) -> JSONObject? {
        var content = JSONObject()
        for receipt in receipts where receipt.type != "m.read.private" || receipt.userID == user {
            var byEvent = content[receipt.eventID.rawValue]?.objectValue ?? [:]
            var byType = byEvent[receipt.type]?.objectValue ?? [:]
            var entry: JSONObject = ["ts": .int(receipt.timestamp)]
            if let thread = receipt.threadID { entry["thread_id"] = .string(thread) }
            byType[receipt.userID.rawValue] = .object(entry)
            byEvent[receipt.type] = .object(byType)
            content[receipt.eventID.rawValue] = .object(byEvent)
        }
        return content.isEmpty ? nil : ["type": "m.receipt", "content": .object(content)]
    }

    /// Notification and highlight counts since the user's read receipt, using the push rules.
    func unreadCounts(_ roomID: RoomID, for user: UserID) async throws -> JSONObject {
        let receipt = try await userData.receipt(of: user, in: roomID, type: "m.read")
        let privateReceipt = try await userData.receipt(of: user, in: roomID, type: "m.read.private")
        var readStream: StreamPosition = 0
        for id in [receipt?.eventID, privateReceipt?.eventID].compactMap({ $0 }) {
            if let event = try await store.event(id) { readStream = max(readStream, event.stream) }
        }
        let now = try await store.currentStreamPosition()
        // Counted among the 100 newest events after the receipt; the user's own message marks
        // everything before it as read.
        let unread = try await store.eventsAfterOwnLatest(in: roomID, user: user, after: readStream, upTo: now, window: 100)
        var notifications: Int64 = 0
        var highlights: Int64 = 0
        if unread.isEmpty { return ["notification_count": 0, "highlight_count": 0] }
        let display = try await rooms.currentStateEvent(roomID, .member(user))?.content["displayname"]?.stringValue
        let memberCount = try await rooms.members(of: roomID).filter { $0.membership == "join" }.count
        let ruleset = try await pushRules.ruleset(for: user)
        let levels = try await rooms.powerLevels(roomID)
        for event in unread {
            let senderLevel = levels.userLevel(event.pdu.sender).finiteValue ?? Int64.max
            let context = PushContext(userID: user, displayName: display, roomMemberCount: memberCount,
                                      powerLevels: PushPowerLevels(senderLevel: senderLevel,
                                                                   notificationLevels: ["room": levels.notificationLevel("room") ?? 50]))
            guard let outcome = PushEvaluator.evaluate(event.pdu.clientEvent(), ruleset: ruleset, context: context) else { continue }
            if outcome.notify { notifications += 1 }
            if outcome.highlight { highlights += 1 }
        }
        return ["notification_count": .int(notifications), "highlight_count": .int(highlights)]
    }
}
