public import HearthCore

/// A /sync filter (`Filter` in the spec), parsed once per request.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#filtering
public struct SyncFilter: Sendable {
    public struct RoomFilter: Sendable {
        public var rooms: [String]?
        public var notRooms: [String]
        public var includeLeave: Bool
        public var timeline: EventFilter
        public var state: EventFilter
        public var ephemeral: EventFilter
        public var accountData: EventFilter
        public var includesEphemeral: Bool { ephemeral.limit != 0 && ephemeral.types?.isEmpty != true }

        public func allowsRoom(_ roomID: RoomID) -> Bool {
            if notRooms.contains(roomID.rawValue) { return false }
            if let rooms, !rooms.contains(roomID.rawValue) { return false }
            return true
        }
    }

    public var room: RoomFilter
    public var presence: EventFilter
    public var accountData: EventFilter

    public init(_ json: JSONObject?) {
        let room = json?["room"]?.objectValue
        self.room = RoomFilter(
            rooms: room?["rooms"]?.arrayValue?.compactMap(\.stringValue),
            notRooms: room?["not_rooms"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            includeLeave: room?["include_leave"]?.boolValue ?? false,
            timeline: EventFilter(room?["timeline"]?.objectValue),
            state: EventFilter(room?["state"]?.objectValue),
            ephemeral: EventFilter(room?["ephemeral"]?.objectValue),
            accountData: EventFilter(room?["account_data"]?.objectValue))
        presence = EventFilter(json?["presence"]?.objectValue)
        accountData = EventFilter(json?["account_data"]?.objectValue)
    }

    /// Checks a filter a client uploads: the fields the spec types must have their types.
    public static func validate(_ json: JSONObject) throws(MatrixError) {
        func checkEventFilter(_ value: JSONValue?, _ path: String) throws(MatrixError) {
            guard let value else { return }
            guard let object = value.objectValue else { throw .badJSON("\(path) must be an object") }
            if let limit = object["limit"], limit.intValue == nil { throw .badJSON("\(path).limit must be an integer") }
            for key in ["types", "not_types", "senders", "not_senders", "rooms", "not_rooms"] {
                if let list = object[key], list.arrayValue?.allSatisfy({ $0.stringValue != nil }) != true {
                    throw .badJSON("\(path).\(key) must be a list of strings")
                }
            }
        }
        try checkEventFilter(json["presence"], "presence")
        try checkEventFilter(json["account_data"], "account_data")
        if let room = json["room"] {
            guard let object = room.objectValue else { throw .badJSON("room must be an object") }
            for key in ["timeline", "state", "ephemeral", "account_data"] { try checkEventFilter(object[key], "room.\(key)") }
        }
        if let fields = json["event_fields"], fields.arrayValue?.allSatisfy({ $0.stringValue != nil }) != true {
            throw .badJSON("event_fields must be a list of strings")
        }
        if let format = json["event_format"], format.stringValue != "client", format.stringValue != "federation" {
            throw .badJSON("event_format must be client or federation")
        }
    }
}
