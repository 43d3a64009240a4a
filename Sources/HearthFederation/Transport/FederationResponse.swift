public import HearthCore

/// A remote server's answer.
public struct FederationResponse: Sendable {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body as a JSON object, or `invalidResponse`.
    public func jsonObject() throws(FederationError) -> JSONObject {
        guard let value = try? JSONValue.parse(body), let object = value.objectValue else {
            throw .invalidResponse("the response body is not a JSON object")
        }
        return object
    }
}

/// Why a federation request did not produce a successful answer.
public enum FederationError: Error, Sendable, CustomStringConvertible {
    /// The egress gate refused to let the request leave.
    case refused(reason: String)
    /// Every address of the destination is in a blocked range (SSRF protection).
    case blockedAddress(String)
    /// Name resolution, connection or TLS failed.
    case unreachable(String)
    case timeout
    /// The remote answered with a non-2xx status; `error` is its Matrix error, if it sent one.
    case remote(status: Int, error: MatrixError?)
    /// The answer could not be used (not JSON, too large, wrong shape).
    case invalidResponse(String)

    public var description: String {
        switch self {
        case .refused(let reason): return "refused by the egress policy: \(reason)"
        case .blockedAddress(let what): return "destination address not allowed: \(what)"
        case .unreachable(let why): return "unreachable: \(why)"
        case .timeout: return "timed out"
        case .remote(let status, let error): return "remote answered \(status)\(error.map { " \($0.code.rawValue): \($0.message)" } ?? "")"
        case .invalidResponse(let why): return "invalid response: \(why)"
        }
    }

    /// The remote's errcode, when it answered with one.
    public var errcode: String? {
        if case .remote(_, let error?) = self { return error.code.rawValue }
        return nil
    }
}

extension FederationError: MatrixErrorConvertible {
    /// For relaying to a client: the remote's own error when it gave one, else 502.
    public var matrixError: MatrixError {
        if case .remote(_, let error?) = self { return error }
        return MatrixError(.unknown, status: 502, "Federation request failed: \(description)")
    }
}
