public import HearthCore

/// Calls other servers' federation APIs. Every call goes through the `EgressGate` (policy,
/// audit, name resolution, SSRF checks, TLS) and is signed with X-Matrix.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#request-authentication
///
/// Paths are request targets as sent: build them with `FederationPath.make`, which
/// percent-encodes IDs. Non-2xx answers throw `FederationError.remote` with the remote's
/// Matrix error.
public final class FederationClient: Sendable {
    let gate: EgressGate

    public init(gate: EgressGate) { self.gate = gate }

    /// This server's name.
    public var origin: ServerName { gate.origin }

    /// `GET path?query` on `destination`; the JSON object it answers.
    public func get(_ path: String, query: [(String, String)] = [], from destination: ServerName,
                    timeout: Duration? = nil) async throws(FederationError) -> JSONObject {
        try await request("GET", path, query: query, json: nil, destination: destination, timeout: timeout).jsonObject()
    }

    /// `PUT path` with a JSON body on `destination`; the JSON object it answers.
    public func put(_ path: String, query: [(String, String)] = [], json: JSONValue, to destination: ServerName,
                    timeout: Duration? = nil) async throws(FederationError) -> JSONObject {
        try await request("PUT", path, query: query, json: json, destination: destination, timeout: timeout).jsonObject()
    }

    /// `POST path` with a JSON body on `destination`; the JSON object it answers.
    public func post(_ path: String, query: [(String, String)] = [], json: JSONValue, to destination: ServerName,
                     timeout: Duration? = nil) async throws(FederationError) -> JSONObject {
        try await request("POST", path, query: query, json: json, destination: destination, timeout: timeout).jsonObject()
    }

    /// Any signed request; the raw answer when its status is 2xx (media downloads use this).
    public func request(_ method: String, _ path: String, query: [(String, String)] = [], json: JSONValue?,
                        destination: ServerName, timeout: Duration? = nil) async throws(FederationError) -> FederationResponse {
        try await send(kind: .request, method, path, query: query, json: json, destination: destination, signed: true,
                       timeout: timeout)
    }

    func send(kind: EgressKind, _ method: String, _ path: String, query: [(String, String)] = [], json: JSONValue?,
              destination: ServerName, signed: Bool, timeout: Duration? = nil) async throws(FederationError) -> FederationResponse {
        let target = query.isEmpty ? path : path + "?" + FederationPath.query(query)
        let response = try await gate.send(EgressGate.Outbound(kind: kind, destination: destination, method: method, target: target,
                                                               body: json, signed: signed, timeout: timeout))
        guard (200..<300).contains(response.status) else {
            var error: MatrixError? = nil
            if let object = try? response.jsonObject(), let code = object["errcode"]?.stringValue {
                var extra = object
                extra["errcode"] = nil
                extra["error"] = nil
                error = MatrixError(ErrorCode(rawValue: code), status: response.status, object["error"]?.stringValue ?? "",
                                    extra: extra)
            }
            throw .remote(status: response.status, error: error)
        }
        return response
    }

    /// `PUT /_matrix/federation/v1/send/{txnId}`.
    /// Spec: https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv1sendtxnid
    public func sendTransaction(_ transactionID: String, pdus: [JSONObject], edus: [JSONObject], originServerTS: Int64,
                                to destination: ServerName) async throws(FederationError) -> JSONObject {
        let body: JSONObject = [
            "origin": .string(origin.rawValue),
            "origin_server_ts": .int(originServerTS),
            "pdus": .array(pdus.map { .object($0) }),
            "edus": .array(edus.map { .object($0) }),
        ]
        return try await send(kind: .transaction, "PUT", FederationPath.make("v1", "send", transactionID), json: .object(body),
                              destination: destination, signed: true).jsonObject()
    }
}
