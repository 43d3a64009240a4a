public import HearthCore
public import HearthStorage
public import Logging
import Synchronization

/// The room semantics of federation, without HTTP: checking and persisting events other
/// servers send, answering their questions about rooms, joining and leaving rooms that live
/// elsewhere, and handing this server's events to the outgoing queues.
///
/// The transport is reached through `FederationPorts` (keys, signed requests, queues); until
/// `attach` is called the ports are offline and the server federates with nobody.
public final class RoomFederation: Sendable {
    let settings: HomeserverSettings
    let rooms: Rooms
    let store: any RoomStore
    let inbox: any FederationInboxStore
    let accounts: any AccountStore
    let userData: any UserDataStore
    let ephemeral: EphemeralState
    let notifier: StreamNotifier
    let clock: any WallClock
    let logger: Logger
    let signingKey: SigningKey
    private let portsBox: Mutex<FederationPorts>
    /// One inbound transaction at a time per origin (the spec has senders wait for each reply;
    /// this also caps what one origin can make this server do at once).
    let originLocks = KeyedLocks<ServerName>()
    /// Transactions being processed, so a retry that arrives meanwhile waits for the same answer.
    let inFlight = Mutex<[String: Task<JSONObject, any Error>]>([:])
    let limits: FederationLimits
    /// Set once by `Homeserver`: to-device messages and device lists from other servers.
    let endToEnd = Mutex<EndToEndKeys?>(nil)

    init(settings: HomeserverSettings, rooms: Rooms, storage: any Storage, ephemeral: EphemeralState,
         notifier: StreamNotifier, clock: any WallClock, logger: Logger, signingKey: SigningKey,
         limits: FederationLimits = FederationLimits()) {
        self.settings = settings
        self.rooms = rooms
        self.store = storage.rooms
        self.inbox = storage.federationInbox
        self.accounts = storage.accounts
        self.userData = storage.userData
        self.ephemeral = ephemeral
        self.notifier = notifier
        self.clock = clock
        self.logger = logger
        self.signingKey = signingKey
        self.limits = limits
        self.portsBox = Mutex(.offline(serverName: settings.serverName, signingKey: signingKey))
    }

    /// Connects the transport.
    public func attach(_ ports: FederationPorts) { portsBox.withLock { $0 = ports } }

    public var ports: FederationPorts { portsBox.withLock { $0 } }
    var remotes: any RemoteHomeservers { ports.remotes }

    public var serverName: ServerName { settings.serverName }

    func isLocal(_ user: UserID) -> Bool { user.server == settings.serverName }

    // MARK: Who is in a room

    /// The servers with a joined member in the room's current state, this one included.
    public func serversInRoom(_ roomID: RoomID) async throws -> Set<ServerName> {
        var servers = Set<ServerName>()
        for member in try await store.members(of: roomID) where member.membership == "join" { servers.insert(member.userID.server) }
        return servers
    }

    /// Whether this server can build events on the room's head itself: it holds the room's
    /// state and a member of this server is joined (or nobody is: an emptied room that no other
    /// server can have moved on). A room known only from an invite is not resident.
    public func isResident(_ roomID: RoomID) async throws -> Bool {
        guard try await rooms.exists(roomID), try await rooms.currentState(roomID)[.create] != nil else { return false }
        let servers = try await serversInRoom(roomID)
        return servers.isEmpty || servers.contains(settings.serverName)
    }

    /// The room's server ACL decision for `server` (every server is allowed without one).
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#server-access-control-lists-acls
    public func isAllowedByACL(_ server: ServerName, in roomID: RoomID) async throws -> Bool {
        guard try await rooms.exists(roomID),
              let event = try await rooms.currentStateEvent(roomID, StateKey("m.room.server_acl", ""))
        else { return true }
        return ServerACL(content: event.content).allows(server)
    }

    /// Refuses a server the room's ACL denies, with 403 M_FORBIDDEN as the spec requires.
    func requireAllowedByACL(_ server: ServerName, in roomID: RoomID) async throws {
        guard try await isAllowedByACL(server, in: roomID) else {
            throw MatrixError.forbidden("Server \(server) is denied by the room's server ACL")
        }
    }
}

/// Bounds on what inbound federation may cost.
public struct FederationLimits: Sendable {
    /// PDUs and EDUs per transaction (the spec's limits).
    public var maxPDUsPerTransaction = 50
    public var maxEDUsPerTransaction = 100
    /// Events asked for when filling a gap with /get_missing_events.
    public var missingEventsLimit = 10
    /// Above this many unknown state events, /state is asked instead of /event per event.
    public var eventsFetchedOneByOne = 50
    /// Rounds of fetching auth events of fetched events.
    public var authChainFetchRounds = 8
    /// Events one /backfill request returns at most.
    public var maxBackfill = 100

    public init() {}
}
