import Foundation
public import HearthCore

/// A room event filter from the client-server API (`RoomEventFilter`).
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#filtering
public struct EventFilter: Sendable {
    public var limit: Int?
    public var types: [String]?
    public var notTypes: [String]
    public var senders: [String]?
    public var notSenders: [String]
    public var rooms: [String]?
    public var notRooms: [String]
    public var containsURL: Bool?
    public var lazyLoadMembers: Bool
    public var includeRedundantMembers: Bool

    public init(_ json: JSONObject?) {
        func strings(_ key: String) -> [String]? { json?[key]?.arrayValue?.compactMap(\.stringValue) }
        limit = json?["limit"]?.intValue.map { Int(clamping: $0) }
        types = strings("types")
        notTypes = strings("not_types") ?? []
        senders = strings("senders")
        notSenders = strings("not_senders") ?? []
        rooms = strings("rooms")
        notRooms = strings("not_rooms") ?? []
        containsURL = json?["contains_url"]?.boolValue
        lazyLoadMembers = json?["lazy_load_members"]?.boolValue ?? false
        includeRedundantMembers = json?["include_redundant_members"]?.boolValue ?? false
    }

    public static let all = EventFilter(nil)

    /// `*` matches any run of characters, as the spec's type patterns allow.
    static func matches(_ pattern: String, _ value: String) -> Bool {
        guard pattern.contains("*") else { return pattern == value }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(value)
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return part.isEmpty || rest.hasSuffix(part)
            } else if let range = rest.range(of: part) {
                rest = rest[range.upperBound...]
            } else {
                return false
            }
        }
        return rest.isEmpty
    }

    public func allowsRoom(_ roomID: RoomID) -> Bool {
        if notRooms.contains(roomID.rawValue) { return false }
        if let rooms, !rooms.contains(roomID.rawValue) { return false }
        return true
    }

    public func allows(_ pdu: PDU) -> Bool {
        if notTypes.contains(where: { Self.matches($0, pdu.type) }) { return false }
        if let types, !types.contains(where: { Self.matches($0, pdu.type) }) { return false }
        if notSenders.contains(pdu.sender.rawValue) { return false }
        if let senders, !senders.contains(pdu.sender.rawValue) { return false }
        if !allowsRoom(pdu.roomID) { return false }
        if let containsURL {
            let hasURL = pdu.content["url"]?.stringValue != nil
            if hasURL != containsURL { return false }
        }
        return true
    }
}
