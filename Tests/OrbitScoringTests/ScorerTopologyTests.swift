import Foundation
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring
import OrbitTestKit
import XCTest

/// The scorer's declared topology under the test kit: its user store honours `state.store`, a
/// restart on the disk backend finds every user, and the profiles go on from the restored state.
final class ScorerTopologyTests: XCTestCase {
    var directory = ""
    let now = try! RFC3339.parse("2026-03-10T12:00:00Z")

    override func setUp() { directory = NSTemporaryDirectory() + "orbit-scorer-topology-\(UUID().uuidString)" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func purchase(_ id: String, _ time: String, minor: Int64, user: String) -> [UInt8] {
        UserEvent(id: id, userID: user, type: .purchase, timeMillis: try! RFC3339.parse(time),
                  properties: JSONObject([(key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD"))])).encoded()
    }

    func testTheUserStoreRestartsOnTheDiskBackendAndFindsItsUsers() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-scorer", diskStateIn: directory)
        var settings = ScoringSettings()
        settings.policy.rfmMode = .thresholds
        let driver = try TopologyTestDriver(ScorerService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        let users = (0..<20).map { "u\($0)" }
        for user in users {
            driver.send(settings.inputTopic, key: user, value: purchase("\(user)-1", "2026-03-02T10:00:00Z", minor: 5_000, user: user))
        }
        try driver.run()
        XCTAssertEqual(driver.latest(settings.profilesTopic).count, 20, "a profile per user")
        XCTAssertEqual(driver.processor(ScoringProcessor.self).store.count, 20)
        for partition in 0..<4 {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/\(settings.stateChangelogTopic)/\(partition).sqlite"), "state.store: disk keeps the users in files")
        }

        let restored = driver.log.restoredRecords
        try driver.restart()
        XCTAssertEqual(driver.log.restoredRecords, restored, "from the files' checkpoint")
        let restarted = driver.processor(ScoringProcessor.self)
        XCTAssertEqual(restarted.store.count, 20, "every user is found after the restart")
        let home = KeyPartitioner.partition(of: "u3", partitionCount: 4)
        XCTAssertEqual(try restarted.store.get(home, "u3")?.purchases, 1)
        driver.send(settings.inputTopic, key: "u3", value: purchase("u3-2", "2026-03-05T10:00:00Z", minor: 7_000, user: "u3"))
        try driver.run()
        XCTAssertEqual(try restarted.store.get(home, "u3")?.purchases, 2, "the restored state goes on")
    }

    func testACrashAfterTheStateChangesReplaysEventsTheGuardSkips() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-scorer")
        let settings = ScoringSettings()
        let driver = try TopologyTestDriver(ScorerService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        driver.send(settings.inputTopic, key: "ann", value: purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000, user: "ann"))
        driver.send(settings.inputTopic, key: "ann", value: purchase("p2", "2026-03-03T10:00:00Z", minor: 2_000, user: "ann"))
        driver.crash(.afterStateChanges)
        try driver.run()
        let home = KeyPartitioner.partition(of: "ann", partitionCount: 4)
        XCTAssertEqual(try driver.processor(ScoringProcessor.self).store.get(home, "ann")?.purchases, 2, "each purchase counted once")
    }

    func testAReplayedEventIsAppliedOnceAfterACrash() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-scorer")
        let settings = ScoringSettings()
        let driver = try TopologyTestDriver(ScorerService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        driver.send(settings.inputTopic, key: "ann", value: purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000, user: "ann"))
        driver.crash(.beforeStateChanges)
        try driver.run()
        let profiles = driver.records(settings.profilesTopic)
        XCTAssertEqual(profiles.count, 2, "the crashed batch's profile, then the replay's")
        XCTAssertEqual(profiles[0].value, profiles[1].value, "identical bytes")
        let home = KeyPartitioner.partition(of: "ann", partitionCount: 4)
        XCTAssertEqual(try driver.processor(ScoringProcessor.self).store.get(home, "ann")?.purchases, 1)
    }
}
