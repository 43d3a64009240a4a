public import HearthCore

/// Everything the homeserver persists, grouped by domain. A backend (SQLite today,
/// PostgreSQL later) implements each store; the homeserver code only sees these protocols.
///
/// Contract for every write: when the async call returns, the data is durable (committed
/// and, as configured, synced), so the caller may acknowledge it to a client.
public protocol Storage: Sendable {
    var accounts: any AccountStore { get }
    var rooms: any RoomStore { get }
    var userData: any UserDataStore { get }
    var media: any MediaStore { get }
    var federationInbox: any FederationInboxStore { get }
    var keys: any KeyStore { get }
    var federation: any FederationStore { get }
    /// Room classes, expiry, agreements, and a member's own data (PrivacyStore).
    var privacy: any PrivacyStore { get }
}

/// Failures a backend reports in terms the homeserver understands.
public enum StorageError: Error, Sendable, Equatable {
    /// A unique key already exists (a taken user ID, alias, transaction ID…).
    case conflict(String)
    case notFound(String)
    /// The backend failed; the message is for logs, never for clients.
    case backend(String)
}

/// Milliseconds since the Unix epoch, the unit Matrix uses for timestamps.
public typealias Milliseconds = Int64
