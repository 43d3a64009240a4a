public import HearthCore
public import Hummingbird
import Logging
import NIOCore

/// One endpoint: a method, its path patterns (`{name}` segments are parameters) and a handler.
public struct Route: Sendable {
    public typealias Handler = @Sendable (MatrixRequest) async throws -> MatrixResponse
    public let method: HTTPRequest.Method
    public let paths: [String]
    /// Largest body accepted; more is refused with 413 M_TOO_LARGE before the handler runs.
    public let maxBodySize: Int
    public let handler: Handler

    public init(_ method: HTTPRequest.Method, _ paths: [String], maxBodySize: Int = Route.defaultMaxBodySize,
                handler: @escaping Handler) {
        self.method = method
        self.paths = paths
        self.maxBodySize = maxBodySize
        self.handler = handler
    }

    public static let defaultMaxBodySize = 1 << 20
}

/// Dispatches requests to routes by path segments. Unknown paths get 404 M_UNRECOGNIZED, a
/// known path with an unsupported method gets 405 M_UNRECOGNIZED, as the spec asks.
public final class MatrixRouter: Sendable {
    private final class Node: @unchecked Sendable {
        var literals: [String: Node] = [:]
        var parameter: (name: String, node: Node)?
        var routes: [HTTPRequest.Method: Route] = [:]
    }

    private let root: Node
    private let logger: Logger
    /// Every (method, path pattern) served, in registration order (for the spec coverage table).
    public let registered: [(method: String, path: String)]

    public init(routes: [Route], logger: Logger) {
        let root = Node()
        registered = routes.flatMap { route in route.paths.map { (route.method.rawValue, $0) } }
        for route in routes {
            for path in route.paths {
                var node = root
                for segment in MatrixRouter.segments(of: path) {
                    if segment.hasPrefix("{"), segment.hasSuffix("}") {
                        let name = String(segment.dropFirst().dropLast())
                        if node.parameter == nil { node.parameter = (name, Node()) }
                        precondition(node.parameter!.name == name, "conflicting parameter names at \(path)")
                        node = node.parameter!.node
                    } else {
                        let next = node.literals[String(segment)] ?? Node()
                        node.literals[String(segment)] = next
                        node = next
                    }
                }
                precondition(node.routes[route.method] == nil, "duplicate route \(route.method) \(path)")
                node.routes[route.method] = route
            }
        }
        self.root = root
        self.logger = logger
    }

    static func segments(of path: String) -> [Substring] {
        Array(path.split(separator: "/", omittingEmptySubsequences: false).dropFirst())
    }

    /// Finds the node for a path: literal segments win over parameters, with backtracking.
    private func match(_ segments: ArraySlice<Substring>, at node: Node, parameters: inout [String: String]) -> Node? {
        guard let segment = segments.first else { return node.routes.isEmpty ? nil : node }
        let rest = segments.dropFirst()
        if let literal = node.literals[String(segment)], let found = match(rest, at: literal, parameters: &parameters) {
            return found
        }
        if let (name, child) = node.parameter {
            guard let decoded = segment.removingPercentEncoding else { return nil }
            parameters[name] = decoded
            if let found = match(rest, at: child, parameters: &parameters) { return found }
            parameters[name] = nil
        }
        return nil
    }

    /// The Hummingbird responder for this router.
    public var responder: CallbackResponder<MatrixRequestContext> {
        CallbackResponder { request, context in
            await self.respond(to: request, remoteAddress: context.remoteAddress?.ipAddress)
        }
    }

    func respond(to request: Request, remoteAddress: String?) async -> Response {
        var response = await dispatch(request, remoteAddress: remoteAddress)
        // Browser clients (Element Web) call from another origin.
        response.headers[.accessControlAllowOrigin] = "*"
        response.headers[.accessControlAllowMethods] = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
        response.headers[.accessControlAllowHeaders] = "X-Requested-With, Content-Type, Authorization, Date"
        return response
    }

    private func dispatch(_ request: Request, remoteAddress: String?) async -> Response {
        var parameters: [String: String] = [:]
        let path = request.uri.path
        guard let node = match(MatrixRouter.segments(of: path)[...], at: root, parameters: &parameters) else {
            return render(.unrecognized("Unrecognized request: \(request.method) \(path)", status: 404))
        }
        if request.method == .options {
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        let method = request.method == .head ? .get : request.method
        guard let route = node.routes[method] else {
            return render(.unrecognized("Unrecognized request: \(request.method) \(path)", status: 405))
        }
        var request = request
        let bodyBytes: [UInt8]
        do {
            var buffer = try await request.collectBody(upTo: route.maxBodySize)
            bodyBytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            return render(.tooLarge("Request body exceeds \(route.maxBodySize) bytes"))
        }
        var query: [String: [String]] = [:]
        for (key, value) in request.uri.queryParameters {
            query[String(key), default: []].append(String(value))
        }
        let matrixRequest = MatrixRequest(method: request.method, pathParameters: parameters, query: query,
                                          headers: request.headers, body: bodyBytes, remoteAddress: remoteAddress,
                                          uri: request.uri.string)
        do {
            return render(try await route.handler(matrixRequest))
        } catch let error as any MatrixErrorConvertible {
            let matrixError = error.matrixError
            if matrixError.status >= 500 {
                logger.error("request failed", metadata: ["path": "\(path)", "error": "\(matrixError)"])
            }
            return render(matrixError)
        } catch {
            logger.error("unhandled error", metadata: ["method": "\(request.method)", "path": "\(path)", "error": "\(error)"])
            return render(.unknown("Internal server error"))
        }
    }

    private func render(_ error: MatrixError) -> Response { render(MatrixResponse(error: error)) }

    private func render(_ response: MatrixResponse) -> Response {
        var headers = response.headers
        headers[.contentLength] = String(response.body.count)
        return Response(status: response.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: response.body)))
    }
}

/// The per-request context: Hummingbird's core storage plus the peer's address.
public struct MatrixRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

extension Substring {
    var removingPercentEncoding: String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
