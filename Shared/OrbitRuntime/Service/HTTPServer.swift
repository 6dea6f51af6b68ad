import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A service's HTTP port: `/metrics`, `/health` and read-only queries, for Prometheus, orchestrators
/// and people. Services never call each other over it (they talk only through Kafka).
///
/// SwiftNIO's HTTP/1 server on one event loop, so one slow or idle client costs a connection, not
/// the port: the hand-written loop it replaces served one connection at a time with a read timeout
/// that restarted on every byte, and one client sending a byte every 1.5 s kept `/health` from
/// answering anyone, long enough for an orchestrator to restart a healthy service. Every
/// connection lives within ``HTTPLimits``: a request must arrive whole within a deadline, an idle
/// connection is closed, heads and bodies have a size limit, and connections beyond the limit are
/// answered 503 and closed.
public final class HTTPServer: Sendable {
    /// Answers one request. Runs on the cooperative pool, so it may wait; `/health` must not.
    public typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse

    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(port: Int, group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.port = port
        self.group = group
        self.channel = channel
    }

    /// Binds at once (so a port clash fails start-up, not later) and serves in the background.
    /// With `attempts` > 1 a taken port moves on to the next one, up to `port + attempts - 1`.
    public static func start(host: String, port: Int, attempts: Int = 1, limits: HTTPLimits = HTTPLimits(), logger: Logger,
                             handler: @escaping Handler) async throws -> HTTPServer {
        guard (try? SocketAddress(ipAddress: host, port: 0)) != nil else {
            throw ConfigError(file: "(settings)", line: nil, field: "service.http_host", message: "\(host) is not an IP address")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let slots = ConnectionSlots(limit: limits.maxConnections)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A TCP option (level IPPROTO_TCP): as a socket option its number, 1, is SO_DEBUG, which a
            // non-root process may not set: every connection was closed in the image (found by the compose test).
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configure(channel, limits: limits, slots: slots, logger: logger, handler: handler)
                }
            }
        var candidate = port
        while true {
            do {
                let channel = try await bootstrap.bind(host: host, port: candidate).get()
                let server = HTTPServer(port: channel.localAddress?.port ?? candidate, group: group, channel: channel)
                logger.info("http endpoint listening on \(host):\(server.port) (/metrics, /health)")
                return server
            } catch let error as IOError where error.errnoCode == EADDRINUSE && port != 0 && candidate < min(port + attempts - 1, 65535) {
                candidate += 1
            } catch {
                try? await group.shutdownGracefully()
                let tried = candidate == port ? "\(port)" : "\(port)-\(candidate)"
                throw ConfigError(file: "(settings)", line: nil, field: "service.http_port", message: "cannot listen on \(host):\(tried): \(error)")
            }
        }
    }

    /// One connection's handlers: its guard (slot, deadline, idle time, bytes), NIO's HTTP/1 codec
    /// with pipelining (one request answered at a time, in order) and the request handler.
    private static func configure(_ channel: any Channel, limits: HTTPLimits, slots: ConnectionSlots, logger: Logger, handler: @escaping Handler) throws {
        let pipeline = channel.pipeline.syncOperations
        guard slots.take() else {
            try pipeline.addHandler(RefusedConnection())
            return
        }
        channel.closeFuture.whenComplete { _ in slots.release() }
        try pipeline.addHandler(ConnectionGuard(limits: limits))
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderFieldSize = limits.maxHeaderBytes
        decoderLimits.maxHeaderListSize = limits.maxHeaderBytes
        decoderLimits.maxHeaderFieldCount = 100
        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false, withEncoderConfiguration: .init(),
                                               withDecoderLimitConfiguration: decoderLimits)
        try pipeline.addHandler(RequestHandler(limits: limits, logger: logger, handler: handler))
    }

    /// Stops accepting, closes every connection and ends the event loop.
    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// What keeps one connection from holding the server: how many are open at once, how long a
/// request may take to arrive, how long a connection may sit idle, how large heads and bodies are.
public struct HTTPLimits: Sendable {
    /// Connections open at once; one more is answered 503 and closed.
    public var maxConnections = 1024
    /// The request line and headers together (431 beyond).
    public var maxHeaderBytes = 16 * 1024
    /// A request's body (413 beyond). Orbit's port serves GETs: bodies are refused, not read.
    public var maxBodyBytes = 64 * 1024
    /// From a request's first byte to its last: a client trickling bytes gets 408 and is closed.
    public var requestDeadline: Duration = .seconds(10)
    /// A kept-alive connection with no request in progress is closed after this long.
    public var idleTimeout: Duration = .seconds(30)

    public init() {}
}

/// A request as a ``HTTPServer/Handler`` sees it: the path split from its query, the headers.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path with its percent-escapes decoded.
    public var path: String
    /// The path as sent, escapes kept: a key that holds a `/` (`%2F`) is one segment here.
    public var rawPath: String
    public var query: [String: String]
    public var headers: [(name: String, value: String)]

    /// - Parameter rawPath: the path as sent (default: `path`, for a path without escapes).
    public init(method: String = "GET", path: String, rawPath: String? = nil, query: [String: String] = [:], headers: [(name: String, value: String)] = []) {
        self.method = method
        self.path = path
        self.rawPath = rawPath ?? path
        self.query = query
        self.headers = headers
    }

    /// The first header of that name (names compare without case).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The path and query of a request target (`/v1/users/ada?x=1`); percent-escapes decoded.
    init(method: String, target: String, headers: [(name: String, value: String)]) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                query[name] = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
            }
        }
        let rawPath = parts.first.map(String.init) ?? "/"
        self.init(method: method, path: rawPath.removingPercentEncoding ?? rawPath, rawPath: rawPath, query: query, headers: headers)
    }
}

