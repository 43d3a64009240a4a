public import HearthCore
import HearthStorage

extension Rooms {
    /// A page of the public room directory, filtered by a search term, with `since` an offset.
    public func publicRoomsPage(limit: Int, since: Int, searchTerm: String?) async throws -> JSONObject {
        let term = searchTerm?.lowercased()
        var chunk: [JSONValue] = []
        for roomID in try await store.publicRooms() {
            let entry = try await summary(roomID)
            if let term {
                let haystack = [entry["name"]?.stringValue, entry["topic"]?.stringValue, entry["canonical_alias"]?.stringValue]
                    .compactMap { $0?.lowercased() }
                if !haystack.contains(where: { $0.contains(term) }) { continue }
            }
            chunk.append(.object(entry))
        }
        let page = Array(chunk.dropFirst(max(0, since)).prefix(max(0, limit)))
        var json: JSONObject = ["chunk": .array(page), "total_room_count_estimate": .int(Int64(chunk.count))]
        if since + page.count < chunk.count { json["next_batch"] = .string(String(since + page.count)) }
        if since > 0 { json["prev_batch"] = .string(String(max(0, since - limit))) }
        return json
    }
}
