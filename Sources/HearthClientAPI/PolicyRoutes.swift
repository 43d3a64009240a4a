import HearthCore
import HearthHTTP
import HearthHomeserver
import HearthStorage
import Hummingbird

/// Hearth's own administration of the organization policy (Spec/policy.md): room classes, the
/// egress audit log, and what the policy would let leave. Under `/_hearth/admin/v1`, with the
/// client API's access tokens.
enum PolicyRoutes {
    static let prefix = "/_hearth/admin/v1"

    static func routes(_ e: ClientEndpoint) -> [Route] {
        let hs = e.homeserver
        return [
            // A room's class: any member of the room, or a server admin, may read it.
            e.authed(.get, [prefix + "/rooms/{roomId}/class"]) { request, requester in
                let roomID = try request.roomID()
                guard try await hs.rooms.exists(roomID) else { throw MatrixError.notFound("Unknown room") }
                if !requester.isAdmin, try await hs.rooms.membership(of: requester.userID, in: roomID) != "join" {
                    throw MatrixError.forbidden("Only members of the room and server admins may read its class")
                }
                let policy = try await hs.rooms.roomPolicy(roomID)
                return MatrixResponse(json: ["room_id": .string(roomID.rawValue), "class": .string(policy.roomClass.rawValue),
                                             "partners": JSONValue(policy.partners.map(\.rawValue)), "assigned": .bool(policy.assigned)])
            },
            // Changing it: server admins, or room admins within what the policy allows them.
            e.authed(.put, [prefix + "/rooms/{roomId}/class"], access: .nonGuest) { request, requester in
                let roomID = try request.roomID()
                let body = try request.jsonBody()
                guard let text = body["class"]?.stringValue, let roomClass = RoomClass(rawValue: text) else {
                    throw MatrixError.badJSON("class must be local_only, partners or open")
                }
                var partners: [ServerName] = []
                for entry in body["partners"]?.arrayValue ?? [] {
                    guard let name = entry.stringValue.flatMap(ServerName.init) else {
                        throw MatrixError.badJSON("partners must be a list of server names")
                    }
                    partners.append(name)
                }
                try await hs.rooms.changeRoomClass(roomID, to: roomClass, partners: partners, by: requester.userID,
                                                   isServerAdmin: requester.isAdmin)
                return .empty
            },
            // The audit log, oldest first, filtered; `from` pages.
            e.authed(.get, [prefix + "/audit"]) { request, requester in
                guard requester.isAdmin else { throw MatrixError.forbidden("Only server admins may read the audit log") }
                let filter = AuditFilter(destination: request.query("destination"), roomID: request.query("room_id"),
                                         userID: request.query("user_id"), decision: request.query("decision"),
                                         dataKind: request.query("data_kind"), since: try request.queryInt("since").map(Int64.init),
                                         until: try request.queryInt("until").map(Int64.init))
                let from = Int64(try request.queryInt("from") ?? 0)
                let limit = min(max(try request.queryInt("limit") ?? 100, 1), 1000)
                let records = try await hs.storage.federation.auditRecords(matching: filter, after: from, limit: limit)
                var response: JSONObject = ["records": .array(records.map { .object($0.json) })]
                if records.count == limit, let last = records.last { response["next_from"] = .int(last.sequence) }
                return MatrixResponse(json: response)
            },
            // Checks the whole chain.
            e.authed(.get, [prefix + "/audit/verify"]) { _, requester in
                guard requester.isAdmin else { throw MatrixError.forbidden("Only server admins may verify the audit log") }
                let result = try await AuditVerification.run(hs.storage.federation)
                return MatrixResponse(json: result.json)
            },
            // What would leave for a destination, without sending anything.
            e.authed(.get, [prefix + "/policy/explain"]) { request, requester in
                guard requester.isAdmin else { throw MatrixError.forbidden("Only server admins may explain the policy") }
                guard let text = request.query("destination") else { throw MatrixError.missingParam("destination is required") }
                guard let destination = ServerName(text) else { throw MatrixError.invalidParam("destination is not a server name") }
                let roomID = try request.query("room_id").map { text throws(MatrixError) -> RoomID in
                    guard let id = RoomID(text) else { throw MatrixError.invalidParam("room_id is not a room ID") }
                    return id
                }
                let userID = try request.query("user_id").map { text throws(MatrixError) -> UserID in
                    guard let id = UserID(text) else { throw MatrixError.invalidParam("user_id is not a user ID") }
                    return id
                }
                let explanation = try await PolicyExplanation.explain(destination: destination, roomID: roomID, userID: userID,
                                                                      rooms: hs.rooms)
                return MatrixResponse(json: explanation.json)
            },
        ]
    }
}
