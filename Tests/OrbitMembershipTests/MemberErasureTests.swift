import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitTestKit
import XCTest

/// Erasure and bounded order memory in the membership processor (no broker).
final class MemberErasureTests: XCTestCase {
    var offset: Int64 = 0
    let settings = MembershipSettings.spendAndSignup

    func record(_ kind: MemberInput, key: String, _ value: [UInt8]) -> ConsumerRecord {
        offset += 1
        return ConsumerRecord(topic: settings.inputsTopic, partition: 0, offset: offset, key: Array(key.utf8), value: value,
                              headers: [KafkaHeader(InputRouter<MemberInput>.kindHeader, kind.rawValue)], timestampMillis: 1_780_000_000_000 + offset)
    }

    func purchase(_ user: String, _ id: String, minor: Int64, at time: Int64 = 1_780_000_000_000) -> ConsumerRecord {
        record(.event, key: user, UserEvent(id: id, userID: user, type: .purchase, timeMillis: time, properties: JSONObject([
            (key: "order_id", value: .string("o-\(id)")), (key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD")),
        ])).encoded())
    }

    /// The member stage's processor with erasure as its topology declares it.
    func driver(privacy: PrivacySettings = PrivacySettings()) -> ProcessorTestDriver {
        let erasing = StageProcessor.Erasing(topic: settings.inputsTopic, userStores: [settings.stateChangelogTopic], privacy: privacy,
                                             service: "orbit-members", deadLetters: DeadLetters(topic: settings.deadLettersTopic, service: "orbit-members"))
        return ProcessorTestDriver(nowMillis: 1_780_000_000_000, erasing: erasing) { MembershipProcessor(settings: settings, stores: $0) }
    }

    func testErasingAMemberClosesTheBalanceTombstonesTheAccountAndAnswersWithAReceipt() throws {
        let privacy = PrivacySettings()
        let driver = driver(privacy: privacy)
        let processor = driver.processor(as: MembershipProcessor.self)
        var ledger: [(key: [UInt8]?, value: [UInt8]?)] = []
        var accounts: [(key: [UInt8]?, value: [UInt8]?)] = []
        func collect(_ outputs: [ProducerRecord]) {
            ledger += outputs.filter { $0.topic == settings.ledgerTopic }.map { ($0.key, $0.value) }
            accounts += outputs.filter { $0.topic == settings.accountsTopic }.map { ($0.key, $0.value) }
        }
        collect(try driver.pipe(record(.event, key: "ann", UserEvent(id: "s1", userID: "ann", type: .signup, timeMillis: 1_780_000_000_000, properties: JSONObject()).encoded())))
        collect(try driver.pipe(purchase("ann", "p1", minor: 4_200)))
        collect(try driver.pipe(purchase("bob", "p2", minor: 1_000)))
        collect(try driver.endBatch().outputs)

        let request = PrivacyRequest(requestID: "gdpr-1", userID: "ann", requestedAtMillis: 1_780_000_100_000)
        let erase = record(.privacyRequest, key: "ann", request.encoded())
        let outputs = try driver.pipe(erase)
        collect(outputs)
        let (_, changes) = try driver.endBatch()

        let forfeit = try XCTUnwrap(outputs.first { $0.topic == settings.ledgerTopic }.flatMap { try JSONParser.parse($0.value!).objectValue })
        XCTAssertEqual(forfeit["kind"]?.stringValue, "forfeit")
        XCTAssertEqual(forfeit["points"]?.numberValue?.int64Value, -142)
        XCTAssertEqual(forfeit["balance_after"]?.numberValue?.int64Value, 0)
        XCTAssertTrue(outputs.contains { $0.topic == settings.accountsTopic && $0.key == Array("ann".utf8) && $0.value == nil }, "the account is tombstoned")
        XCTAssertTrue(changes.contains { $0.key == Array("ann".utf8) && $0.value == nil }, "the state is tombstoned on its changelog")
        XCTAssertNil(try processor.store.get(0, "ann"))
        XCTAssertNotNil(try processor.store.get(0, "bob"), "other members are untouched")

        let receipt = try XCTUnwrap(outputs.first { $0.topic == privacy.receiptsTopic }.flatMap { $0.value.flatMap(PrivacyReceipt.decode) })
        XCTAssertEqual(receipt.requestID, "gdpr-1")
        XCTAssertEqual(receipt.subject, privacy.pseudonymizer.pseudonym("ann"))
        XCTAssertEqual(receipt.tombstones[settings.accountsTopic], 1)
        XCTAssertTrue(receipt.notes.contains { $0.contains("earned 142") && $0.contains("forfeited 142") }, "\(receipt.notes)")

        // The ledger verifies: the erased member's entries sum to 0 and it has no account.
        let report = LedgerVerifier.verify(ledger: ledger, accounts: accounts, allowNegative: false)
        XCTAssertEqual(report.violations, [])

        // A replay of the request after the state's tombstone was written (a crash before the
        // commit) closes nothing twice; its receipt answers the same request for the same subject.
        let again = try driver.pipe(ConsumerRecord(topic: erase.topic, partition: 0, offset: erase.offset, key: erase.key, value: erase.value,
                                                   headers: erase.headers, timestampMillis: erase.timestampMillis))
        XCTAssertFalse(again.contains { $0.topic == settings.ledgerTopic })
        let repeated = try XCTUnwrap(again.first { $0.topic == privacy.receiptsTopic }.flatMap { $0.value.flatMap(PrivacyReceipt.decode) })
        XCTAssertEqual([repeated.requestID, repeated.subject], [receipt.requestID, receipt.subject])
    }

    func testABadPrivacyRequestIsADeadLetterAndErasesNothing() throws {
        let driver = driver()
        let processor = driver.processor(as: MembershipProcessor.self)
        try driver.pipe(purchase("ann", "p1", minor: 4_200))
        try driver.endBatch()
        // The request names another user than its key.
        let wrong = PrivacyRequest(requestID: "gdpr-2", userID: "bob", requestedAtMillis: 1).encoded()
        let outputs = try driver.pipe(record(.privacyRequest, key: "ann", wrong))
        XCTAssertEqual(outputs.map(\.topic), [settings.deadLettersTopic])
        XCTAssertTrue(String(decoding: outputs[0].value!, as: UTF8.self).contains("does not match the record key"))
        XCTAssertNotNil(try processor.store.get(0, "ann"))
    }

    func testAHeavyBuyersOrdersAreBounded() throws {
        let driver = ProcessorTestDriver(nowMillis: 1_780_000_000_000) { MembershipProcessor(settings: settings, stores: $0) }
        let processor = driver.processor(as: MembershipProcessor.self)
        for i in 0..<(MemberState.orderLimit + 300) { try driver.pipe(purchase("whale", "w\(i)", minor: 100, at: 1_780_000_000_000 + Int64(i))) }
        try driver.endBatch()
        let state = try XCTUnwrap(processor.store.get(0, "whale"))
        XCTAssertEqual(state.orders.count, MemberState.orderLimit)
        XCTAssertNil(state.orders["o-w0"], "the oldest orders are forgotten first")
        XCTAssertNotNil(state.orders["o-w\(MemberState.orderLimit + 299)"])
        XCTAssertLessThanOrEqual(state.points.earnedOnOrder.count, MemberState.orderLimit)
        // The state survives its changelog format with the bound.
        XCTAssertEqual(try MemberState(stateBytes: state.stateBytes()).orders.count, MemberState.orderLimit)
    }
}
