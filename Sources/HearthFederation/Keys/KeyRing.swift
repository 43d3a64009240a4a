public import HearthCore
public import HearthStorage
public import Logging
import Synchronization

/// A notary this server asks for keys it cannot fetch directly (`trusted_key_servers`).
public struct TrustedKeyServer: Sendable, Hashable {
    public var serverName: ServerName
    /// The notary's keys as configured; when empty, they are fetched from the notary itself.
    public var verifyKeys: [String: VerifyKey]

    public init(serverName: ServerName, verifyKeys: [String: VerifyKey] = [:]) {
        self.serverName = serverName
        self.verifyKeys = verifyKeys
    }
}

/// Answers "which key did server S use as key K, valid at time T": from this server's own
/// keys, from memory, from the database, or by fetching (directly, then through notaries).
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys
public final class KeyRing: Sendable {
    public let local: LocalServerKeys
    private let store: any ServerKeyStore
    private let client: FederationClient
    private let notaries: [TrustedKeyServer]
    private let now: @Sendable () -> Milliseconds
    private let logger: Logger
    private let cache = Mutex<[ServerName: [String: StoredServerKey]]>([:])
    private let fetches = Mutex<[ServerName: Task<Void, Never>]>([:])
    private let lastFetch = Mutex<[ServerName: Milliseconds]>([:])
    /// Fetching again for a server sooner than this after the last attempt is not done: a
    /// peer sending events with unknown key IDs must not make us hammer a server.
    static let refetchInterval: Milliseconds = 30_000

    public init(local: LocalServerKeys, store: any ServerKeyStore, client: FederationClient, notaries: [TrustedKeyServer] = [],
                logger: Logger, now: @escaping @Sendable () -> Milliseconds) {
        self.local = local
        self.store = store
        self.client = client
        self.notaries = notaries
        self.logger = logger
        self.now = now
    }

    /// The key `keyID` of `server`.
    ///
    /// - Parameters:
    ///   - validAt: the time the key must be valid at (room versions 5+: the event's
    ///     `origin_server_ts`); nil accepts any known key, however old (room versions 1–4).
    ///   - current: the use needs a key the server signs with now (request authentication):
    ///     old keys are refused.
    public func verifyKey(for server: ServerName, keyID: String, validAt: Milliseconds?,
                          current: Bool = false) async throws(KeyRingError) -> VerifyKey {
        if server == local.serverName {
            guard let (key, expired) = local.key(keyID) else { throw .unknownKey(server, keyID: keyID) }
            if let expired, current || (validAt.map { $0 > expired } ?? false) { throw .expiredKey(server, keyID: keyID) }
            return key
        }
        if let key = try usable(await cachedKey(server, keyID), server: server, keyID: keyID, validAt: validAt, current: current) {
            return key
        }
        await fetch(server, keyID: keyID, minimumValidUntil: validAt ?? now())
        guard let stored = await cachedKey(server, keyID) else { throw .unknownKey(server, keyID: keyID) }
        guard let key = try usable(stored, server: server, keyID: keyID, validAt: validAt, current: current) else {
            throw .expiredKey(server, keyID: keyID)
        }
        return key
    }

    private func usable(_ stored: StoredServerKey?, server: ServerName, keyID: String, validAt: Milliseconds?,
                        current: Bool) throws(KeyRingError) -> VerifyKey? {
        guard let stored, let key = VerifyKey(bytes: stored.publicKey) else { return nil }
        if current {
            // A request is signed now: the key must be a current one, valid now.
            if stored.isOld { throw .expiredKey(server, keyID: keyID) }
            return stored.validUntil >= now() ? key : nil
        }
        guard let validAt else { return key }
        if stored.validUntil >= validAt { return key }
        // An old key cannot become valid again by refetching.
        if stored.isOld { throw .expiredKey(server, keyID: keyID) }
        return nil
    }

    private func cachedKey(_ server: ServerName, _ keyID: String) async -> StoredServerKey? {
        if let keys = cache.withLock({ $0[server] }) { return keys[keyID] }
        let stored = (try? await store.serverKeys(of: server)) ?? []
        let keys = Dictionary(stored.map { ($0.keyID, $0) }, uniquingKeysWith: { $1 })
        cache.withLock { $0[server] = keys }
        return keys[keyID]
    }

    /// Caches freshly fetched keys: memory and database. A key already known is only replaced
    /// by one valid for longer (a stale notary answer cannot shorten or revive a key).
    func remember(_ keys: [StoredServerKey]) async {
        guard let server = keys.first?.server else { return }
        _ = await cachedKey(server, "")
        let accepted = cache.withLock { cache -> [StoredServerKey] in
            var known = cache[server] ?? [:]
            var accepted: [StoredServerKey] = []
            for key in keys {
                if let existing = known[key.keyID], existing.validUntil >= key.validUntil, existing.isOld || !key.isOld { continue }
                known[key.keyID] = key
                accepted.append(key)
            }
            cache[server] = known
            return accepted
        }
        do { try await store.storeServerKeys(accepted) } catch {
            logger.warning("cannot persist server keys", metadata: ["server": "\(server)", "error": "\(error)"])
        }
    }

    // MARK: Fetching

