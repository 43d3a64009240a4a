/// The `Authorization: X-Matrix ...` header that authenticates a federation request.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#request-authentication
///
/// The sender signs a JSON object made of the request's method, target URI, origin,
/// destination and (when there is a body) its parsed JSON content, and sends the signature
/// in this header. The receiver rebuilds the same object and checks the signature with the
/// origin's key.
public struct XMatrixAuthorization: Sendable, Hashable {
    /// The sending server.
    public var origin: ServerName
    /// The receiving server. Optional on the wire (added in v1.3); always sent by Hearth.
    public var destination: ServerName?
    /// The ID of the origin's key that made the signature, e.g. `ed25519:abc`.
    public var keyID: String
    /// The unpadded base64 signature.
    public var signature: String

    public init(origin: ServerName, destination: ServerName?, keyID: String, signature: String) {
        self.origin = origin
        self.destination = destination
        self.keyID = keyID
        self.signature = signature
    }

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The header is not `X-Matrix` followed by a well-formed parameter list.
        case malformed(String)
        /// A required parameter (`origin`, `key` or `sig`) is absent.
        case missingParameter(String)
        /// `origin` or `destination` is not a valid server name.
        case invalidServerName(String)
        /// `destination` is present and not the receiving server.
        case wrongDestination(ServerName)
        /// The signature does not verify.
        case badSignature(JSONSigning.VerificationError)

