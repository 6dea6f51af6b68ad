import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import Synchronization
import OrbitTestKit
import XCTest

/// The membership processor driven directly (no broker): commands, repeats, statuses, the state format.
final class MembershipProcessorTests: XCTestCase {
    var offset: Int64 = 0
    let context = ProcessingContext(nowMillis: 1_780_000_000_000)
    let settings = MembershipSettings.spendAndSignup

    func record(_ kind: String, key: String, _ value: [UInt8]) -> ConsumerRecord {
        offset += 1
        return ConsumerRecord(topic: settings.inputsTopic, partition: 0, offset: offset, key: Array(key.utf8), value: value,
                              headers: [KafkaHeader(InputRouter<MemberInput>.kindHeader, kind)], timestampMillis: 1_780_000_000_000 + offset)
    }

    func event(_ type: EventType, user: String, id: String, minor: Int64? = nil) -> ConsumerRecord {
        var properties: [(key: String, value: JSONValue)] = []
        if let minor { properties = [(key: "order_id", value: .string("o-\(id)")), (key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD"))] }
        return record("event", key: user, UserEvent(id: id, userID: user, type: type, timeMillis: 1_780_000_000_000, properties: JSONObject(properties)).encoded())
    }

    func results(_ outputs: [ProducerRecord]) -> [String] {
        outputs.filter { $0.topic == settings.memberEventsTopic }.compactMap {
            guard let o = try? JSONParser.parse($0.value!).objectValue, o["kind"]?.stringValue == "command_result" else { return nil }
            return "\(o["request_id"]!.stringValue!):\(o["status"]!.stringValue!)\(o["reason"]?.stringValue.map { ":" + $0 } ?? "")"
        }
    }

    func testCommandsRepeatsAndStatuses() throws {
        let processor = MembershipProcessor(settings: settings)
        var out: [ProducerRecord] = []
        try processor.process(record("command", key: "ann", Array(#"{"type":"redeem","request_id":"early","user_id":"ann","points":10,"reward_id":"x"}"#.utf8)), context: context, outputs: &out)
        try processor.process(event(.signup, user: "ann", id: "s"), context: context, outputs: &out)
        try processor.process(event(.purchase, user: "ann", id: "p", minor: 5_000), context: context, outputs: &out)
        let redeem = Array(#"{"type":"redeem","request_id":"r1","user_id":"ann","points":120,"reward_id":"mug"}"#.utf8)
        try processor.process(record("command", key: "ann", redeem), context: context, outputs: &out)
        try processor.process(record("command", key: "ann", Array(#"{"type":"redeem","request_id":"r2","user_id":"ann","points":100,"reward_id":"mug"}"#.utf8)), context: context, outputs: &out)
        try processor.process(record("command", key: "ann", redeem), context: context, outputs: &out)  // the same request again
        try processor.process(record("command", key: "ann", Array(#"{"type":"set_status","request_id":"b","user_id":"ann","status":"blocked"}"#.utf8)), context: context, outputs: &out)
        try processor.process(record("command", key: "ann", Array(#"{"type":"redeem","request_id":"r3","user_id":"ann","points":1,"reward_id":"mug"}"#.utf8)), context: context, outputs: &out)
        try processor.process(record("command", key: "ann", Array(#"{"type":"redeem","points":1}"#.utf8)), context: context, outputs: &out)
        XCTAssertEqual(results(out), ["early:rejected:unknown_user", "r1:accepted", "r2:rejected:insufficient_points", "r1:accepted", "b:accepted",
                                      "r3:rejected:blocked", "offset-\(settings.inputsTopic)-0-9:rejected:invalid: request_id is required (1-128 characters)"])
        let repeats = out.filter { $0.topic == settings.memberEventsTopic && String(decoding: $0.value!, as: UTF8.self).contains("\"r1\"") }
        XCTAssertEqual(repeats.count, 2)
        XCTAssertEqual(repeats[0].value, repeats[1].value, "a repeated request gets the original result, byte for byte")
        let ledger = out.filter { $0.topic == settings.ledgerTopic }.compactMap { try? JSONParser.parse($0.value!).objectValue }
        XCTAssertEqual(ledger.map { $0["points"]!.numberValue!.int64Value! }, [100, 50, -120])
        XCTAssertEqual(ledger.last?["balance_after"]?.numberValue?.int64Value, 30)
        try processor.process(record("command", key: "ann", Array(#"{"type":"set_status","request_id":"a","user_id":"ann","status":"active"}"#.utf8)), context: context, outputs: &out)
        try processor.process(record("command", key: "ann", Array(#"{"type":"join","request_id":"j","user_id":"ann","plan":"plus","months":12}"#.utf8)), context: context, outputs: &out)
        try processor.process(record("command", key: "ann", Array(#"{"type":"cancel","request_id":"c","user_id":"ann"}"#.utf8)), context: context, outputs: &out)
        try processor.process(record("command", key: "ben", Array(#"{"type":"renew","request_id":"n","user_id":"ben","months":1}"#.utf8)), context: context, outputs: &out)
        XCTAssertEqual(results(out).suffix(4), ["a:accepted", "j:accepted", "c:accepted", "n:rejected:not_a_paid_member"])
        out = []
        try processor.flush(context: context, outputs: &out)
        let account = try? JSONParser.parse(out.first { $0.topic == settings.accountsTopic && $0.key == Array("ann".utf8) }!.value!).objectValue
        XCTAssertEqual(account?["balance"]?.numberValue?.int64Value, 30)
        XCTAssertEqual(account?["paid_membership"]?.objectValue?["cancelled"], .bool(true), "cancelled, still a member until it expires")
        XCTAssertEqual(processor.store.takeChanges().count, 2, "one state record per member per batch")
    }

    /// Accounts are handed to the runtime in parts as they are made: the parts, called as the
    /// runtime calls them (through `any RecordProcessor`), are exactly one flush's accounts in order.
    func testAccountsHandedOverInPartsAreExactlyTheAccountsOfOneFlush() throws {
        let parted: any RecordProcessor = MembershipProcessor(settings: settings)
        let whole = MembershipProcessor(settings: settings)
        var unused: [ProducerRecord] = []
        for n in 0..<600 {
            let purchase = event(.purchase, user: "member-\(n)", id: "p\(n)", minor: Int64(1_000 + n))
            try parted.process(purchase, context: context, outputs: &unused)
            try whole.process(purchase, context: context, outputs: &unused)
        }
        var handedOver: [ProducerRecord] = []
        var rest: [ProducerRecord] = []
        try parted.flush(context: context, outputs: &rest) { part in
            XCTAssertEqual(part.count, MembershipProcessor.outputPart, "one account per member: parts of exactly a part's worth")
            handedOver += part
            part.removeAll()
        }
        var all: [ProducerRecord] = []
        try whole.flush(context: context, outputs: &all)
        XCTAssertEqual(all.count, 600)
        XCTAssertEqual(handedOver.count, 512)
        XCTAssertEqual((handedOver + rest).map { "\(String(decoding: $0.key!, as: UTF8.self)) \(String(decoding: $0.value!, as: UTF8.self))" },
                       all.map { "\(String(decoding: $0.key!, as: UTF8.self)) \(String(decoding: $0.value!, as: UTF8.self))" })
    }

    func testAReplayedInputChangesNothing() throws {
        let processor = MembershipProcessor(settings: settings)
        var out: [ProducerRecord] = []
        let purchase = event(.purchase, user: "bo", id: "p", minor: 1_000)
        try processor.process(purchase, context: context, outputs: &out)
        try processor.flush(context: context, outputs: &out)
        _ = processor.store.takeChanges()
        out = []
        try processor.process(purchase, context: context, outputs: &out)
        XCTAssertTrue(out.isEmpty)
    }

    func testExpiryGoesThroughTheInputStreamSoAReplayRepeatsIt() throws {
        var expiring = settings
        expiring.policy.lotExpiry = .afterDays(1)
        let clock = Mutex<Int64>(1_780_000_000_000)
        let processor = MembershipProcessor(settings: expiring)
        var out: [ProducerRecord] = []
        try processor.process(event(.purchase, user: "cy", id: "p", minor: 2_500), context: context, outputs: &out)
        try processor.flush(context: context, outputs: &out)
        out = []
        clock.withLock { $0 += 3 * 86_400_000 }
        try processor.punctuate(context: ProcessingContext(nowMillis: clock.withLock { $0 }), outputs: &out)
        XCTAssertTrue(out.filter { $0.topic == settings.ledgerTopic }.isEmpty, "punctuation expires nothing itself")
        let ticks = out.filter { $0.topic == settings.internalTopic }
        XCTAssertEqual(ticks.count, 1)
        out = []
        let tick = record("internal", key: "cy", ticks[0].value!)
        try processor.process(tick, context: context, outputs: &out)
        let expired = out.filter { $0.topic == settings.ledgerTopic }.compactMap { try? JSONParser.parse($0.value!).objectValue }
        XCTAssertEqual(expired.map { $0["kind"]!.stringValue! }, ["expire"])
        XCTAssertEqual(expired.first?["points"]?.numberValue?.int64Value, -25)
        XCTAssertEqual(expired.first?["balance_after"]?.numberValue?.int64Value, 0)
        out = []
        try processor.process(record("internal", key: "cy", ticks[0].value!), context: context, outputs: &out)  // the same tick again
        XCTAssertTrue(out.filter { $0.topic == settings.ledgerTopic }.isEmpty)
    }

    /// Failed before: account records carried the flush's wall-clock time, so a replay on
    /// another day wrote other bytes for the same inputs.
    func testAccountRecordsDoNotDependOnWhenTheBatchEnds() throws {
        var accounts: [[UInt8]] = []
        for now in [1_780_000_000_000 as Int64, 1_790_000_000_000] {
            let driver = ProcessorTestDriver(nowMillis: now) { MembershipProcessor(settings: settings, stores: $0) }
            offset = 0
            try driver.pipe(event(.signup, user: "ann", id: "s"))
            try driver.pipe(event(.purchase, user: "ann", id: "p", minor: 5_000))
            accounts += try driver.endBatch().outputs.filter { $0.topic == settings.accountsTopic }.map { $0.value! }
        }
        XCTAssertEqual(accounts.count, 2)
        XCTAssertEqual(accounts[0], accounts[1])
    }

    /// Failed before: records the ledger could not read were skipped without a trace.
    func testUnreadableInputsBecomeDeadLetters() throws {
        let driver = ProcessorTestDriver(nowMillis: 1_780_000_000_000) { MembershipProcessor(settings: settings, stores: $0) }
        var out = try driver.pipe(ConsumerRecord(topic: settings.inputsTopic, partition: 0, offset: 1, key: Array("ann".utf8), value: Array("x".utf8), headers: [], timestampMillis: nil))
        out += try driver.pipe(record("event", key: "ann", Array("not json".utf8)))
        out += try driver.pipe(record("internal", key: "ann", Array("{}".utf8)))
        XCTAssertEqual(out.map(\.topic), Array(repeating: settings.deadLettersTopic, count: 3))
        let codes = out.compactMap { try? JSONParser.parse($0.value!).objectValue?["error"]?.objectValue?["code"]?.stringValue }
        XCTAssertEqual(codes, Array(repeating: "undecodable_record", count: 3))
    }

    /// Failed before: a purchase in a currency without a rate (CNY in the shipped membership.yaml)
    /// earned zero spending points and nothing said so.
    func testAPurchaseInACurrencyWithoutARateIsExplained() throws {
        let driver = ProcessorTestDriver(nowMillis: 1_780_000_000_000) { MembershipProcessor(settings: settings, stores: $0) }
        let purchase = UserEvent(id: "p-cny", userID: "li", type: .purchase, timeMillis: 1_780_000_000_000,
                                 properties: JSONObject([(key: "order_id", value: .string("o-1")), (key: "amount_minor", value: .number(JSONNumber(9_900))), (key: "currency", value: .string("CNY"))]))
        let out = try driver.pipe(record("event", key: "li", purchase.encoded()))
        let notices = out.filter { $0.topic == settings.memberEventsTopic }.compactMap { try? JSONParser.parse($0.value!).objectValue }
        XCTAssertEqual(notices.first?["kind"]?.stringValue, "points_not_earned")
        XCTAssertEqual(notices.first?["currency"]?.stringValue, "CNY")
        // The shipped configuration has a rate for CNY: its purchases earn.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try MembershipSettings(document: ConfigDocument.load(path: root.appendingPathComponent("deploy/config/membership.yaml").path, environment: [:]))
        XCTAssertTrue(shipped.policy.engine.canConvert("CNY"))
    }

    func testTheStateFormatRoundTrips() throws {
        var state = MemberState(userID: "u", policy: settings.policy)
        _ = state.points.earn(100, key: "a", ruleID: "r", reason: "x", at: 1_000, orderID: "o1", expiry: .afterDays(30), lockDays: 2)
        _ = state.points.earn(50, key: "b", ruleID: nil, reason: "x", at: 90_000_000_000, orderID: nil, expiry: .never, lockDays: 0)
        state.level.addGrowth(150, at: 1_000)
        state.segments = ["tier:S", "segment:important_value"]
        state.paid = .init(plan: "plus", startedAtMillis: 5, expiresAtMillis: 10, cancelled: true)
        state.orders["o1"] = .init(amountMinor: 10_000, refundedMinor: 0, atMillis: 1_000)
        state.remember("req", result: Array("{\"ok\":true}".utf8))
        _ = state.alreadyApplied(offset: 7, key: "k")
        state.referredBy = "amy"
        var caps = CapUsage()
        _ = EarningEngine(rules: [EarningRule(id: "c", kind: .event(.event(.login), points: 5), caps: .init(perDay: 5))])
            .awards(for: UserEvent(id: "l", userID: "u", type: .login, timeMillis: 0, properties: JSONObject()), context: MemberContext(level: "member"), caps: &caps)
        state.caps = caps
        XCTAssertEqual(try MemberState.decode(state.encoded()), state)
        XCTAssertThrowsError(try MemberState.decode([2]))
    }
}
