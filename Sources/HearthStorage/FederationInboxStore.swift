public import HearthCore

/// What inbound federation keeps apart from room events: the answers to transactions already
/// processed.
public protocol FederationInboxStore: Sendable {
    /// The response given to transaction `transactionID` from `origin`, if it was processed.
    func transactionResponse(origin: ServerName, transactionID: String) async throws -> JSONObject?
    func saveTransactionResponse(origin: ServerName, transactionID: String, response: JSONObject,
                                 at: Milliseconds) async throws
}