        public var description: String {
            switch self {
            case .malformed(let why): return "malformed X-Matrix Authorization header: \(why)"
            case .missingParameter(let name): return "X-Matrix Authorization header has no \(name)"
            case .invalidServerName(let name): return "X-Matrix Authorization header names an invalid server \"\(name)\""
            case .wrongDestination(let name): return "request is addressed to \(name.rawValue), not to this server"
            case .badSignature(let error): return "request signature does not verify (\(error))"
            }
        }
    }

    // MARK: - The signed object

    /// The JSON object whose signature the header carries: `method`, `uri`, `origin`,
    /// `destination` and, only when the request has a body, `content`.
    ///
    /// `uri` is the request target from `/_matrix/...` on, including `?` and the query
    /// string exactly as sent; `content` is the parsed request body.
    public static func requestJSON(method: String, uri: String, origin: ServerName, destination: ServerName,
                                   content: JSONValue?) -> JSONObject {
        var object: JSONObject = [
            "method": .string(method),
            "uri": .string(uri),
            "origin": .string(origin.rawValue),
            "destination": .string(destination.rawValue),
        ]
        if let content { object["content"] = content }
        return object
    }

    /// Signs a request as `origin` with `key`.
    public static func sign(method: String, uri: String, origin: ServerName, destination: ServerName,
                            content: JSONValue?, key: SigningKey) throws(CanonicalJSONError) -> XMatrixAuthorization {
        let object = requestJSON(method: method, uri: uri, origin: origin, destination: destination, content: content)
        let signature = Base64.encode(key.sign(try JSONSigning.signedBytes(of: object)))
        return XMatrixAuthorization(origin: origin, destination: destination, keyID: key.keyID, signature: signature)
    }

    /// Checks the header against a received request, on the server named `receiver`.
    ///
    /// A `destination` other than `receiver` is refused (the spec requires 401). A header
    /// without `destination` (servers before v1.3) is checked as if it named `receiver`.
    public func verify(method: String, uri: String, content: JSONValue?, receiver: ServerName,
                       key: VerifyKey) throws(Failure) {
        if let destination, destination != receiver { throw .wrongDestination(destination) }
        var object = XMatrixAuthorization.requestJSON(method: method, uri: uri, origin: origin,
                                                      destination: destination ?? receiver, content: content)
        object["signatures"] = [origin.rawValue: [keyID: .string(signature)]]
        do {
            try JSONSigning.verify(object, by: origin.rawValue, keyID: keyID, key: key)
        } catch {
            throw .badSignature(error)
        }
    }

    // MARK: - The header

    /// The header value Hearth sends, in the form the spec asks senders to use for older
    /// servers: one space after `X-Matrix`, lower-case names, no spaces around commas, all
    /// values quoted.
    public var headerValue: String {
        var parts = ["origin=" + XMatrixAuthorization.quoted(origin.rawValue)]
        if let destination { parts.append("destination=" + XMatrixAuthorization.quoted(destination.rawValue)) }
        parts.append("key=" + XMatrixAuthorization.quoted(keyID))
        parts.append("sig=" + XMatrixAuthorization.quoted(signature))
        return "X-Matrix " + parts.joined(separator: ",")
    }

    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { out.append("\\") }
            out.unicodeScalars.append(scalar)
        }
        return out + "\""
    }

    /// Parses an `Authorization` header value.
    ///
    /// Parameter names are case-insensitive; unknown parameters are ignored. The signature
    /// parameter is `sig`, as in the spec's example header and every implementation (the
    /// spec's prose calls it `signature`, which is accepted when `sig` is absent).
    public init(header: String) throws(Failure) {
        let params = try XMatrixAuthorization.parameters(header)
        func required(_ name: String) throws(Failure) -> String {
            guard let value = params[name] else { throw .missingParameter(name) }
            return value
        }
        let originText = try required("origin")
        guard let origin = ServerName(originText) else { throw .invalidServerName(originText) }
        var destination: ServerName? = nil
        if let text = params["destination"] {
            guard let name = ServerName(text) else { throw .invalidServerName(text) }
            destination = name
        }
        let keyID = try required("key")
        guard let signature = params["sig"] ?? params["signature"] else { throw .missingParameter("sig") }
        self.init(origin: origin, destination: destination, keyID: keyID, signature: signature)
    }

    /// The parameters of an `X-Matrix` header, names lower-cased, values unquoted and
    /// unescaped. Follows RFC 9110 §11.4: the scheme (case-insensitive), one or more spaces,
    /// then `name=value` pairs separated by commas with optional spaces and tabs around them.
    /// A value is a quoted string (where a backslash escapes the next character) or a bare
    /// token; bare values may also contain `:` and the other characters of server names, key
    /// IDs and base64 (`/`, `+`, `=`), as older senders leave those unquoted.
    /// A name given twice is refused rather than guessed at.
    public static func parameters(_ header: String) throws(Failure) -> [String: String] {
        let bytes = Array(header.utf8)
        var i = 0
        let scheme = Array("x-matrix".utf8)
        guard bytes.count > scheme.count,
              zip(bytes[0..<scheme.count], scheme).allSatisfy({ lowercased($0) == $1 }),
              bytes[scheme.count] == UInt8(ascii: " ")
        else { throw .malformed("scheme is not X-Matrix") }
        i = scheme.count
        while i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 }

        func skipSpace() { while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 } }
        var result: [String: String] = [:]
        while true {
            skipSpace()
            // Empty list elements (`a=b,,c=d`) are allowed by RFC 9110's list syntax.
            if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if i == bytes.count { break }
            let nameStart = i
            while i < bytes.count, isTokenByte(bytes[i]) { i += 1 }
            guard i > nameStart else { throw .malformed("expected a parameter name at offset \(i)") }
            let name = String(decoding: bytes[nameStart..<i].map(lowercased), as: UTF8.self)
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { throw .malformed("expected = after \(name)") }
            i += 1
            skipSpace()
            var value: [UInt8] = []
            if i < bytes.count, bytes[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < bytes.count {
                    let b = bytes[i]
                    if b == UInt8(ascii: "\"") { closed = true; i += 1; break }
                    if b == UInt8(ascii: "\\") {
                        i += 1
                        guard i < bytes.count else { break }
                    } else if b < 0x20 && b != 0x09 || b == 0x7F {
                        throw .malformed("control character in quoted value of \(name)")
                    }
                    value.append(bytes[i])
                    i += 1
                }
                guard closed else { throw .malformed("unterminated quoted value of \(name)") }
            } else {
                while i < bytes.count, isBareValueByte(bytes[i]) { value.append(bytes[i]); i += 1 }
                guard !value.isEmpty else { throw .malformed("empty value of \(name)") }
            }
            guard let text = String(validating: value, as: UTF8.self) else {
                throw .malformed("value of \(name) is not UTF-8")
            }
            guard result.updateValue(text, forKey: name) == nil else { throw .malformed("\(name) given twice") }
            skipSpace()
            if i == bytes.count { break }
            guard bytes[i] == UInt8(ascii: ",") else { throw .malformed("expected , at offset \(i)") }
            i += 1
        }
        return result
    }

    private static func lowercased(_ b: UInt8) -> UInt8 { (0x41...0x5A).contains(b) ? b + 0x20 : b }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
        }
    }

    /// A token character, or one of `:`, `/`, `=`, `[`, `]` (server names, key IDs, base64).
    private static func isBareValueByte(_ b: UInt8) -> Bool {
        isTokenByte(b) || Array(":/=[]".utf8).contains(b)
    }
}

extension XMatrixAuthorization.Failure: MatrixErrorConvertible {
    /// Every authentication failure is a 401 `M_UNAUTHORIZED`.
    public var matrixError: MatrixError { MatrixError(.unauthorized, status: 401, description) }
}
