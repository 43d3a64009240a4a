import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird
import Logging

/// Server-side key backup.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-side-key-backups
enum KeyBackupRoutes {
    /// Parses `{roomId: {"sessions": {sessionId: KeyBackupData}}}`.
    static func backupKeys(rooms: JSONObject) throws(MatrixError) -> [BackupKey] {
        var keys: [BackupKey] = []
        for room in rooms {
            guard let sessions = room.value["sessions"]?.objectValue else { throw .badJSON("Each room needs sessions") }
            keys += try backupKeys(roomID: room.key, sessions: sessions)
        }
        return keys
    }

    static func backupKeys(roomID: String, sessions: JSONObject) throws(MatrixError) -> [BackupKey] {
        var keys: [BackupKey] = []
        for session in sessions {
            guard let data = session.value.objectValue else { throw .badJSON("Key data must be an object") }
            keys.append(try backupKey(roomID: roomID, sessionID: session.key, data: data))
        }
        return keys
    }

    static func backupKey(roomID: String, sessionID: String, data: JSONObject) throws(MatrixError) -> BackupKey {
        guard let index = try data.optionalInt("first_message_index"), let forwarded = try data.optionalInt("forwarded_count"),
              let verified = try data.optionalBool("is_verified"), let sessionData = try data.optionalObject("session_data")
        else { throw .missingParam("Key data needs first_message_index, forwarded_count, is_verified and session_data") }
        return BackupKey(roomID: roomID, sessionID: sessionID, firstMessageIndex: index, forwardedCount: forwarded,
                         isVerified: verified, sessionData: sessionData)
    }

    static func routes(_ e: ClientEndpoint) -> [Route] {
        let keys = e.homeserver.keys
        let all = "/room_keys/keys", room = "/room_keys/keys/{roomId}", session = "/room_keys/keys/{roomId}/{sessionId}"
        return [
            e.authed(.post, ClientEndpoint.client("/room_keys/version"), rateLimited: true) { request, requester in
                let body = try request.jsonBody()
                guard let authData = try body.optionalObject("auth_data") else { throw MatrixError.missingParam("Missing auth_data") }
                let version = try await keys.createBackup(algorithm: try body.requireString("algorithm"), authData: authData,
                                                          for: requester.userID)
                return MatrixResponse(json: ["version": .string(version)])
            },
            e.authed(.get, ClientEndpoint.client("/room_keys/version")) { _, requester in
                MatrixResponse(json: try await keys.backup(nil, for: requester.userID))
            },
            e.authed(.get, ClientEndpoint.client("/room_keys/version/{version}")) { request, requester in
                MatrixResponse(json: try await keys.backup(try request.path("version"), for: requester.userID))
            },
            e.authed(.put, ClientEndpoint.client("/room_keys/version/{version}")) { request, requester in
                let version = try request.path("version")
                let body = try request.jsonBody()
                if let named = try body.optionalString("version"), named != version {
                    throw MatrixError.invalidParam("version does not match the path")
                }
                guard let authData = try body.optionalObject("auth_data") else { throw MatrixError.missingParam("Missing auth_data") }
                try await keys.updateBackup(version, algorithm: try body.requireString("algorithm"), authData: authData, for: requester.userID)
                return .empty
            },
            e.authed(.delete, ClientEndpoint.client("/room_keys/version/{version}")) { request, requester in
                try await keys.deleteBackup(try request.path("version"), for: requester.userID)
                return .empty
            },
            e.authed(.put, ClientEndpoint.client(all), rateLimited: true) { request, requester in
                guard let rooms = try request.jsonBody().optionalObject("rooms") else { throw MatrixError.missingParam("Missing rooms") }
                let parsed = try backupKeys(rooms: rooms)
                return MatrixResponse(json: try await keys.putBackupKeys(parsed, version: request.query("version"), for: requester.userID))
            },
            e.authed(.put, ClientEndpoint.client(room), rateLimited: true) { request, requester in
                guard let sessions = try request.jsonBody().optionalObject("sessions") else { throw MatrixError.missingParam("Missing sessions") }
                let parsed = try backupKeys(roomID: try request.path("roomId"), sessions: sessions)
                return MatrixResponse(json: try await keys.putBackupKeys(parsed, version: request.query("version"), for: requester.userID))
            },
            e.authed(.put, ClientEndpoint.client(session), rateLimited: true) { request, requester in
                let parsed = try backupKey(roomID: try request.path("roomId"), sessionID: try request.path("sessionId"),
                                                        data: try request.jsonBody())
                return MatrixResponse(json: try await keys.putBackupKeys([parsed], version: request.query("version"), for: requester.userID))
            },
        ] + [(all, false, false), (room, true, false), (session, true, true)].flatMap { path, hasRoom, hasSession in
            [
                e.authed(.get, ClientEndpoint.client(path)) { request, requester in
                    MatrixResponse(json: try await keys.backupKeys(
                        version: request.query("version"), roomID: hasRoom ? try request.path("roomId") : nil,
                        sessionID: hasSession ? try request.path("sessionId") : nil, for: requester.userID))
                },
                e.authed(.delete, ClientEndpoint.client(path)) { request, requester in
                    MatrixResponse(json: try await keys.deleteBackupKeys(
                        version: request.query("version"), roomID: hasRoom ? try request.path("roomId") : nil,
                        sessionID: hasSession ? try request.path("sessionId") : nil, for: requester.userID))
                },
            ]
        }
    }
}
