public import HearthCore
public import HearthStorage
import Synchronization

/// Typing notifications and presence: data that lives in memory only and is lost, by design,
/// on restart. Changes are numbered by one serial, which is the second part of a sync token.
public final class EphemeralState: Sendable {
    public struct Presence: Sendable, Equatable {
        public var state: String
        public var statusMessage: String?
        public var lastActive: Milliseconds
        public var serial: Int64
    }

    private struct State {
        var serial: Int64 = 0
        /// room → user → expiry time
        var typing: [RoomID: [UserID: Milliseconds]] = [:]
        var typingChanged: [RoomID: Int64] = [:]
        var presence: [UserID: Presence] = [:]
    }

    private let state = Mutex(State())
    private let clock: any WallClock
    private let notifier: StreamNotifier

    init(clock: any WallClock, notifier: StreamNotifier) {
        self.clock = clock
        self.notifier = notifier
    }

    public var serial: Int64 { state.withLock { $0.serial } }

    /// Starts or stops `user` typing in `room`. `timeout` bounds how long "typing" lasts
    /// without a refresh.
    public func setTyping(_ user: UserID, in room: RoomID, typing: Bool, timeout: Milliseconds) {
        let now = clock.now()
        let lasts = min(max(timeout, 0), 120_000)
        let changed = state.withLock { state -> Bool in
            let wasTyping = (state.typing[room]?[user] ?? 0) > now
            if typing {
                state.typing[room, default: [:]][user] = now + lasts
            } else {
                state.typing[room]?[user] = nil
            }
            guard wasTyping != typing else { return false }
            state.serial += 1
            state.typingChanged[room] = state.serial
            return true
        }
        if changed { notifier.notify(rooms: [room.rawValue]) }
        if typing {
            // Wake waiting /syncs when the notification lapses without a refresh.
            Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(lasts + 5))
                self?.expireTyping()
            }
        }
    }

    /// Users typing in `room` now, and whether that changed after `serial`.
    public func typing(in room: RoomID, changedAfter serial: Int64) -> (users: [UserID], changed: Bool) {
        let now = clock.now()
        return state.withLock { state in
            let users = (state.typing[room] ?? [:]).filter { $0.value > now }.keys.sorted()
            return (users, (state.typingChanged[room] ?? 0) > serial)
        }
    }

    /// Expires typing notifications whose timeout passed, so that syncing clients see them stop.
    public func expireTyping() {
        let now = clock.now()
        let expiredRooms = state.withLock { state -> [RoomID] in
            var rooms: [RoomID] = []
            for (room, users) in state.typing {
                let remaining = users.filter { $0.value > now }
                if remaining.count != users.count {
                    state.typing[room] = remaining
                    state.serial += 1
                    state.typingChanged[room] = state.serial
                    rooms.append(room)
                }
            }
            return rooms
        }
        if !expiredRooms.isEmpty { notifier.notify(rooms: expiredRooms.map(\.rawValue)) }
    }

    public func setPresence(_ user: UserID, state presenceState: String, statusMessage: String?) {
        let now = clock.now()
        state.withLock { state in
            let previous = state.presence[user]
            state.serial += 1
            state.presence[user] = Presence(state: presenceState, statusMessage: statusMessage ?? previous?.statusMessage,
                                            lastActive: now, serial: state.serial)
        }
        notifier.notify(rooms: [], users: [user.rawValue])
    }

    public func presence(of user: UserID) -> Presence? { state.withLock { $0.presence[user] } }

    /// Presence of `users` that changed after `serial`.
    public func presenceChanges(of users: Set<UserID>, after serial: Int64) -> [(UserID, Presence)] {
        state.withLock { state in
            users.compactMap { user in
                guard let presence = state.presence[user], presence.serial > serial else { return nil }
                return (user, presence)
            }
        }
    }
}
