import Foundation
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitTestKit
import XCTest

/// What the runtime does for every stage (``StageProcessor``), on a small topology under the test
/// kit: stores restored and changelogged without the processor's help, clock ticks as inputs,
/// erasure, and the checks that keep a declaration honest.
final class StageProcessorTests: XCTestCase {
    enum Kind: String, InputKind { case event, privacyRequest = "privacy_request" }

    /// Counts each user's events in a store keyed by user, and the ticks each partition saw in
    /// one keyed by partition; its part of an erasure is a tombstone on `out`.
    final class Counting: RecordProcessor {
        let users: KeyedStore<Count>
        let ticks: KeyedStore<Count>
        let extraOutput: String?
        init(stores: StoreMaker, extraStore: Bool = false, extraOutput: String? = nil) {
            users = stores.store("users-changelog", cachePolicy: .perBatch)
            ticks = stores.store("ticks-changelog", cachePolicy: .perBatch)
            if extraStore { let _: KeyedStore<Count> = stores.store("undeclared-changelog", cachePolicy: .perBatch) }
            self.extraOutput = extraOutput
        }
        func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
            let key = String(decoding: record.key ?? [], as: UTF8.self)
            _ = try users.update(record.partition, key, initial: { Count(value: 0) }) { $0.value += 1; return true }
            outputs.append(ProducerRecord(topic: extraOutput ?? "out", key: record.key, value: Array("\(key) seen".utf8)))
        }
        func tick(partition: Int32, at time: Int64, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
            _ = try ticks.update(partition, "ticks", initial: { Count(value: 0) }) { $0.value += 1; return true }
            outputs.append(ProducerRecord(topic: "out", key: Array("tick".utf8), value: Array("\(partition) at \(time)".utf8)))
        }
        func erase(_ userID: String, partition: Int32, erasure: inout Erasure, outputs: inout [ProducerRecord]) throws {
            erasure.erased("\(try users.get(partition, userID)?.value ?? 0) events counted")
            erasure.tombstone("out", key: userID, into: &outputs)
        }
    }

    func topology(extraStore: Bool = false, extraOutput: String? = nil) -> ServiceTopology {
        ServiceTopology(deadLettersTopic: "dlq", stages: [
            .router(groupID: "router", sources: ["events": Kind.event, OrbitTopics.privacyRequests: .privacyRequest], output: "inputs"),
            StageDeclaration(groupID: "counting", inputs: ["inputs"], outputs: ["out"],
                             stores: [StoreDeclaration(changelogTopic: "users-changelog", partitionedLike: "inputs", keyedByUser: true),
                                      StoreDeclaration(changelogTopic: "ticks-changelog", partitionedLike: "inputs", keyedByUser: false)],
                             punctuation: .seconds(60), ticksInto: "inputs", erasesFrom: "inputs") { context in
                Counting(stores: context.stores, extraStore: extraStore, extraOutput: extraOutput)
            },
        ])
    }

    func driver(_ topology: ServiceTopology) throws -> TopologyTestDriver {
        try TopologyTestDriver(topology, runtime: try RuntimeSettings.testing(service: "counting"), partitions: 2, nowMillis: 1_000)
    }

    func testStoresAreRestoredAndChangeloggedByTheRuntime() throws {
        let driver = try driver(topology())
        for user in ["ann", "bob", "ann"] { driver.send("events", key: user, value: Array("{}".utf8)) }
        try driver.run()
        XCTAssertEqual(driver.latest("users-changelog").mapValues { String(decoding: $0, as: UTF8.self) }, ["ann": "2", "bob": "1"])
        try driver.restart(cleanly: false)
        let home = KeyPartitioner.partition(of: "ann", partitionCount: 2)
        XCTAssertEqual(try driver.processor(Counting.self).users.get(home, "ann")?.value, 2, "restored from the changelog before any record")
        driver.revoke([home])
        XCTAssertNil(try driver.processor(Counting.self).users.get(home, "ann"), "dropped with its partition")
        try driver.assign([home])
        XCTAssertEqual(try driver.processor(Counting.self).users.get(home, "ann")?.value, 2)
    }

    func testEachPunctuationTicksEveryOwnedPartitionOnceAsAnInput() throws {
        let driver = try driver(topology())
        try driver.punctuate()
        try driver.punctuate()  // the clock has not moved: no second tick
        driver.nowMillis = 61_000
        driver.revoke([1])
        try driver.punctuate()
        let ticks = driver.records("inputs").filter { ClockTick.isTick($0) }
        XCTAssertEqual(ticks.map { "\($0.partition) \(ClockTick.time(of: $0) ?? -1)" }, ["0 1000", "0 61000", "1 1000"])
        XCTAssertEqual(driver.records("out").map { String(decoding: $0.value!, as: UTF8.self) }, ["0 at 1000", "1 at 1000", "0 at 61000"])
        XCTAssertTrue(driver.records("users-changelog").isEmpty, "a tick is not a user's record")
    }

    func testATickThatDoesNotReadIsADeadLetter() throws {
        let driver = try driver(topology())
        var tick = ClockTick.record(topic: "inputs", partition: 0, at: 5)
        tick.value = Array("soon".utf8)
        driver.log.append(tick, timestampMillis: 5)
        try driver.run()
        XCTAssertEqual(driver.records("dlq").count, 1)
        XCTAssertTrue(driver.records("out").isEmpty)
    }

    func testErasureDeletesTheUserFromItsUserStoresAndAnswersWithAReceipt() throws {
        let driver = try driver(topology())
        for user in ["ann", "bob", "ann"] { driver.send("events", key: user, value: Array("{}".utf8)) }
        try driver.punctuate()
        driver.send(OrbitTopics.privacyRequests, key: "ann", value: PrivacyRequest(requestID: "r1", userID: "ann", requestedAtMillis: 7).encoded())
        driver.send(OrbitTopics.privacyRequests, key: "bob", value: Array("{}".utf8))  // not a request
        try driver.run()
        XCTAssertNil(driver.latest("users-changelog")["ann"], "tombstoned")
        XCTAssertNotNil(driver.latest("users-changelog")["bob"], "a request that does not read erases nothing")
        XCTAssertEqual(driver.latest("ticks-changelog").count, 1, "a store not keyed by user keeps its keys")
        XCTAssertTrue(driver.records("out").contains { $0.key == Array("ann".utf8) && $0.value == nil }, "the processor's part")
        let receipts = driver.records(OrbitTopics.privacyReceipts).compactMap { $0.value.flatMap(PrivacyReceipt.decode) }
        XCTAssertEqual(receipts.map(\.requestID), ["r1"])
        XCTAssertEqual(receipts.first?.erased, ["2 events counted"])
        XCTAssertEqual(receipts.first?.tombstones, ["out": 1, "users-changelog": 1])
        XCTAssertEqual(receipts.first?.service, "counting")
        XCTAssertEqual(driver.records("dlq").count, 1, "the bad request")
    }

    /// A crash after a batch's outputs and state changes, before its commit: at least once, the
    /// replay writes the outputs again beside the first copies and, this processor having no
    /// replay guard, counts the record twice; exactly once, the first attempt was never committed.
    func testACrashedBatchRepeatsItsOutputsUnlessTheyWereTransactional() throws {
        for (guarantee, copies, count) in [("at_least_once", 2, "2"), ("exactly_once", 1, "1")] {
            let runtime = try RuntimeSettings.testing(service: "counting", "processing:\n  guarantee: \(guarantee)\n")
            let driver = try TopologyTestDriver(topology(), runtime: runtime, partitions: 1, nowMillis: 1_000)
            driver.send("events", key: "ann", value: Array("{}".utf8))
            driver.crash(.afterStateChanges)
            try driver.run()
            XCTAssertEqual(driver.records("out").count, copies, guarantee)
            XCTAssertEqual(driver.latest("users-changelog")["ann"].map { String(decoding: $0, as: UTF8.self) }, count, guarantee)
        }
    }

    func testAStoreOrAnOutputTheStageDoesNotDeclareFails() throws {
        XCTAssertThrowsError(try driver(topology(extraStore: true))) { error in
            XCTAssertTrue("\(error)".contains("undeclared-changelog"), "\(error)")
        }
        let driver = try driver(topology(extraOutput: "elsewhere"))
        driver.send("events", key: "ann", value: Array("{}".utf8))
        XCTAssertThrowsError(try driver.run()) { error in
            XCTAssertEqual("\(error)", "stage main wrote to elsewhere, which it does not declare as an output")
        }
    }
}
