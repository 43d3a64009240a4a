public import HearthCore

/// A room's class under the organization policy, as assigned and stored.
public struct RoomClassRecord: Sendable, Equatable {
    public var roomID: RoomID
    /// `local_only`, `partners` or `open`.
    public var roomClass: String
    /// Partner servers of a `partners` room (empty: the policy's default partners).
    public var partners: [String]
    /// Who set it (nil: the server, at creation or from the policy's defaults).
    public var setBy: String?
    public var setAt: Milliseconds

    public init(roomID: RoomID, roomClass: String, partners: [String], setBy: String?, setAt: Milliseconds) {
        self.roomID = roomID
        self.roomClass = roomClass
        self.partners = partners
        self.setBy = setBy
        self.setAt = setAt
    }
}

/// Room classes, and the facts the policy needs that no other store answers directly.
public protocol RoomPolicyStore: Sendable {
    func roomClass(_ roomID: RoomID) async throws -> RoomClassRecord?
    func setRoomClass(_ record: RoomClassRecord) async throws
    /// Rooms with an event whose content mentions `mxcURI` (an upload posted there).
    func roomsMentioningMedia(_ mxcURI: String) async throws -> [RoomID]
}