/// A response: status, content type, body and any further headers (`Location`, `Retry-After`).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var headers: [(name: String, value: String)]

    public init(status: Int, contentType: String, body: [UInt8], headers: [(name: String, value: String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// A plain-text response; the text ends with a line break.
    public static func text(_ status: Int, _ text: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array((text.hasSuffix("\n") ? text : text + "\n").utf8), headers: headers)
    }
}

/// The number of connections open, against the limit; shared by every connection of a server.
final class ConnectionSlots: Sendable {
    private let limit: Int
    private let open = NIOLockedValueBox(0)

    init(limit: Int) { self.limit = limit }

    func take() -> Bool {
        open.withLockedValue { open in
            guard open < limit else { return false }
            open += 1
            return true
        }
    }

    func release() { open.withLockedValue { $0 -= 1 } }
}

/// A connection beyond the limit: answered 503 at once and closed, so the client learns why.
final class RefusedConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        RawResponse.send(503, "Service Unavailable", "too many connections", context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Writes a whole response as bytes and closes: for answers given before or instead of the HTTP
/// codec (a refused connection, a request that missed its deadline).
enum RawResponse {
    static func send(_ status: Int, _ reason: String, _ text: String, context: ChannelHandlerContext) {
        let body = text + "\n"
        let bytes = "HTTP/1.1 \(status) \(reason)\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"
        let buffer = context.channel.allocator.buffer(string: bytes)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

/// The request handler's word that a response is written: the connection is idle again.
struct ResponseWritten {}

/// First in each connection's pipeline, on its raw bytes: the deadline of a request (from its first
/// byte to its response), the idle time between requests, and a cap on the bytes one request may
/// send whatever the codec makes of them.
final class ConnectionGuard: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let limits: HTTPLimits
    private var receiving = false
    private var bytesInRequest = 0
    private var timer: Scheduled<Void>?

    init(limits: HTTPLimits) { self.limits = limits }

    func channelActive(context: ChannelHandlerContext) {
        waitForRequest(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data).readableBytes
        if !receiving {
            receiving = true
            bytesInRequest = 0
            schedule(after: limits.requestDeadline, context: context) { guard_, context in
                guard guard_.receiving else { return }
                RawResponse.send(408, "Request Timeout", "the request did not arrive within \(guard_.limits.requestDeadline)", context: context)
            }
        }
        bytesInRequest += bytes
        guard bytesInRequest <= limits.maxHeaderBytes + limits.maxBodyBytes + 4096 else {
            timer?.cancel()
            RawResponse.send(413, "Content Too Large", "a request is at most \(limits.maxHeaderBytes) bytes of head and \(limits.maxBodyBytes) of body", context: context)
            return
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is ResponseWritten else { return context.triggerUserOutboundEvent(event, promise: promise) }
        receiving = false
        waitForRequest(context: context)
        promise?.succeed(())
    }

    private func waitForRequest(context: ChannelHandlerContext) {
        schedule(after: limits.idleTimeout, context: context) { guard_, context in
            guard !guard_.receiving else { return }
            context.close(promise: nil)
        }
    }

    private func schedule(after delay: Duration, context: ChannelHandlerContext, _ body: @escaping (ConnectionGuard, ChannelHandlerContext) -> Void) {
        timer?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        let body = NIOLoopBound(body, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
            let (guard_, context) = bound.value
            body.value(guard_, context)
        }
    }
}

/// Gathers a request from NIO's codec, hands it to the handler and writes the answer, keeping the
/// connection open when the client asked to.
final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let limits: HTTPLimits
    private let logger: Logger
    private let handler: HTTPServer.Handler
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var answering = false

    init(limits: HTTPLimits, logger: Logger, handler: @escaping HTTPServer.Handler) {
        self.limits = limits
        self.logger = logger
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
        case .body(let body):
            bodyBytes += body.readableBytes
        case .end:
            guard let head else { return }
            self.head = nil
            let keepAlive = head.isKeepAlive
            if bodyBytes > limits.maxBodyBytes {
                return respond(.text(413, "a request body is at most \(limits.maxBodyBytes) bytes"), keepAlive: false, context: context)
            }
            guard head.method == .GET || head.method == .HEAD else {
                return respond(.text(405, "only GET", headers: [("Allow", "GET, HEAD")]), keepAlive: keepAlive, context: context)
            }
            let request = HTTPRequest(method: head.method.rawValue, target: head.uri, headers: head.headers.map { ($0.name, $0.value) })
            answering = true
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let handler = self.handler
            context.eventLoop.makeFutureWithTask { await handler(request) }.whenSuccess { response in
                let (this, context) = bound.value
                this.respond(response, keepAlive: keepAlive, context: context)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The codec stops reading after a malformed request; answer it (unless an answer is on
        // its way) and close.
        guard !answering, let parserError = error as? HTTPParserError else {
            context.close(promise: nil)
            return
        }
        let response: HTTPResponse = parserError == .headerOverflow
            ? .text(431, "the request's head is larger than \(limits.maxHeaderBytes) bytes")
            : .text(400, "not an HTTP/1 request: \(parserError)")
        respond(response, keepAlive: false, context: context)
    }

    private func respond(_ response: HTTPResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        answering = false
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.count))
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        for header in response.headers { headers.add(name: header.name, value: header.value) }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        context.triggerUserOutboundEvent(ResponseWritten(), promise: nil)
        if !keepAlive {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}