    /// Fetches `server`'s keys once (concurrent callers share the fetch), directly and, if
    /// that did not yield `keyID` valid until `minimumValidUntil`, through each notary.
    private func fetch(_ server: ServerName, keyID: String, minimumValidUntil: Milliseconds) async {
        let time = now()
        let task = fetches.withLock { fetches -> Task<Void, Never>? in
            if let running = fetches[server] { return running }
            if let last = lastFetch.withLock({ $0[server] }), time - last < Self.refetchInterval { return nil }
            lastFetch.withLock { $0[server] = time }
            let task = Task {
                await self.fetchNow(server, keyID: keyID, minimumValidUntil: minimumValidUntil)
                _ = self.fetches.withLock { $0.removeValue(forKey: server) }
            }
            fetches[server] = task
            return task
        }
        await task?.value
    }

    private func fetchNow(_ server: ServerName, keyID: String, minimumValidUntil: Milliseconds) async {
        do {
            let response = try await fetchDirectly(server)
            await remember(response.storedKeys(fetchedAt: now()))
            if let key = await cachedKey(server, keyID), key.validUntil >= minimumValidUntil { return }
        } catch {
            logger.info("direct key fetch failed", metadata: ["server": "\(server)", "error": "\(error)"])
        }
        for notary in notaries where notary.serverName != server {
            do {
                for response in try await fetchThroughNotary(notary, server: server, keyID: keyID, minimumValidUntil: minimumValidUntil) {
                    await remember(response.storedKeys(fetchedAt: now()))
                }
                if let key = await cachedKey(server, keyID), key.validUntil >= minimumValidUntil { return }
            } catch {
                logger.info("notary key fetch failed", metadata: ["server": "\(server)", "notary": "\(notary.serverName)",
                                                                  "error": "\(error)"])
            }
        }
    }

    /// `GET /_matrix/key/v2/server` on `server`, checked.
    public func fetchDirectly(_ server: ServerName) async throws -> ServerKeysResponse {
        let answer = try await client.send(kind: .keyFetch, "GET", "/_matrix/key/v2/server", json: nil, destination: server,
                                           signed: false).jsonObject()
        return try ServerKeysResponse(json: answer, expectedServer: server)
    }

    /// `POST /_matrix/key/v2/query` on a notary: the answers for `server` that are self-signed
    /// and signed by the notary.
    func fetchThroughNotary(_ notary: TrustedKeyServer, server: ServerName, keyID: String,
                            minimumValidUntil: Milliseconds) async throws -> [ServerKeysResponse] {
        let body: JSONObject = ["server_keys": [server.rawValue: [keyID: ["minimum_valid_until_ts": .int(minimumValidUntil)]]]]
        let answer = try await client.send(kind: .keyFetch, "POST", "/_matrix/key/v2/query", json: .object(body),
                                           destination: notary.serverName, signed: false).jsonObject()
        var responses: [ServerKeysResponse] = []
        for entry in answer["server_keys"]?.arrayValue ?? [] {
            guard let object = entry.objectValue, object["server_name"]?.stringValue == server.rawValue else { continue }
            guard try await isSignedByNotary(object, notary: notary) else {
                logger.warning("notary answer without a valid notary signature", metadata: ["notary": "\(notary.serverName)"])
                continue
            }
            responses.append(try ServerKeysResponse(json: object, expectedServer: server))
        }
        return responses
    }

    private func isSignedByNotary(_ object: JSONObject, notary: TrustedKeyServer) async throws -> Bool {
        let keyIDs = JSONSigning.ed25519KeyIDs(in: object, by: notary.serverName.rawValue)
        for keyID in keyIDs {
            let key: VerifyKey
            if let configured = notary.verifyKeys[keyID] {
                key = configured
            } else if notary.verifyKeys.isEmpty, let fetched = try? await verifyKey(for: notary.serverName, keyID: keyID, validAt: nil) {
                key = fetched
            } else {
                continue
            }
            if (try? JSONSigning.verify(object, by: notary.serverName.rawValue, keyID: keyID, key: key)) != nil { return true }
        }
        return false
    }

    // MARK: Notary service

    /// The cached key responses for `server` valid until at least `minimumValidUntil`; when
    /// none, a fresh direct fetch. Used to answer `/_matrix/key/v2/query`.
    func responsesForNotary(_ server: ServerName, minimumValidUntil: Milliseconds) async -> [JSONObject] {
        if server == local.serverName { return [local.serverKeysResponse(now: now())] }
        func cached() async -> [JSONObject] {
            _ = await cachedKey(server, "")
            let keys = cache.withLock { $0[server].map { Array($0.values) } ?? [] }
            var seen = Set<[UInt8]>()
            return keys.filter { !$0.isOld && $0.validUntil >= minimumValidUntil }.map(\.response).filter {
                seen.insert($0.encoded()).inserted
            }
        }
        let found = await cached()
        if !found.isEmpty { return found }
        if let response = try? await fetchDirectly(server) {
            await remember(response.storedKeys(fetchedAt: now()))
            return [response.json]
        }
        // Unreachable: whatever is cached, even if it expires sooner than asked.
        _ = await cachedKey(server, "")
        let keys = cache.withLock { $0[server].map { Array($0.values) } ?? [] }
        return keys.first.map { [$0.response] } ?? []
    }
}
