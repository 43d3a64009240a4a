public import HearthCore
public import HearthHTTP
public import HearthHomeserver
import Hummingbird

/// `PUT /_matrix/federation/v1/send/{txnId}`.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv1sendtxnid
enum TransactionRoutes {
    /// 50 PDUs of at most 64 KiB each, 100 EDUs, and JSON overhead. Bigger bodies are refused
    /// by the router before they are read.
    static let maxTransactionBytes = 8 << 20

    static func routes(_ e: FederationEndpoint, _ federation: RoomFederation) -> [Route] {
        [
            e.signed(.put, FederationEndpoint.federation("/send/{txnId}"), maxBodySize: maxTransactionBytes) { request, origin in
                let body = try request.jsonBody()
                let response = try await federation.receiveTransaction(body, transactionID: try request.path("txnId"), origin: origin)
                return MatrixResponse(json: response)
            },
        ]
    }
}
