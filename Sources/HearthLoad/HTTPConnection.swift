import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 response, body fully read.
struct HTTPResponse: Sendable {
    var status: Int
    var body: [UInt8]
}

struct HTTPConnectionError: Error, CustomStringConvertible {
    var description: String
}

/// A keep-alive HTTP/1.1 connection on SwiftNIO, one request at a time.
///
/// The load tool needs thousands of requests per second from one process without adding a
/// package dependency; swift-nio is already one (Hummingbird runs on it). Each virtual user
/// holds its own connections, as a real client would: one for sending, one for the /sync long
/// poll. Requests on one connection are serialized by the caller (a user awaits each reply).
final class HTTPConnection: Sendable {
    private let channel: any Channel
    let host: String

    private init(channel: any Channel, host: String) {
        self.channel = channel
        self.host = host
    }

    static func connect(host: String, port: Int, group: any EventLoopGroup) async throws -> HTTPConnection {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector())
                }
            }
            .connect(host: host, port: port).get()
        return HTTPConnection(channel: channel, host: port == 80 ? host : "\(host):\(port)")
    }

    func request(_ method: HTTPMethod, _ uri: String, token: String? = nil, body: [UInt8]? = nil,
                 contentType: String = "application/json") async throws -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Connection", value: "keep-alive")
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        var buffer: ByteBuffer?
        if let body {
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.count))
            buffer = channel.allocator.buffer(bytes: body)
        } else if method == .POST || method == .PUT {
            headers.add(name: "Content-Length", value: "0")
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
        let promise = channel.eventLoop.makePromise(of: HTTPResponse.self)
        channel.writeAndFlush(OutgoingRequest(head: head, body: buffer, promise: promise), promise: nil)
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}

struct OutgoingRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var promise: EventLoopPromise<HTTPResponse>
}

/// Writes requests and completes their promises, in order, as responses end.
private final class ResponseCollector: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = OutgoingRequest
    typealias OutboundOut = HTTPClientRequestPart

    private var waiting = CircularBuffer<EventLoopPromise<HTTPResponse>>()
    private var status = 0
    private var body: [UInt8] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(request.promise)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if let body = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            body.removeAll(keepingCapacity: true)
        case .body(var chunk):
            body.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
        case .end:
            if let promise = waiting.popFirst() {
                promise.succeed(HTTPResponse(status: status, body: body))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(HTTPConnectionError(description: "connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}
