/// A Matrix `errcode`. An open set: the spec adds codes, and servers may define their own.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#standard-error-response
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let forbidden = ErrorCode(rawValue: "M_FORBIDDEN")
    public static let unknownToken = ErrorCode(rawValue: "M_UNKNOWN_TOKEN")
    public static let missingToken = ErrorCode(rawValue: "M_MISSING_TOKEN")
    public static let userLocked = ErrorCode(rawValue: "M_USER_LOCKED")
    public static let badJSON = ErrorCode(rawValue: "M_BAD_JSON")
    public static let notJSON = ErrorCode(rawValue: "M_NOT_JSON")
    public static let notFound = ErrorCode(rawValue: "M_NOT_FOUND")
    public static let limitExceeded = ErrorCode(rawValue: "M_LIMIT_EXCEEDED")
    public static let unrecognized = ErrorCode(rawValue: "M_UNRECOGNIZED")
    public static let unknown = ErrorCode(rawValue: "M_UNKNOWN")
    public static let unauthorized = ErrorCode(rawValue: "M_UNAUTHORIZED")
    public static let userDeactivated = ErrorCode(rawValue: "M_USER_DEACTIVATED")
    public static let userInUse = ErrorCode(rawValue: "M_USER_IN_USE")
    public static let invalidUsername = ErrorCode(rawValue: "M_INVALID_USERNAME")
    public static let roomInUse = ErrorCode(rawValue: "M_ROOM_IN_USE")
    public static let invalidRoomState = ErrorCode(rawValue: "M_INVALID_ROOM_STATE")
    public static let unsupportedRoomVersion = ErrorCode(rawValue: "M_UNSUPPORTED_ROOM_VERSION")
    public static let incompatibleRoomVersion = ErrorCode(rawValue: "M_INCOMPATIBLE_ROOM_VERSION")
    public static let badState = ErrorCode(rawValue: "M_BAD_STATE")
    public static let guestAccessForbidden = ErrorCode(rawValue: "M_GUEST_ACCESS_FORBIDDEN")
    public static let missingParam = ErrorCode(rawValue: "M_MISSING_PARAM")
    public static let invalidParam = ErrorCode(rawValue: "M_INVALID_PARAM")
    public static let tooLarge = ErrorCode(rawValue: "M_TOO_LARGE")
    public static let exclusive = ErrorCode(rawValue: "M_EXCLUSIVE")
    public static let resourceLimitExceeded = ErrorCode(rawValue: "M_RESOURCE_LIMIT_EXCEEDED")
    public static let cannotLeaveServerNoticeRoom = ErrorCode(rawValue: "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")
    public static let consentNotGiven = ErrorCode(rawValue: "M_CONSENT_NOT_GIVEN")
    public static let threepidInUse = ErrorCode(rawValue: "M_THREEPID_IN_USE")
    public static let weakPassword = ErrorCode(rawValue: "M_WEAK_PASSWORD")
    public static let serverNotTrusted = ErrorCode(rawValue: "M_SERVER_NOT_TRUSTED")
    public static let unableToAuthoriseJoin = ErrorCode(rawValue: "M_UNABLE_TO_AUTHORISE_JOIN")
    public static let unableToGrantJoin = ErrorCode(rawValue: "M_UNABLE_TO_GRANT_JOIN")
    public static let notYetUploaded = ErrorCode(rawValue: "M_NOT_YET_UPLOADED")
    public static let cannotOverwriteMedia = ErrorCode(rawValue: "M_CANNOT_OVERWRITE_MEDIA")
    public static let unknownPos = ErrorCode(rawValue: "M_UNKNOWN_POS")
}

/// An error a client or a remote server is meant to see: an errcode, its HTTP status, a
/// human-readable message, and any extra fields the spec defines for that code
/// (`retry_after_ms`, `consent_uri`, `room_version`, …).
public struct MatrixError: Error, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var status: Int
    public var message: String
    public var extra: JSONObject
    /// A response body that replaces the standard one. User-interactive authentication uses it:
    /// its first 401 carries flows and a session but no errcode.
    public var bodyOverride: JSONObject?

    public init(_ code: ErrorCode, status: Int, _ message: String, extra: JSONObject = [:]) {
        self.code = code
        self.status = status
        self.message = message
        self.extra = extra
    }

    public var description: String { "\(code.rawValue) (\(status)): \(message)" }

    /// The body of the error response.
    public var body: JSONValue {
        if let bodyOverride { return .object(bodyOverride) }
        var object = extra
        object["errcode"] = .string(code.rawValue)
        object["error"] = .string(message)
        return .object(object)
    }

    public static func forbidden(_ message: String) -> MatrixError { MatrixError(.forbidden, status: 403, message) }
    public static func notFound(_ message: String) -> MatrixError { MatrixError(.notFound, status: 404, message) }
    public static func badJSON(_ message: String) -> MatrixError { MatrixError(.badJSON, status: 400, message) }
    public static func notJSON(_ message: String) -> MatrixError { MatrixError(.notJSON, status: 400, message) }
    public static func missingParam(_ message: String) -> MatrixError { MatrixError(.missingParam, status: 400, message) }
    public static func invalidParam(_ message: String) -> MatrixError { MatrixError(.invalidParam, status: 400, message) }
    public static func unknown(_ message: String) -> MatrixError { MatrixError(.unknown, status: 500, message) }
    public static func tooLarge(_ message: String) -> MatrixError { MatrixError(.tooLarge, status: 413, message) }
    public static func unknownToken(_ message: String, softLogout: Bool = false) -> MatrixError {
        MatrixError(.unknownToken, status: 401, message, extra: softLogout ? ["soft_logout": true] : [:])
    }
    public static func missingToken() -> MatrixError { MatrixError(.missingToken, status: 401, "Missing access token") }
    public static func unrecognized(_ message: String, status: Int = 404) -> MatrixError {
        MatrixError(.unrecognized, status: status, message)
    }
}

/// Errors from the protocol core that know which Matrix error they become at the edge.
public protocol MatrixErrorConvertible: Error {
    var matrixError: MatrixError { get }
}

extension MatrixError: MatrixErrorConvertible {
    public var matrixError: MatrixError { self }
}

extension JSONParseError: MatrixErrorConvertible {
    public var matrixError: MatrixError {
        switch reason {
        case .unexpectedEnd, .unexpectedByte, .invalidUTF8, .trailingData, .controlCharacterInString,
             .invalidEscape, .loneSurrogate, .invalidNumber:
            return .notJSON("Content not JSON: \(description)")
        case .numberOutOfRange, .duplicateKey, .tooDeep:
            return .badJSON(description)
        }
    }
}

extension CanonicalJSONError: MatrixErrorConvertible {
    public var matrixError: MatrixError { .badJSON(description) }
}
