import Foundation
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring
import OrbitTestKit
import OrbitTestSupport
import XCTest

/// The scorer stopped and started again halfway through a workload, in process under the test
/// kit: from the changelog (memory) or from its files' checkpoints (disk), the final profiles are
/// byte for byte those of one uninterrupted run. (SIGKILL and scaling stay in ScorerServiceTests,
/// as processes.)
final class ScorerRestartTests: XCTestCase {
    /// The shipped scoring.yaml with the service tests' overrides: fixed thresholds, batches of 300.
    func configuration(_ extra: [String: String] = [:]) throws -> (ScoringSettings, RuntimeSettings) {
        let environment = ScorerServiceTests.environment.merging(extra) { _, new in new }
        let document = try ConfigDocument.load(path: ServiceProcess.repositoryRoot.appendingPathComponent("deploy/config/scoring.yaml").path,
                                               environment: environment)
        return (try ScoringSettings(document: document), try RuntimeSettings(document: document, defaultServiceName: "orbit-scorer", defaultHTTPPort: 0))
    }

    /// The workload through one scorer, stopped and started again after `restartAfter` records
    /// (never when nil); the latest profile of every user, and the changelog records the restart read.
    func profiles(_ workload: ScorerWorkload, restartAfter: Int?, extra: [String: String] = [:], cleanly: Bool = true) throws
        -> (profiles: [String: [UInt8]], restored: Int) {
        let (settings, runtime) = try configuration(extra)
        let driver = try TopologyTestDriver(ScorerService.topology(settings, runtime: runtime), runtime: runtime,
                                            partitions: TopicCatalogue.defaultPartitions, nowMillis: try RFC3339.parse("2026-12-31T00:00:00Z"))
        let split = restartAfter ?? workload.records.count
        for record in workload.records[..<split] { driver.log.append(record, timestampMillis: driver.nowMillis) }
        try driver.run()
        let before = driver.log.restoredRecords
        if restartAfter != nil { try driver.restart(cleanly: cleanly) }
        let restored = driver.log.restoredRecords - before
        for record in workload.records[split...] { driver.log.append(record, timestampMillis: driver.nowMillis) }
        try driver.run()
        return (driver.latest(settings.profilesTopic), restored)
    }

    func differences(_ a: [String: [UInt8]], _ b: [String: [UInt8]]) -> [String] {
        Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }

    func testStateIsRestoredFromTheChangelogAfterARestart() throws {
        let workload = ScorerWorkload.make(users: 150, seed: 3)
        let reference = try profiles(workload, restartAfter: nil).profiles
        XCTAssertEqual(reference.count, 150)
        let half = workload.records.count / 2
        let (restarted, restored) = try profiles(workload, restartAfter: half, cleanly: false)
        XCTAssertGreaterThan(restored, 0, "the users were read back from the changelog")
        XCTAssertEqual(differences(reference, restarted), [])
    }

    func testTheDiskStoreRestartsFromItsCheckpointsWithTheSameProfiles() throws {
        let workload = ScorerWorkload.make(users: 150, seed: 5)
        let reference = try profiles(workload, restartAfter: nil).profiles
        let directory = NSTemporaryDirectory() + "orbit-scorer-disk-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let half = workload.records.count / 2
        let (restarted, restored) = try profiles(workload, restartAfter: half, extra: ["ORBIT__STATE__STORE": "disk", "ORBIT__STATE__DIR": directory])
        XCTAssertEqual(restored, 0, "every partition came back from its file's checkpoint, no changelog record read again")
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/orbit-scorer.user-state-changelog"))
        XCTAssertEqual(differences(reference, restarted), [])
    }
}
