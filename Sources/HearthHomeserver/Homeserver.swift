public import HearthCore
public import HearthStorage
public import Logging
import Synchronization

/// The homeserver's behaviour, without HTTP: every feature, wired to one storage backend.
public final class Homeserver: Sendable {
    public let settings: HomeserverSettings
    public let storage: any Storage
    public let signingKey: SigningKey
    public let clock: any WallClock
    public let logger: Logger
    public let notifier: StreamNotifier
    public let accounts: Accounts
    public let rooms: Rooms
    public let ephemeral: EphemeralState
    public let sync: Sync
    public let pushRules: PushRules
    public let media: Media
    public let federation: RoomFederation
    public let openID: OpenIDTokens
    public let keys: EndToEndKeys

    public init(settings: HomeserverSettings, storage: any Storage, signingKey: SigningKey,
                clock: any WallClock = SystemClock(), logger: Logger, remoteKeys: (any RemoteKeyService)? = nil) throws {
        self.settings = settings
        self.storage = storage
        self.signingKey = signingKey
        self.clock = clock
        self.logger = logger
        notifier = StreamNotifier()
        accounts = Accounts(settings: settings, store: storage.accounts, clock: clock, uia: UserInteractiveAuth(clock: clock))
        rooms = Rooms(settings: settings, store: storage.rooms, accounts: storage.accounts, privacy: storage.privacy,
                      signingKey: signingKey,
                      clock: clock, notifier: notifier, logger: logger)
        ephemeral = EphemeralState(clock: clock, notifier: notifier)
        let federation = RoomFederation(settings: settings, rooms: rooms, storage: storage, ephemeral: ephemeral, notifier: notifier,
                                        clock: clock, logger: logger, signingKey: signingKey)
        self.federation = federation
        let keys = EndToEndKeys(settings: settings, store: storage.keys, rooms: rooms, accounts: storage.accounts, notifier: notifier,
                                remote: remoteKeys ?? federation)
        self.keys = keys
        sync = Sync(rooms: rooms, store: storage.rooms, userData: storage.userData, ephemeral: ephemeral,
                    notifier: notifier, clock: clock, keys: keys, keyStore: storage.keys)
        pushRules = PushRules(userData: storage.userData)
        media = try Media(settings: settings, store: storage.media, clock: clock)
        openID = OpenIDTokens(clock: clock)
        rooms.federation.withLock { $0 = federation }
        federation.endToEnd.withLock { $0 = keys }
        let relay = Rooms.relayUserID(on: settings.serverName)
        rooms.localEventObserver.withLock {
            $0 = LocalEventObserver { [weak self] pdu in
                guard let self, pdu.type == "m.room.message" || pdu.stateKey == relay.rawValue else { return }
                Task { await self.relayObserve(pdu) }
            }
        }
    }

    public var serverName: ServerName { settings.serverName }

    /// Deactivates an account: it leaves every room, loses its sessions and devices, and with
    /// `erase` its profile goes too.
    public func deactivate(_ user: UserID, erase: Bool) async throws {
        // Erasing comes first, while the user is still in their rooms and may redact there.
        if erase { try await eraseMember(user) }
        try await rooms.leaveAll(user)
        for device in try await accounts.devices(of: user) { try await keys.deleteDevice(user, device.deviceID) }
        if erase {
            try await storage.accounts.setProfile(user, displayName: nil, avatarURL: nil)
            for key in try await storage.accounts.profileFields(user).keys {
                try await storage.accounts.setProfileField(user, key: key, value: nil)
            }
        }
        try await storage.accounts.setDeactivated(user)
        if erase { try await storage.privacy.scrubFreedSpace() }
    }

    /// Deletes devices with their sessions, keys and pending to-device messages.
    public func deleteDevices(_ user: UserID, _ deviceIDs: [String]) async throws {
        try await accounts.deleteDevices(user, deviceIDs)
        for deviceID in deviceIDs { try await keys.deleteDevice(user, deviceID) }
    }

    public func logout(_ requester: Requester) async throws {
        try await deleteDevices(requester.userID, [requester.deviceID])
    }

    public func logoutAll(_ requester: Requester) async throws {
        let devices = try await accounts.devices(of: requester.userID).map(\.deviceID)
        try await accounts.logoutAll(requester)
        for deviceID in devices { try await keys.deleteDevice(requester.userID, deviceID) }
    }

