import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP GET over a loopback socket, to read a service's /health and /metrics.
public enum HTTPProbe {
    public struct Response: Sendable {
        public let status: Int
        public let body: String
    }

    /// A TCP connection to 127.0.0.1:`port`, as a file descriptor the caller closes.
    public static func connectLoopback(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw TestFailure("cannot connect to 127.0.0.1:\(port)") }
        return fd
    }

    public static func get(port: Int, path: String) throws -> Response {
        let answer = try request(port: port, path: path)
        return Response(status: answer.status, body: answer.body)
    }

    /// A GET with headers of its own (`Authorization`), answered with the response's headers
    /// (names in lower case); redirects are not followed.
    public static func request(port: Int, path: String, headers: [String: String] = [:]) throws -> (status: Int, headers: [String: String], body: String) {
        let fd = try connectLoopback(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let extra = headers.map { "\($0.key): \($0.value)\r\n" }.joined()
        let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\(extra)\r\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n").first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            throw TestFailure("no HTTP response from port \(port)")
        }
        let parts = text.components(separatedBy: "\r\n\r\n")
        var fields: [String: String] = [:]
        for line in parts[0].split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, fields, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// /health as a dictionary.
    public static func health(port: Int) throws -> (status: Int, json: [String: Any]) {
        let response = try get(port: port, path: "/health")
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body.utf8))) as? [String: Any] ?? [:]
        return (response.status, json)
    }

    public static func assignedPartitions(port: Int) -> [String] {
        ((try? health(port: port))?.json["assigned_partitions"] as? [String]) ?? []
    }
}
