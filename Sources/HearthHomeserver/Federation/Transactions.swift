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
        let task = inFlight.withLock { running -> Task<JSONObject, Never> in
            if let task = running[key] { return task }
            let task = Task<JSONObject, Never> {
                await self.originLocks.withLock(origin) {
                    await self.process(pdus: pduValues, edus: eduValues, transactionID: transactionID, origin: origin)
                }
            }
            running[key] = task
            return task
        }
        let response = await task.value
        inFlight.withLock { $0[key] = nil }
        return response
    }

    private func process(pdus: [JSONValue], edus: [JSONValue], transactionID: String, origin: ServerName) async -> JSONObject {
        if let previous = try? await inbox.transactionResponse(origin: origin, transactionID: transactionID) { return previous }
        var results = JSONObject()
        for value in pdus {
            guard let json = value.objectValue else {
                logger.info("dropped a PDU that is not an object", metadata: ["origin": "\(origin)"])
                continue
            }
            let (eventID, outcome) = await receivePDU(json, from: origin)
            guard let eventID else { continue }
            if let error = outcome.error { results[eventID.rawValue] = ["error": .string(error)] } else { results[eventID.rawValue] = [:] }
        }
        for value in edus {
            guard let edu = value.objectValue else { continue }
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
}
