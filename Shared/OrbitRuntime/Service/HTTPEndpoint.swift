import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A deliberately tiny HTTP/1.1 server for `/metrics` and `/health`: GET only, one request per
/// connection, answered on one thread. Orbit's services talk to each other only through Kafka;
/// this port exists for Prometheus and orchestrators, and a full HTTP stack would cost minutes of
/// build for two fixed routes.
public final class HTTPEndpoint: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]

        public init(status: Int, contentType: String, body: [UInt8]) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    public typealias Handler = @Sendable (_ path: String) -> Response

    private let socketDescriptor: Int32
    public let port: Int
    private let stopped = StopFlagAtomic()

    /// Binds at once (so a port clash fails start-up, not later) and serves on a background thread.
    /// With `attempts` > 1 a taken port moves on to the next one, up to `port + attempts - 1`.
    public init(host: String, port: Int, attempts: Int = 1, logger: Logger, handler: @escaping Handler) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw ConfigError(file: "(settings)", line: nil, field: "service.http_host", message: "\(host) is not an IPv4 address")
        }
        var candidate = port
        var listening: Int32 = -1
        while true {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            var yes: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
            address.sin_port = in_port_t(UInt16(candidate).bigEndian)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound == 0, listen(fd, 64) == 0 { listening = fd; break }
            let code = errno
            close(fd)
            if code == EADDRINUSE, port != 0, candidate < min(port + attempts - 1, 65535) {
                candidate += 1
                continue
            }
            let tried = candidate == port ? "\(port)" : "\(port)-\(candidate)"
            throw ConfigError(file: "(settings)", line: nil, field: "service.http_port", message: "cannot listen on \(host):\(tried): \(String(cString: strerror(code)))")
        }
        let fd = listening
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.socketDescriptor = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        let stopped = self.stopped
        let thread = Thread {
            while !stopped.isSet {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if stopped.isSet { return }
                    continue
                }
                Self.serve(client, handler: handler)
            }
        }
        thread.name = "http-endpoint"
        thread.start()
        logger.info("http endpoint listening on \(host):\(self.port) (/metrics, /health)")
    }

    private static func serve(_ client: Int32, handler: Handler) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16_384 {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { break }
            request.append(contentsOf: buffer[0..<n])
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] { break }
            if let text = String(bytes: request, encoding: .utf8), text.contains("\r\n\r\n") { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let response: Response
        if line.count >= 2, line[0] == "GET" {
            let path = String(line[1].split(separator: "?").first ?? "/")
            response = handler(path)
        } else {
            response = Response(status: 405, contentType: "text/plain", body: Array("only GET\n".utf8))
        }
        let reason = [200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][response.status] ?? "OK"
        let head = "HTTP/1.1 \(response.status) \(reason)\r\nContent-Type: \(response.contentType)\r\nContent-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        let bytes = Array(head.utf8) + response.body
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            sent += n
        }
    }

    public func stop() {
        stopped.set()
        shutdown(socketDescriptor, Int32(SHUT_RDWR))
        close(socketDescriptor)
    }
}
