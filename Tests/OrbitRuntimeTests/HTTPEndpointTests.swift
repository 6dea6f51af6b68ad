import Foundation
import Logging
import OrbitRuntime
import OrbitTestSupport
import XCTest

final class HTTPEndpointTests: XCTestCase {
    let logger = Logger(label: "test.http")

    /// Replicas on one host network (the local compose override) start at the same port and each
    /// takes the next free one; without attempts a taken port fails start-up with the field named.
    func testATakenPortMovesOnWithinItsAttemptsAndFailsClearlyWithout() throws {
        let first = try HTTPEndpoint(host: "127.0.0.1", port: 0, logger: logger) { _ in .init(status: 200, contentType: "text/plain", body: Array("first\n".utf8)) }
        defer { first.stop() }
        XCTAssertThrowsError(try HTTPEndpoint(host: "127.0.0.1", port: first.port, logger: logger) { _ in .init(status: 200, contentType: "text/plain", body: []) }) { error in
            XCTAssertTrue("\(error)".contains("service.http_port"), "\(error)")
        }
        let second = try HTTPEndpoint(host: "127.0.0.1", port: first.port, attempts: 20, logger: logger) { _ in
            .init(status: 200, contentType: "text/plain", body: Array("second\n".utf8))
        }
        defer { second.stop() }
        XCTAssertGreaterThan(second.port, first.port)
        XCTAssertLessThan(second.port, first.port + 20)
        XCTAssertEqual(try HTTPProbe.get(port: second.port, path: "/health").body, "second\n")
        XCTAssertEqual(try HTTPProbe.get(port: first.port, path: "/health").body, "first\n")
    }

    func testPortAttemptsAreASetting() throws {
        let document = try ConfigDocument(yaml: "service:\n  http_port: 9110\n  http_port_attempts: 8\n", file: "scoring.yaml", environment: [:])
        let settings = try RuntimeSettings(document: document, defaultServiceName: "s", defaultHTTPPort: 0)
        XCTAssertEqual(settings.httpPortAttempts, 8)
        let bad = try ConfigDocument(yaml: "service:\n  http_port_attempts: 0\n", file: "scoring.yaml", environment: [:])
        XCTAssertThrowsError(try RuntimeSettings(document: bad, defaultServiceName: "s", defaultHTTPPort: 0)) { error in
            XCTAssertTrue("\(error)".contains("http_port_attempts"), "\(error)")
        }
    }
}
