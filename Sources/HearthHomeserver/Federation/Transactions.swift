public import HearthCore
import HearthStorage
import Logging
import Synchronization

/// Inbound transactions: `PUT /_matrix/federation/v1/send/{txnId}`.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv1sendtxnid
extension RoomFederation {
    /// Processes a transaction from `origin` (already authenticated by its X-Matrix signature)
    /// and returns the response body: `{"pdus": {event_id: {} or {"error": …}}}`.
    ///
    /// Idempotent by (origin, transaction ID): a transaction already processed gets the same
    /// answer without being processed again, and a retry that arrives while the first attempt
    /// runs waits for it. Transactions from one origin are processed one at a time.
    public func receiveTransaction(_ body: JSONObject, transactionID: String, origin: ServerName) async throws -> JSONObject {
        guard let pduValues = body["pdus"]?.arrayValue ?? (body["pdus"] == nil ? [] : nil),
              let eduValues = body["edus"]?.arrayValue ?? (body["edus"] == nil ? [] : nil)
        else { throw MatrixError.badJSON("pdus and edus must be arrays") }
        if let claimed = body["origin"], claimed.stringValue != origin.rawValue {
            throw MatrixError.forbidden("Transaction origin does not match the authenticated server")
        }
        guard pduValues.count <= limits.maxPDUsPerTransaction, eduValues.count <= limits.maxEDUsPerTransaction else {
            throw MatrixError(.tooLarge, status: 400,
                              "Transactions carry at most \(limits.maxPDUsPerTransaction) PDUs and \(limits.maxEDUsPerTransaction) EDUs")
        }
        if let previous = try await inbox.transactionResponse(origin: origin, transactionID: transactionID) { return previous }

        let key = origin.rawValue + "\u{0}" + transactionID
        let task = inFlight.withLock { running -> Task<JSONObject, any Error> in
            if let task = running[key] { return task }
            let task = Task<JSONObject, any Error> {
                try await self.originLocks.withLock(origin) {
                    try await self.process(pdus: pduValues, edus: eduValues, transactionID: transactionID, origin: origin)
                }
            }
            running[key] = task
            return task
        }
        let response = await task.result
        inFlight.withLock { $0[key] = nil }
        return try response.get()
    }

    /// Throws when the PDUs could not be written: nothing is acknowledged, the sender retries.
    private func process(pdus: [JSONValue], edus: [JSONValue], transactionID: String, origin: ServerName) async throws -> JSONObject {
        if let previous = try? await inbox.transactionResponse(origin: origin, transactionID: transactionID) { return previous }
        var results = JSONObject()
        // The policy's answer per room, read once for the whole transaction.
        var refusals: [RoomID: PolicyVerdict?] = [:]
        func cachedRefusal(_ room: RoomID) async -> PolicyVerdict? {
            if let known = refusals[room] { return known }
            let verdict = await policyRefusal(room, origin)
            refusals[room] = .some(verdict)  // an allowed room is remembered too
            return verdict
        }
        // Rooms the policy keeps from the origin are not worth checking (nor its keys fetching).
        var candidates: [Int: JSONObject] = [:]
        for (index, value) in pdus.enumerated() {
            guard let json = value.objectValue, let room = json["room_id"]?.stringValue.flatMap(RoomID.init),
                  await cachedRefusal(room) == nil
            else { continue }
            candidates[index] = json
        }
        let verified = await verifiedInParallel(candidates)
        // The PDUs that change no state are written together (`PendingTimeline`), all before
        // the EDUs and the response.
        try await withPendingTimeline {
            for (index, value) in pdus.enumerated() {
                guard let json = value.objectValue else {
                    logger.info("dropped a PDU that is not an object", metadata: ["origin": "\(origin)"])
                    continue
                }
                if let room = json["room_id"]?.stringValue.flatMap(RoomID.init), let refusal = await cachedRefusal(room) {
                    logger.info("dropped a PDU of a room the policy keeps from its origin",
                                metadata: ["origin": "\(origin)", "room": "\(room)", "rule": "\(refusal.rule)"])
                    // Answered like any refused PDU when its ID can be known (the room's version is).
                    if let version = try? await rooms.version(of: room), let pdu = try? PDU(json: json, version: version) {
                        results[pdu.eventID.rawValue] = ["error": .string("Refused by this server's policy (\(refusal.rule))")]
                    }
                    continue
                }
                let (eventID, outcome) = await receivePDU(json, from: origin, mode: .live(fillGaps: true), verified: verified[index])
                guard let eventID else { continue }
                if let error = outcome.error { results[eventID.rawValue] = ["error": .string(error)] } else { results[eventID.rawValue] = [:] }
            }
        }
        for value in edus {
            guard var edu = value.objectValue else { continue }
            // Typing and receipts about rooms the origin may not take part in are dropped.
            if edu["edu_type"]?.stringValue == "m.typing", let room = edu["content"]?["room_id"]?.stringValue.flatMap(RoomID.init),
               await cachedRefusal(room) != nil { continue }
            if edu["edu_type"]?.stringValue == "m.receipt", let content = edu["content"]?.objectValue {
                var kept = JSONObject()
                for member in content {
                    if let room = RoomID(member.key), await cachedRefusal(room) != nil { continue }
                    kept[member.key] = member.value
                }
                edu["content"] = .object(kept)
            }
            await receiveEDU(edu, from: origin)
        }
        let response: JSONObject = ["pdus": .object(results)]
        do {
            try await inbox.saveTransactionResponse(origin: origin, transactionID: transactionID, response: response, at: clock.now())
        } catch {
            logger.warning("could not record a transaction", metadata: ["origin": "\(origin)", "error": "\(error)"])
        }
        return response
    }

    /// Checks 1–3 (format, signatures, content hash) of a transaction's PDUs, on all cores at
    /// once: they depend on nothing but the event and its sender's keys. The PDUs are then
    /// processed one after another, in order, without doing these again; a PDU missing here
    /// (unknown room, invalid, badly signed) goes through every check in the sequence and is
    /// refused there, with its reason.
    func verifiedInParallel(_ candidates: [Int: JSONObject]) async -> [Int: PDU] {
        await checkedInParallel(candidates.map { (offset: $0.key, element: $0.value) }, slices: 2) { json in
            // Only rooms this server takes part in (the sequence drops the others).
            guard let room = json["room_id"]?.stringValue.flatMap(RoomID.init),
                  (try? await self.rooms.currentState(room)[.create]) != nil
            else { return nil }
            return try? await self.rooms.version(of: room)
        }
    }

    /// The organization policy's refusal when `origin` may not take part in `room` (a
    /// local-only room, or a partners room it is not a partner of); nil when it may.
    func policyRefusal(_ room: RoomID, _ origin: ServerName) async -> PolicyVerdict? {
        // Fail closed, as the egress gate does: a class that cannot be read refuses (the
        // sender retries the transaction later).
        guard let roomPolicy = try? await rooms.roomPolicy(room) else {
            return .refuse("room_class.unknown", "the room's class could not be read")
        }
        let verdict = rooms.policy.room(roomPolicy, reaches: origin)
        return verdict.allowed ? nil : verdict
    }
}
