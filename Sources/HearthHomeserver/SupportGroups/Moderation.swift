public import HearthCore
public import HearthStorage

/// The moderation queue: reports of events, rooms and users, read and resolved by the
/// moderators of the rooms concerned (those who may kick) and by server admins.
extension Homeserver {
    /// Whether `user` moderates `roomID` here (joined, with the power to kick).
    func moderates(_ user: UserID, _ roomID: RoomID) async throws -> Bool {
        guard try await rooms.exists(roomID), try await rooms.membership(of: user, in: roomID) == "join" else { return false }
        let levels = try await rooms.powerLevels(roomID)
        return levels.userLevel(user) >= .finite(levels.kick)
    }

    /// The reports `requester` may see: all for server admins, otherwise those about rooms
    /// they moderate. Unresolved only unless `includeResolved`.
    public func moderationQueue(for requester: UserID, isServerAdmin: Bool, roomID: RoomID?,
                                includeResolved: Bool) async throws -> [ContentReport] {
        var visible: [ContentReport] = []
        var moderated: [RoomID: Bool] = [:]
        for report in try await storage.userData.reports() {
            if !includeResolved, report.resolvedAt != nil { continue }
            if let roomID, report.roomID != roomID { continue }
            if !isServerAdmin {
                guard let room = report.roomID else { continue }
                if moderated[room] == nil { moderated[room] = try await moderates(requester, room) }
                guard moderated[room] == true else { continue }
            }
            visible.append(report)
        }
        return visible
    }

    /// Resolves a report. `remove`: the reported event is redacted by the moderator (which
    /// federates) before the report is closed.
    public func resolveReport(id: Int64, by moderator: UserID, isServerAdmin: Bool, resolution: String,
                              removeEvent: Bool) async throws {
        guard let report = try await storage.userData.reports().first(where: { $0.id == id }) else {
            throw MatrixError.notFound("No report \(id)")
        }
        if !isServerAdmin {
            guard let room = report.roomID, try await moderates(moderator, room) else {
                throw MatrixError.forbidden("Only the room's moderators and server admins resolve this report")
            }
        }
        guard report.resolvedAt == nil else { throw MatrixError(.unknown, status: 409, "The report was resolved already") }
        if removeEvent {
            guard let room = report.roomID, let event = report.eventID else {
                throw MatrixError.invalidParam("Only a report of an event can remove it")
            }
            _ = try await rooms.redact(room, sender: moderator, target: event, reason: "removed by a moderator", transaction: nil)
        }
        guard try await storage.userData.resolveReport(id: id, by: moderator, resolution: resolution, at: clock.now()) else {
            throw MatrixError(.unknown, status: 409, "The report was resolved already")
        }
    }
}

extension ContentReport {
    public var json: JSONObject {
        var object: JSONObject = ["id": .int(id), "reporter": .string(reporter.rawValue), "created_at": .int(createdAt)]
        if let roomID { object["room_id"] = .string(roomID.rawValue) }
        if let eventID { object["event_id"] = .string(eventID.rawValue) }
        if let userID { object["user_id"] = .string(userID.rawValue) }
        if let reason { object["reason"] = .string(reason) }
        if let score { object["score"] = .int(score) }
        if let resolvedAt { object["resolved_at"] = .int(resolvedAt) }
        if let resolvedBy { object["resolved_by"] = .string(resolvedBy.rawValue) }
        if let resolution { object["resolution"] = .string(resolution) }
        return object
    }
}
