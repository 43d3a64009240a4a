public import HearthCore
public import HearthStorage

extension Rooms {
    /// The keys `/search` may look in.
    public static let searchKeys = ["content.body", "content.name", "content.topic"]

    public struct SearchPage: Sendable {
        public var results: [StoredEvent]
        public var count: Int
        public var highlights: [String]
        public var nextBatch: String?
    }

    /// `POST /search` over room events: the rooms the user is in (narrowed by the filter),
    /// every word of the term in one of `keys`, newest first; events the user may not see are
    /// left out. `next_batch` is the stream position of the last result.
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-side-search
    public func search(_ term: String, keys: [String], filter: EventFilter, nextBatch: String?,
                       for user: UserID) async throws -> SearchPage {
        var before: StreamPosition? = nil
        if let nextBatch {
            guard nextBatch.hasPrefix("srch"), let position = Int64(nextBatch.dropFirst(4)) else {
                throw MatrixError.invalidParam("Invalid next_batch")
            }
            before = position
        }
        let terms = term.lowercased().split(whereSeparator: \.isWhitespace).map(String.init)
        let rooms = try await store.memberships(of: user).filter { $0.membership == "join" && filter.allowsRoom($0.roomID) }
            .map(\.roomID)
        let limit = max(1, min(filter.limit ?? 10, 100))
        var results: [StoredEvent] = []
        var exhausted = terms.isEmpty
        while results.count < limit, !exhausted {
            let batch = try await store.search(in: rooms, terms: terms, keys: keys, before: before, limit: limit * 2)
            if batch.count < limit * 2 { exhausted = true }
            guard let last = batch.last else { break }
            before = last.stream
            var byRoom: [RoomID: [StoredEvent]] = [:]
            for event in batch where filter.allows(event.pdu) { byRoom[event.pdu.roomID, default: []].append(event) }
            var allowed: [StoredEvent] = []
            for (roomID, events) in byRoom { allowed += try await visible(events, to: user, in: roomID) }
            for event in allowed.sorted(by: { $0.stream > $1.stream }) where results.count < limit { results.append(event) }
        }
        let next = exhausted && results.count < limit ? nil : results.last.map { "srch\($0.stream)" }
        let count = try await store.searchCount(in: rooms, terms: terms, keys: keys)
        return SearchPage(results: results, count: count, highlights: terms, nextBatch: next)
    }
}
