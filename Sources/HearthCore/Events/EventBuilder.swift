/// Builds, hashes and signs a new event originating on this server.
public struct EventBuilder: Sendable {
    public var roomVersion: RoomVersion
    public var roomID: RoomID?
    public var type: String
    public var stateKey: String?
    public var sender: UserID
    public var content: JSONObject
    public var prevEvents: [EventID]
    public var authEvents: [EventID]
    public var depth: Int64
    public var originServerTS: Int64
    public var redacts: EventID?
    public var unsigned: JSONObject?

    public init(roomVersion: RoomVersion, roomID: RoomID?, type: String, stateKey: String? = nil, sender: UserID,
                content: JSONObject, prevEvents: [EventID], authEvents: [EventID], depth: Int64,
                originServerTS: Int64, redacts: EventID? = nil) {
        self.roomVersion = roomVersion
        self.roomID = roomID
        self.type = type
        self.stateKey = stateKey
        self.sender = sender
        self.content = content
        self.prevEvents = prevEvents
        self.authEvents = authEvents
        self.depth = depth
        self.originServerTS = originServerTS
        self.redacts = redacts
    }

    /// The unsigned event JSON in the room version's format.
    public func unsignedJSON(eventIDForLegacyVersions: EventID? = nil) -> JSONObject {
        var json: JSONObject = [
            "type": .string(type),
            "sender": .string(sender.rawValue),
            "content": .object(content),
            "depth": .int(depth),
            "origin_server_ts": .int(originServerTS),
        ]
        if let roomID { json["room_id"] = .string(roomID.rawValue) }
        if let stateKey { json["state_key"] = .string(stateKey) }
        if roomVersion.eventIDFormat == .serverScoped {
            // v1/v2 references are [id, {sha256: hash}] pairs; the hash is advisory and unchecked.
            json["prev_events"] = .array(prevEvents.map { [.string($0.rawValue), ["sha256": ""]] })
            json["auth_events"] = .array(authEvents.map { [.string($0.rawValue), ["sha256": ""]] })
            if let id = eventIDForLegacyVersions { json["event_id"] = .string(id.rawValue) }
            json["origin"] = .string(sender.server.rawValue)
        } else {
            json["prev_events"] = .array(prevEvents.map { .string($0.rawValue) })
            json["auth_events"] = .array(authEvents.map { .string($0.rawValue) })
        }
        if let redacts {
            if roomVersion.redactsIsTopLevel {
                json["redacts"] = .string(redacts.rawValue)
            } else {
                var content = self.content
                content["redacts"] = .string(redacts.rawValue)
                json["content"] = .object(content)
            }
        }
        return json
    }

    /// Hashes and signs the event with this server's key and decodes it.
    /// `legacyEventID` is needed for room versions 1 and 2, whose IDs the origin chooses.
    public func build(server: ServerName, key: SigningKey, legacyEventID: EventID? = nil) throws -> PDU {
        let json = unsignedJSON(eventIDForLegacyVersions: legacyEventID)
        let signed = try EventHashing.hashAndSign(json, server: server, key: key, version: roomVersion)
        return try PDU(json: signed, version: roomVersion)
    }
}
