import HearthCore
import HearthStorage

/// The end-to-end encryption parts of /sync: to-device messages, device-list changes and the
/// device's key counts.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#extensions-to-sync
extension Sync {
    /// How many to-device messages one sync delivers; the rest come with the next.
    static let toDeviceBatch = 100

    struct EndToEndSection {
        var json: JSONObject
        var hasNews: Bool
        /// Set when not every waiting message fitted in this response.
        var toDevicePosition: StreamPosition?
    }

    func endToEndSection(for requester: Requester, since: SyncToken?, upTo now: StreamPosition,
                         sharedUsers: Set<UserID>) async throws -> EndToEndSection {
        let user = requester.userID, device = requester.deviceID
        // A sync with a token acknowledges the messages delivered up to it.
        let delivered = since.map { $0.toDevice ?? $0.stream } ?? 0
        if delivered > 0 { try await keys.deleteToDeviceMessages(user, device: device, upTo: delivered) }
        let messages = try await keys.toDeviceMessages(user, device: device, after: delivered, limit: Self.toDeviceBatch)
            .filter { $0.stream <= now }
        let position = messages.count == Self.toDeviceBatch ? messages.last?.stream : nil

        var changed = Set<UserID>(), left = Set<UserID>()
        if let since {
            changed = try await keys.deviceListChanges(after: since.stream, upTo: now).intersection(sharedUsers)
            // Users who started or stopped sharing a room are changes too.
            for membership in try await store.memberships(of: user) where membership.membership == "join" {
                let members = try await rooms.members(of: membership.roomID)
                let newlyHere = membership.stream > since.stream
                for member in members where member.userID != user && (newlyHere || member.stream > since.stream) {
                    if member.membership == "join" { changed.insert(member.userID) }
                    else if !sharedUsers.contains(member.userID) { left.insert(member.userID) }
                }
            }
            left.subtract(changed)
        }
        var counts = JSONObject()
        for (algorithm, count) in try await keys.oneTimeKeyCounts(user, device: device) { counts[algorithm] = .int(Int64(count)) }
        if counts["signed_curve25519"] == nil { counts["signed_curve25519"] = 0 }
        let fallback = try await keys.unusedFallbackKeyAlgorithms(user, device: device)
        let events: [JSONValue] = messages.map {
            ["sender": .string($0.sender.rawValue), "type": .string($0.type), "content": .object($0.content)]
        }
        return EndToEndSection(
            json: [
                "to_device": ["events": .array(events)],
                "device_lists": ["changed": JSONValue(changed.map(\.rawValue).sorted()), "left": JSONValue(left.map(\.rawValue).sorted())],
                "device_one_time_keys_count": .object(counts),
                "device_unused_fallback_key_types": JSONValue(fallback),
            ],
            hasNews: !messages.isEmpty || !changed.isEmpty || !left.isEmpty,
            toDevicePosition: position)
    }
}
