import Foundation
import OrbitContract
import OrbitIngest
import OrbitKafka
import OrbitRuntime
import OrbitTestKit
import OrbitTestSupport
import XCTest

/// Ingestion's declared topology under the test kit (no broker, no process): its deduplication
/// memory survives a restart, a crash replays identical records, and a `state` setting it cannot
/// honour stops it at start naming the file, line and field.
final class IngestTopologyTests: XCTestCase {
    let settings = IngestSettings()
    /// Just after the workload's events (2026-06-01T10:00:00Z): none is in the future.
    let now = try! RFC3339.parse("2026-06-01T12:00:00Z")

    func driver(_ runtime: RuntimeSettings) throws -> TopologyTestDriver {
        try TopologyTestDriver(IngestService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
    }

    func send(_ records: [ProducerRecord], to driver: TopologyTestDriver) {
        for record in records { driver.log.append(record, timestampMillis: now) }
    }

    func copiesByID(_ driver: TopologyTestDriver) throws -> [String: [[UInt8]]] {
        var result: [String: [[UInt8]]] = [:]
        for record in driver.records(settings.validTopic) { result[try UserEvent.decode(record.value!).id, default: []].append(record.value!) }
        return result
    }

    func testDeduplicationMemorySurvivesARestart() throws {
        let driver = try driver(try .testing(service: "orbit-ingest"))
        let firstHalf = IngestWorkload.make(valid: 500, users: 50, duplicates: 0, badRepeats: 0, idPrefix: "old")
        send(firstHalf.records, to: driver)
        try driver.run()
        XCTAssertEqual(driver.records(settings.validTopic).count, 500)

        try driver.restart(cleanly: false)
        let newEvents = IngestWorkload.make(valid: 200, users: 50, duplicates: 0, badRepeats: 0, idPrefix: "new")
        send(Array(firstHalf.records.prefix(300)) + newEvents.records, to: driver)  // 300 re-sent
        XCTAssertEqual(try driver.run(), 500)
        let copies = try copiesByID(driver)
        XCTAssertEqual(copies.count, 700)
        XCTAssertEqual(copies.values.filter { $0.count > 1 }.count, 0, "re-sent events were recognised after the restart")
    }

    func testACrashBeforeTheCommitRepeatsOnlyIdenticalRecords() throws {
        let driver = try driver(try .testing(service: "orbit-ingest", "processing:\n  max_batch_records: 100\n"))
        let workload = IngestWorkload.make(valid: 1_000, users: 100, duplicates: 0, badRepeats: 0)
        send(workload.records, to: driver)
        driver.crash(.beforeStateChanges)
        try driver.run()
        let copies = try copiesByID(driver)
        XCTAssertEqual(Set(copies.keys), Set(workload.validIDs), "no valid event lost")
        let repeated = copies.values.filter { $0.count > 1 }
        XCTAssertGreaterThan(repeated.count, 0, "the crashed batch is read again")
        XCTAssertLessThanOrEqual(repeated.count, 100, "and nothing that was committed")
        XCTAssertTrue(repeated.allSatisfy { copies in copies.allSatisfy { $0 == copies[0] } }, "a repeat is an identical copy")
    }

    func testDiskStateIsRefusedAtStartNamingTheFileLineAndField() throws {
        let yaml = "processing:\n  max_batch_records: 100\nstate:\n  store: disk\n"
        let document = try ConfigDocument(yaml: yaml, file: "ingest.yaml", environment: [:])
        let runtime = try RuntimeSettings(document: document, defaultServiceName: "orbit-ingest", defaultHTTPPort: 0)
        XCTAssertThrowsError(try IngestService.topology(settings, runtime: runtime).checkHonoured(by: runtime, state: document.section("state"))) { error in
            let error = error as! ConfigError
            XCTAssertEqual(error.file, "ingest.yaml")
            XCTAssertEqual(error.line, 4)
            XCTAssertEqual(error.field, "state.store")
            XCTAssertTrue(error.message.contains("keeps no keyed store"), error.message)
        }
    }

    /// Query settings for a service that answers no query are refused, not parsed and ignored.
    func testQuerySettingsAreRefusedForAServiceWithoutKeyedStores() throws {
        let token = NSTemporaryDirectory() + "orbit-token-\(UUID().uuidString)"
        try "a-query-token-of-enough-bytes\n".write(toFile: token, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: token) }
        for (yaml, field, line) in [("service:\n  query_token_file: \(token)\n", "service.query_token_file", 2),
                                    ("service:\n  advertised_url: http://ingest-0:9101\n", "service.advertised_url", 2)] {
            let document = try ConfigDocument(yaml: yaml, file: "ingest.yaml", environment: [:])
            let runtime = try RuntimeSettings(document: document, defaultServiceName: "orbit-ingest", defaultHTTPPort: 0)
            XCTAssertThrowsError(try IngestService.topology(settings, runtime: runtime)
                .checkHonoured(by: runtime, state: document.section("state"), service: document.section("service"))) { error in
                let error = error as! ConfigError
                XCTAssertEqual(error.field, field)
                XCTAssertEqual(error.line, line)
            }
        }
    }

    func testADiskSettingBesideTheMemoryStoreIsRefused() throws {
        XCTAssertThrowsError(try RuntimeSettings(document: ConfigDocument(yaml: "state:\n  store: memory\n  cache_kib: 2048\n", file: "x.yaml", environment: [:]),
                                                 defaultServiceName: "orbit-scorer", defaultHTTPPort: 0)) { error in
            XCTAssertEqual((error as? ConfigError)?.field, "state.cache_kib")
        }
    }
}
