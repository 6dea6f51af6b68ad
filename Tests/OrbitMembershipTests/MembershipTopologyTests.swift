import Foundation
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitTestKit
import XCTest

/// The membership service's whole declared topology (router and ledger) under the test kit: the
/// ledger keeps its members in the backend `state.store` names, a restart finds them, and a crash
/// between outputs and commit replays identical ledger entries without counting them twice.
final class MembershipTopologyTests: XCTestCase {
    let settings = MembershipSettings.spendAndSignup
    let now: Int64 = 1_780_000_000_000
    var directory = ""

    override func setUp() { directory = NSTemporaryDirectory() + "orbit-members-topology-\(UUID().uuidString)" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func event(_ type: EventType, user: String, id: String, minor: Int64? = nil) -> [UInt8] {
        var properties: [(key: String, value: JSONValue)] = []
        if let minor { properties = [(key: "order_id", value: .string("o-\(id)")), (key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD"))] }
        return UserEvent(id: id, userID: user, type: type, timeMillis: now, properties: JSONObject(properties)).encoded()
    }

    /// The ledger's whole topology with `runtime`, and ann signed up (100) and buying for 50.00 (50) on its input.
    func driverWithAnnsSignUpAndPurchase(_ runtime: RuntimeSettings) throws -> TopologyTestDriver {
        let driver = try TopologyTestDriver(MembershipService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        driver.send(settings.eventsTopic, key: "ann", value: event(.signup, user: "ann", id: "s1"))
        driver.send(settings.eventsTopic, key: "ann", value: event(.purchase, user: "ann", id: "p1", minor: 5_000))
        return driver
    }

    func balance(_ driver: TopologyTestDriver, _ user: String) throws -> Int64? {
        let partition = KeyPartitioner.partition(of: user, partitionCount: 4)
        return try driver.processor(MembershipProcessor.self).store.get(partition, user)?.points.balance
    }

    func testTheLedgerKeepsItsMembersOnDiskAndARestartFindsThem() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-members", diskStateIn: directory)
        let driver = try driverWithAnnsSignUpAndPurchase(runtime)
        XCTAssertEqual(try driver.run(), 4, "two events through the router, two through the ledger")
        XCTAssertEqual(try balance(driver, "ann"), 150)
        let partition = KeyPartitioner.partition(of: "ann", partitionCount: 4)
        let file = "\(directory)/\(settings.stateChangelogTopic)/\(partition).sqlite"
        XCTAssertTrue(FileManager.default.fileExists(atPath: file), "state.store: disk puts the ledger's members in \(file)")

        let before = driver.processor(MembershipProcessor.self)
        let restored = driver.log.restoredRecords
        try driver.restart()
        XCTAssertFalse(before === driver.processor(MembershipProcessor.self), "a new ledger after the restart")
        XCTAssertEqual(try balance(driver, "ann"), 150, "found after the restart")
        XCTAssertEqual(driver.log.restoredRecords, restored, "from the files' checkpoint: no changelog record read again")

        try driver.restart(cleanly: false)
        XCTAssertEqual(try balance(driver, "ann"), 150, "found after a crash too")
        XCTAssertGreaterThan(driver.log.restoredRecords, restored, "rebuilt from the changelog: a crash keeps no checkpoint")
        driver.send(settings.eventsTopic, key: "ann", value: event(.purchase, user: "ann", id: "p2", minor: 2_000))
        try driver.run()
        XCTAssertEqual(try balance(driver, "ann"), 170, "and it goes on from there")
        XCTAssertEqual(driver.records(settings.ledgerTopic).count, 3)
    }

    func testACrashBetweenOutputsAndCommitReplaysIdenticalEntriesAndCountsThemOnce() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-members")
        let driver = try driverWithAnnsSignUpAndPurchase(runtime)
        driver.crash(.beforeStateChanges)
        try driver.run()
        let ledger = driver.records(settings.ledgerTopic)
        XCTAssertEqual(ledger.count, 4, "the crashed batch's two entries, then the replay's two")
        XCTAssertEqual(ledger[0].value, ledger[2].value, "a replay writes the same bytes")
        XCTAssertEqual(ledger[1].value, ledger[3].value)
        XCTAssertEqual(try balance(driver, "ann"), 150, "the points are counted once")
    }

    func testACrashAfterTheStateChangesReplaysRecordsTheGuardRecognises() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-members")
        let driver = try driverWithAnnsSignUpAndPurchase(runtime)
        driver.crash(.afterStateChanges)
        try driver.run()
        XCTAssertEqual(try balance(driver, "ann"), 150, "the restored state already has the batch; its replay changes nothing")
        let ledger = driver.records(settings.ledgerTopic)
        XCTAssertEqual(ledger.count, 2, "a replayed record the guard recognises writes no second entry")
        driver.send(settings.eventsTopic, key: "ann", value: event(.purchase, user: "ann", id: "p2", minor: 1_000))
        try driver.run()
        XCTAssertEqual(try balance(driver, "ann"), 160, "and the next record is applied")
    }

    func testAMovedPartitionIsDroppedAndRestoredWhenItComesBack() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-members")
        let driver = try TopologyTestDriver(MembershipService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        driver.send(settings.eventsTopic, key: "ann", value: event(.signup, user: "ann", id: "s1"))
        try driver.run()
        let partition = KeyPartitioner.partition(of: "ann", partitionCount: 4)
        driver.revoke([partition])
        XCTAssertNil(try balance(driver, "ann"), "a revoked partition's members are dropped")
        try driver.assign([partition])
        XCTAssertEqual(try balance(driver, "ann"), 100, "and restored from the changelog when it comes back")
    }
}
