import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Device keys, one-time keys, cross-signing, to-device messages and key backup.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#end-to-end-encryption
enum EndToEndRoutes {
    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        let keys = hs.keys
        return [
            e.authed(.post, ClientEndpoint.client("/keys/upload")) { request, requester in
                let counts = try await keys.upload(requester, body: try request.jsonBody())
                var json = JSONObject()
                for (algorithm, count) in counts { json[algorithm] = .int(Int64(count)) }
                return MatrixResponse(json: ["one_time_key_counts": .object(json)])
            },
            e.authed(.post, ClientEndpoint.client("/keys/query")) { request, requester in
                let body = try request.jsonBody()
                guard let wanted = try body.optionalObject("device_keys") else { throw MatrixError.missingParam("Missing device_keys") }
                var query: [UserID: [String]] = [:]
                for member in wanted {
                    guard let user = UserID(member.key) else { throw MatrixError.invalidParam("Invalid user ID \(member.key)") }
                    query[user] = member.value.arrayValue?.compactMap(\.stringValue) ?? []
                }
                return MatrixResponse(json: try await keys.query(requester, deviceKeys: query))
            },
            e.authed(.post, ClientEndpoint.client("/keys/claim"), rateLimited: true) { request, _ in
                let body = try request.jsonBody()
                guard let wanted = try body.optionalObject("one_time_keys") else { throw MatrixError.missingParam("Missing one_time_keys") }
                var claim: [UserID: [String: String]] = [:]
                for member in wanted {
                    guard let user = UserID(member.key), let devices = member.value.objectValue else {
                        throw MatrixError.invalidParam("Invalid one_time_keys entry \(member.key)")
                    }
                    var perDevice: [String: String] = [:]
                    for device in devices {
                        guard let algorithm = device.value.stringValue else { throw MatrixError.badJSON("Algorithms must be strings") }
                        perDevice[device.key] = algorithm
                    }
                    claim[user] = perDevice
                }
                return MatrixResponse(json: try await keys.claim(claim))
            },
            e.authed(.get, ClientEndpoint.client("/keys/changes")) { request, requester in
                guard let from = request.query("from").flatMap(SyncToken.init), let to = request.query("to").flatMap(SyncToken.init) else {
                    throw MatrixError.missingParam("from and to must be sync tokens")
                }
                let changed = try await keys.changedDeviceLists(for: requester.userID, after: from.stream, upTo: to.stream)
                return MatrixResponse(json: ["changed": JSONValue(changed.map(\.rawValue).sorted()), "left": []])
            },
            e.authed(.post, ClientEndpoint.client("/keys/device_signing/upload")) { request, requester in
                let body = try request.jsonBody()
                // Replacing existing cross-signing keys needs the password; the first upload does not.
                if try await keys.hasMasterKey(requester.userID) {
                    try await hs.accounts.requirePassword(body.optionalObject("auth"), for: requester, purpose: "device_signing")
                }
                try await keys.uploadCrossSigningKeys(requester, body: body)
                return .empty
            },
            e.authed(.post, ClientEndpoint.client("/keys/signatures/upload")) { request, requester in
                MatrixResponse(json: ["failures": .object(try await keys.uploadSignatures(requester, body: try request.jsonBody()))])
            },
            e.authed(.put, ClientEndpoint.client("/sendToDevice/{eventType}/{txnId}"), rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                guard let messages = try body.optionalObject("messages") else { throw MatrixError.missingParam("Missing messages") }
                try await keys.sendToDevice(requester, type: try request.path("eventType"), transactionID: try request.path("txnId"),
                                            messages: messages)
                return .empty
            },
        ] + backupRoutes(e)
    }

    static func backupRoutes(_ e: ClientEndpoint) -> [Route] {
        let store = e.homeserver.storage.keys
        @Sendable func versionJSON(_ version: BackupVersion) -> JSONObject {
            ["version": .string(version.version), "algorithm": .string(version.algorithm), "auth_data": .object(version.authData),
             "etag": .string(version.etag), "count": .int(Int64(version.count))]
        }
        @Sendable func current(_ request: MatrixRequest, _ requester: Requester) async throws -> BackupVersion {
            guard let version = request.query("version") else { throw MatrixError.missingParam("Missing version") }
            guard let backup = try await store.backupVersion(requester.userID, version: version) else {
                throw MatrixError.notFound("Unknown backup version")
            }
            return backup
        }
        @Sendable func putKeys(_ requester: Requester, _ backup: BackupVersion, rooms: JSONObject) async throws {
            for room in rooms {
                guard let sessions = room.value["sessions"]?.objectValue else { throw MatrixError.badJSON("Missing sessions") }
                for session in sessions {
                    guard let key = session.value.objectValue, key["session_data"] != nil else { throw MatrixError.badJSON("Invalid key data") }
                    try await store.putBackupKey(requester.userID, version: backup.version, roomID: room.key, sessionID: session.key, key: key)
                }
            }
        }
        @Sendable func counts(_ requester: Requester, _ version: String) async throws -> MatrixResponse {
            guard let backup = try await store.backupVersion(requester.userID, version: version) else { throw MatrixError.notFound("Unknown backup version") }
            return MatrixResponse(json: ["etag": .string(backup.etag), "count": .int(Int64(backup.count))])
        }
        @Sendable func wrongVersion(_ request: MatrixRequest, _ requester: Requester) async throws -> BackupVersion {
            let backup = try await current(request, requester)
            // Writing to an old version is refused so clients notice a newer backup.
            if let latest = try await store.backupVersion(requester.userID, version: nil), latest.version != backup.version {
                throw MatrixError(.init(rawValue: "M_WRONG_ROOM_KEYS_VERSION"), status: 403, "Wrong backup version",
                                  extra: ["current_version": .string(latest.version)])
            }
            return backup
        }
        let keysPath = "/room_keys/keys"
        return [
            e.authed(.post, ClientEndpoint.client("/room_keys/version")) { request, requester in
                let body = try request.jsonBody()
                let algorithm = try body.requireString("algorithm")
                guard let authData = try body.optionalObject("auth_data") else { throw MatrixError.missingParam("Missing auth_data") }
                return MatrixResponse(json: ["version": .string(try await store.createBackupVersion(requester.userID, algorithm: algorithm, authData: authData))])
            },
            e.authed(.get, ClientEndpoint.client("/room_keys/version")) { _, requester in
                guard let backup = try await store.backupVersion(requester.userID, version: nil) else { throw MatrixError.notFound("No current backup version") }
                return MatrixResponse(json: versionJSON(backup))
            },
            e.authed(.get, ClientEndpoint.client("/room_keys/version/{version}")) { request, requester in
                guard let backup = try await store.backupVersion(requester.userID, version: try request.path("version")) else {
                    throw MatrixError.notFound("Unknown backup version")
                }
                return MatrixResponse(json: versionJSON(backup))
            },
            e.authed(.put, ClientEndpoint.client("/room_keys/version/{version}")) { request, requester in
                let version = try request.path("version")
                let body = try request.jsonBody()
                guard let backup = try await store.backupVersion(requester.userID, version: version) else { throw MatrixError.notFound("Unknown backup version") }
                if let given = try body.optionalString("version"), given != version { throw MatrixError.invalidParam("Version mismatch") }
                guard try body.requireString("algorithm") == backup.algorithm else { throw MatrixError.invalidParam("Algorithm cannot change") }
                guard let authData = try body.optionalObject("auth_data") else { throw MatrixError.missingParam("Missing auth_data") }
                try await store.updateBackupVersion(requester.userID, version: version, authData: authData)
                return .empty
            },
            e.authed(.delete, ClientEndpoint.client("/room_keys/version/{version}")) { request, requester in
                do { try await store.deleteBackupVersion(requester.userID, version: try request.path("version")) } catch StorageError.notFound {
                    throw MatrixError.notFound("Unknown backup version")
                }
                return .empty
            },
            e.authed(.put, ClientEndpoint.client(keysPath)) { request, requester in
                let backup = try await wrongVersion(request, requester)
                guard let rooms = try request.jsonBody().optionalObject("rooms") else { throw MatrixError.missingParam("Missing rooms") }
                try await putKeys(requester, backup, rooms: rooms)
                return try await counts(requester, backup.version)
            },
            e.authed(.put, ClientEndpoint.client(keysPath + "/{roomId}")) { request, requester in
                let backup = try await wrongVersion(request, requester)
                try await putKeys(requester, backup, rooms: [try request.path("roomId"): .object(try request.jsonBody())])
                return try await counts(requester, backup.version)
            },
            e.authed(.put, ClientEndpoint.client(keysPath + "/{roomId}/{sessionId}")) { request, requester in
                let backup = try await wrongVersion(request, requester)
                try await putKeys(requester, backup, rooms: [try request.path("roomId"): ["sessions": [try request.path("sessionId"): .object(try request.jsonBody())]]])
                return try await counts(requester, backup.version)
            },
            e.authed(.get, ClientEndpoint.client(keysPath)) { request, requester in
                let backup = try await current(request, requester)
                var rooms = JSONObject()
                for entry in try await store.backupKeys(requester.userID, version: backup.version, roomID: nil, sessionID: nil) {
                    var sessions = rooms[entry.roomID]?["sessions"]?.objectValue ?? [:]
                    sessions[entry.sessionID] = .object(entry.key)
                    rooms[entry.roomID] = ["sessions": .object(sessions)]
                }
                return MatrixResponse(json: ["rooms": .object(rooms)])
            },
            e.authed(.get, ClientEndpoint.client(keysPath + "/{roomId}")) { request, requester in
                let backup = try await current(request, requester)
                var sessions = JSONObject()
                for entry in try await store.backupKeys(requester.userID, version: backup.version, roomID: try request.path("roomId"), sessionID: nil) {
                    sessions[entry.sessionID] = .object(entry.key)
                }
                return MatrixResponse(json: ["sessions": .object(sessions)])
            },
            e.authed(.get, ClientEndpoint.client(keysPath + "/{roomId}/{sessionId}")) { request, requester in
                let backup = try await current(request, requester)
                guard let entry = try await store.backupKeys(requester.userID, version: backup.version, roomID: try request.path("roomId"),
                                                             sessionID: try request.path("sessionId")).first
                else { throw MatrixError.notFound("No key for this session") }
                return MatrixResponse(json: entry.key)
            },
            e.authed(.delete, ClientEndpoint.client(keysPath)) { request, requester in
                let backup = try await current(request, requester)
                try await store.deleteBackupKeys(requester.userID, version: backup.version, roomID: nil, sessionID: nil)
                return try await counts(requester, backup.version)
            },
            e.authed(.delete, ClientEndpoint.client(keysPath + "/{roomId}")) { request, requester in
                let backup = try await current(request, requester)
                try await store.deleteBackupKeys(requester.userID, version: backup.version, roomID: try request.path("roomId"), sessionID: nil)
                return try await counts(requester, backup.version)
            },
            e.authed(.delete, ClientEndpoint.client(keysPath + "/{roomId}/{sessionId}")) { request, requester in
                let backup = try await current(request, requester)
                try await store.deleteBackupKeys(requester.userID, version: backup.version, roomID: try request.path("roomId"),
                                                 sessionID: try request.path("sessionId"))
                return try await counts(requester, backup.version)
            },
        ]
    }
}
