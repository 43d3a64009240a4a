public import HearthCore
public import HearthStorage

/// Relations between events: the /relations and /threads endpoints and the aggregations
/// bundled into `unsigned.m.relations`.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#forming-relationships-between-events
extension Rooms {
    public struct RelationsPage: Sendable {
        public var chunk: [StoredEvent]
        public var nextBatch: String?
        public var recursionDepth: Int?
    }

    /// How deep `recurse=true` follows relations of relations (the spec asks for at least 3).
    static let relationRecursionDepth = 3

    /// `GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]`.
    public func relations(_ roomID: RoomID, parent: EventID, relType: String?, eventType: String?, from: PaginationToken?,
                          to: PaginationToken?, backwards: Bool, limit: Int, recurse: Bool?,
                          for requester: Requester) async throws -> RelationsPage {
        // The parent must be visible; anything else is "not found", as the spec asks.
        do {
            _ = try await event(parent, in: roomID, for: requester)
        } catch let error as MatrixError where error.code == .forbidden {
            throw MatrixError.notFound("Event not found.")
        }
        // With recursion, the children of each level's events are the next level; `depth` is
        // the deepest level that has events.
        var parents = [parent]
        var depth = 1
        if recurse == true {
            var level = try await store.relationChildren(of: [parent], relTypes: nil).map(\.eventID)
            while depth < Self.relationRecursionDepth, !level.isEmpty {
                let next = try await store.relationChildren(of: level, relTypes: nil).map(\.eventID)
                    .filter { !parents.contains($0) && !level.contains($0) }
                if next.isEmpty { break }
                parents += level
                depth += 1
                level = next
            }
        }
        let parentIDs = parents
        let (_, chunk, next) = try await page(roomID, for: requester.userID, from: from, to: to, backwards: backwards,
                                              limit: max(1, min(limit, 100))) { cursor, count in
            try await store.relations(in: roomID, to: parentIDs, relType: relType, eventType: eventType, from: cursor,
                                      backwards: backwards, limit: count)
        }
        return RelationsPage(chunk: chunk, nextBatch: next, recursionDepth: recurse == nil ? nil : depth)
    }

    /// `GET /rooms/{roomId}/threads`: thread roots, most recently active first. The token is
    /// the stream position of the last thread's latest reply.
    public func threads(_ roomID: RoomID, participatedOnly: Bool, from: String?, limit: Int,
                        for requester: Requester) async throws -> (roots: [StoredEvent], nextBatch: String?) {
        _ = try await requireCanRead(requester.userID, roomID)
        var before: StreamPosition? = nil
        if let from {
            guard from.hasPrefix("thr"), let position = Int64(from.dropFirst(3)) else {
                throw MatrixError.invalidParam("Invalid from token")
            }
            before = position
        }
        let limit = max(1, min(limit, 100))
        let summaries = try await store.threads(in: roomID, participant: participatedOnly ? requester.userID : nil, before: before,
                                                limit: limit + 1)
        let page = summaries.prefix(limit)
        let events = try await store.events(page.map(\.root))
        let roots = try await visible(page.compactMap { events[$0.root] }, to: requester.userID, in: roomID)
        let next = summaries.count > limit ? page.last.map { "thr\($0.latestStream)" } : nil
        return (roots, next)
    }

    /// The aggregations of child events bundled with each event: the latest edit
    /// (`m.replace`), the thread summary (`m.thread`) and references (`m.reference`).
    /// Spec: https://spec.matrix.org/v1.19/client-server-api/#aggregations-of-child-events
    func bundledAggregations(for events: [StoredEvent], requester: Requester?) async throws -> [EventID: JSONObject] {
        let candidates = events.filter { $0.pdu.stateKey == nil && $0.isVisible }
        if candidates.isEmpty { return [:] }
        let ids = candidates.map(\.pdu.eventID)
        let children = try await store.relationChildren(of: ids, relTypes: ["m.replace", "m.reference"])
        let threads = try await store.threadSummaries(of: ids, participant: requester?.userID)
        if children.isEmpty && threads.isEmpty { return [:] }
        var wanted = Set(threads.values.map(\.latestEventID))
        for child in children where child.relType == "m.replace" { wanted.insert(child.eventID) }
        let loaded = try await store.events(Array(wanted))
        var result: [EventID: JSONObject] = [:]
        for event in candidates {
            let id = event.pdu.eventID
            var relations = JSONObject()
            // m.replace: the newest valid edit by the original sender, unless the original was
            // redacted or is itself an edit.
            let isEdit = event.pdu.content["m.relates_to"]?["rel_type"]?.stringValue == "m.replace"
            if event.redactedBy == nil, !isEdit {
                let edits = children.filter { $0.parent == id && $0.relType == "m.replace" && $0.sender == event.pdu.sender
                    && $0.type == event.pdu.type }
                    .compactMap { loaded[$0.eventID] }
                    .filter { $0.pdu.content["m.new_content"]?.objectValue != nil }
                if let latest = edits.max(by: { ($0.pdu.originServerTS, $0.pdu.eventID.rawValue) < ($1.pdu.originServerTS, $1.pdu.eventID.rawValue) }) {
                    relations["m.replace"] = .object(try await clientEvent(latest, for: requester, bundle: false))
                }
            }
            if let thread = threads[id], let latest = loaded[thread.latestEventID] {
                relations["m.thread"] = [
                    "latest_event": .object(try await clientEvent(latest, for: requester, bundle: false)),
                    "count": .int(thread.count),
                    "current_user_participated": .bool(thread.participated || event.pdu.sender == requester?.userID),
                ]
            }
            let references = children.filter { $0.parent == id && $0.relType == "m.reference" }
            if !references.isEmpty {
                relations["m.reference"] = ["chunk": .array(references.map { ["event_id": .string($0.eventID.rawValue)] })]
            }
            if !relations.isEmpty { result[id] = relations }
        }
        return result
    }
}