    /// A client's join. Guests may join only rooms whose `m.room.guest_access` is `can_join`;
    /// a user joining an upgraded room takes their tags along from its predecessor.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#guest-access
    public func join(_ roomID: RoomID, as requester: Requester, reason: String?, via: [ServerName] = []) async throws {
        let user = requester.userID
        if requester.isGuest {
            let access = try await rooms.currentStateEvent(roomID, StateKey("m.room.guest_access", ""))?.content["guest_access"]
            guard access?.stringValue == "can_join" else {
                throw MatrixError(.guestAccessForbidden, status: 403, "Guests cannot join this room")
            }
        }
        // A room this server is not in yet (a remote join) has no local membership to ask about.
        let wasJoined = try await rooms.exists(roomID) ? try await rooms.membership(of: user, in: roomID) == "join" : false
        _ = try await rooms.join(roomID, user: user, reason: reason, via: via)
        if !wasJoined, let old = try await rooms.predecessor(of: roomID),
           let tags = try await storage.userData.accountData(user, roomID: old, type: "m.tag"),
           try await storage.userData.accountData(user, roomID: roomID, type: "m.tag") == nil {
            try await setAccountData(user, roomID: roomID, type: "m.tag", content: tags)
        }
    }

    /// Sets a profile field and pushes it into the user's rooms.
    public func setProfile(_ user: UserID, displayName: String??, avatarURL: String??) async throws {
        guard var account = try await storage.accounts.account(user) else { throw MatrixError.notFound("Unknown user") }
        if let displayName { account.displayName = displayName }
        if let avatarURL { account.avatarURL = avatarURL }
        try await storage.accounts.setProfile(user, displayName: account.displayName, avatarURL: account.avatarURL)
        try await rooms.propagateProfile(of: user, displayName: account.displayName, avatarURL: account.avatarURL)
    }

    /// Account data (global when `roomID` is nil), waking /sync.
    public func setAccountData(_ user: UserID, roomID: RoomID?, type: String, content: JSONObject) async throws {
        try await storage.userData.setAccountData(user, roomID: roomID, type: type, content: content)
        notifier.notify(rooms: [], users: [user.rawValue])
    }

    /// A read receipt, waking /sync of everyone in the room.
    public func setReceipt(_ user: UserID, roomID: RoomID, eventID: EventID, type: String, threadID: String?) async throws {
        try await requireReadableEvent(user, roomID: roomID, eventID: eventID)
        let now = clock.now()
        try await storage.userData.setReceipt(Receipt(roomID: roomID, userID: user, type: type, eventID: eventID,
                                                      threadID: threadID, timestamp: now, stream: 0))
        notifier.notify(rooms: [roomID.rawValue], users: [user.rawValue])
        await federation.sendReceipt(user, in: roomID, eventID: eventID, type: type, threadID: threadID, at: now)
    }

    /// A local user starts or stops typing; the other servers in the room are told.
    public func setTyping(_ user: UserID, in roomID: RoomID, typing: Bool, timeout: Milliseconds) async {
        ephemeral.setTyping(user, in: roomID, typing: typing, timeout: timeout)
        await federation.sendTyping(user, in: roomID, typing: typing, timeout: timeout)
    }

    /// A local user's presence; servers sharing a room with them are told.
    public func setPresence(_ user: UserID, state: String, statusMessage: String?) async {
        ephemeral.setPresence(user, state: state, statusMessage: statusMessage)
        await federation.sendPresence(user, state: state, statusMessage: statusMessage)
    }

    /// The read marker (`m.fully_read` room account data), which only its owner sees.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#fully-read-markers
    public func setReadMarker(_ user: UserID, roomID: RoomID, eventID: EventID) async throws {
        try await requireReadableEvent(user, roomID: roomID, eventID: eventID)
        try await setAccountData(user, roomID: roomID, type: "m.fully_read", content: ["event_id": .string(eventID.rawValue)])
    }

    /// Receipts and markers point at events of a room the user is in.
    private func requireReadableEvent(_ user: UserID, roomID: RoomID, eventID: EventID) async throws {
        try await rooms.requireJoined(user, roomID)
        guard let event = try await storage.rooms.event(eventID), event.pdu.roomID == roomID else {
            throw MatrixError.notFound("Event not found")
        }
    }
}
