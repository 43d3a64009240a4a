public import HearthCore
public import Hummingbird
import NIOCore

/// A request as Matrix endpoints see it: decoded path parameters, query, headers and a body
/// read lazily up to a size limit.
public struct MatrixRequest: Sendable {
    public let method: HTTPRequest.Method
    /// Path parameters, percent-decoded (`!room:server` arrives as `%21room%3Aserver`).
    public let pathParameters: [String: String]
    public let query: [String: [String]]
    public let headers: HTTPFields
    public let body: [UInt8]
    /// The client's address as the listener saw it (or as a trusted proxy reported it).
    public let remoteAddress: String?
    /// The request target exactly as received (path and query, still percent-encoded): what
    /// an X-Matrix signature covers.
    public let uri: String

    public init(method: HTTPRequest.Method, pathParameters: [String: String], query: [String: [String]],
                headers: HTTPFields, body: [UInt8], remoteAddress: String?, uri: String = "") {
        self.uri = uri
        self.method = method
        self.pathParameters = pathParameters
        self.query = query
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    public func path(_ name: String) throws(MatrixError) -> String {
        guard let value = pathParameters[name] else { throw .missingParam("Missing path parameter \(name)") }
        return value
    }

    public func query(_ name: String) -> String? { query[name]?.last }

    public func queryInt(_ name: String) throws(MatrixError) -> Int? {
        guard let text = query(name) else { return nil }
        guard let value = Int(text) else { throw .invalidParam("Query parameter \(name) must be an integer") }
        return value
    }

    public func queryBool(_ name: String) throws(MatrixError) -> Bool? {
        switch query(name) {
        case nil: return nil
        case "true"?: return true
        case "false"?: return false
        default: throw .invalidParam("Query parameter \(name) must be true or false")
        }
    }

    /// The body as a JSON object. An empty body counts as `{}` (several endpoints allow it).
    public func jsonBody() throws(MatrixError) -> JSONObject {
        if body.isEmpty { return JSONObject() }
        let value: JSONValue
        do { value = try JSONValue.parse(body) } catch { throw error.matrixError }
        guard let object = value.objectValue else { throw .notJSON("Request body must be a JSON object") }
        return object
    }

    /// The bearer access token, from the Authorization header or the legacy query parameter.
    public var accessToken: String? {
        if let header = headers[.authorization] {
            let prefix = "Bearer "
            if header.hasPrefix(prefix) { return String(header.dropFirst(prefix.count)) }
            return nil
        }
        return query("access_token")
    }
}

/// A response: JSON, or raw bytes with a content type (media).
public struct MatrixResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: [UInt8]

    public init(status: HTTPResponse.Status = .ok, json: JSONValue) {
        self.status = status
        self.headers = [.contentType: "application/json"]
        self.body = json.encoded()
    }

    @_disfavoredOverload
    public init(status: HTTPResponse.Status = .ok, json: JSONObject) {
        self.init(status: status, json: .object(json))
    }

    public init(status: HTTPResponse.Status = .ok, bytes: [UInt8], contentType: String, headers: HTTPFields = [:]) {
        self.status = status
        self.headers = headers
        self.headers[.contentType] = contentType
        self.body = bytes
    }

    public static var empty: MatrixResponse { MatrixResponse(json: JSONObject()) }

    public init(error: MatrixError) {
        self.init(status: HTTPResponse.Status(code: error.status), json: error.body)
        if error.code == .limitExceeded, let retry = error.extra["retry_after_ms"]?.intValue {
            headers[.retryAfter] = String((retry + 999) / 1000)
        }
    }
}

/// Parses JSON helpers that turn shape errors into the right errcodes.
extension JSONObject {
    public func requireString(_ key: String) throws(MatrixError) -> String {
        guard let value = self[key] else { throw .missingParam("Missing \(key)") }
        guard let string = value.stringValue else { throw .badJSON("\(key) must be a string") }
        return string
    }

    public func optionalString(_ key: String) throws(MatrixError) -> String? {
        switch self[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw .badJSON("\(key) must be a string")
        }
    }

    public func optionalBool(_ key: String) throws(MatrixError) -> Bool? {
        switch self[key] {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        default: throw .badJSON("\(key) must be a boolean")
        }
    }

    public func optionalInt(_ key: String) throws(MatrixError) -> Int64? {
        switch self[key] {
        case nil, .null?: return nil
        case .int(let i)?: return i
        default: throw .badJSON("\(key) must be an integer")
        }
    }

    public func optionalObject(_ key: String) throws(MatrixError) -> JSONObject? {
        switch self[key] {
        case nil, .null?: return nil
        case .object(let o)?: return o
        default: throw .badJSON("\(key) must be an object")
        }
    }

    public func optionalArray(_ key: String) throws(MatrixError) -> [JSONValue]? {
        switch self[key] {
        case nil, .null?: return nil
        case .array(let a)?: return a
        default: throw .badJSON("\(key) must be an array")
        }
    }
}

/// Path parameters that are Matrix identifiers (M_INVALID_PARAM when malformed).
extension MatrixRequest {
    public func roomID(_ name: String = "roomId") throws(MatrixError) -> RoomID {
        let text = try path(name)
        guard let id = RoomID(text) else { throw .invalidParam("Invalid room ID \(text)") }
        return id
    }

    public func userID(_ name: String = "userId") throws(MatrixError) -> UserID {
        let text = try path(name)
        guard let id = UserID(text) else { throw .invalidParam("Invalid user ID \(text)") }
        return id
    }

    public func eventID(_ name: String = "eventId") throws(MatrixError) -> EventID {
        let text = try path(name)
        guard let id = EventID(text) else { throw .invalidParam("Invalid event ID \(text)") }
        return id
    }
}
