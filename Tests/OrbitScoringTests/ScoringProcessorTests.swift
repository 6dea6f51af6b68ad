import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring
import Synchronization
import XCTest

/// The scoring processor driven directly (no broker): records in, outputs out, a fake clock.
final class ScoringProcessorTests: XCTestCase {
    final class FakeClock: Sendable {
        let millis = Mutex<Int64>(0)
        func set(_ text: String) { millis.withLock { $0 = try! RFC3339.parse(text) } }
        func advance(days: Int64) { millis.withLock { $0 += days * 86_400_000 } }
        var now: Int64 { millis.withLock { $0 } }
    }

    struct NoTable: Error {}

    func makeProcessor(_ clock: FakeClock) -> ScoringProcessor {
        var settings = ScoringSettings()
        settings.policy.rfmMode = .thresholds
        return ScoringProcessor(settings: settings, kafka: KafkaConfiguration(), logger: Logger(label: "test"),
                                now: { clock.now }, sketchTable: { throw NoTable() })
    }

    var offset: Int64 = 0
    func record(_ event: UserEvent) -> ConsumerRecord {
        offset += 1
        return ConsumerRecord(topic: OrbitTopics.validEvents, partition: 0, offset: offset, key: Array(event.userID.utf8),
                              value: event.encoded(), headers: [], timestampMillis: event.timeMillis)
    }

    func purchase(_ id: String, _ time: String, minor: Int64) -> UserEvent {
        UserEvent(id: id, userID: "ann", type: .purchase, timeMillis: try! RFC3339.parse(time),
                  properties: JSONObject([(key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD"))]))
    }

    func changes(_ outputs: [ProducerRecord], dimension: String) -> [String] {
        outputs.filter { $0.topic == OrbitTopics.segmentChanges }.compactMap {
            guard let o = try? JSONParser.parse($0.value!).objectValue, o["dimension"]?.stringValue == dimension else { return nil }
            return o["to"]?.stringValue
        }
    }

    func testTimePassingMovesAUserThroughTheLifecycle() {
        let clock = FakeClock()
        clock.set("2026-03-01T12:00:00Z")
        let processor = makeProcessor(clock)
        var outputs: [ProducerRecord] = []
        processor.process(record(UserEvent(id: "s", userID: "ann", type: .signup, timeMillis: try! RFC3339.parse("2026-03-01T09:00:00Z"), properties: JSONObject())), outputs: &outputs)
        processor.flush(outputs: &outputs)
        XCTAssertEqual(changes(outputs, dimension: "lifecycle"), ["new"])
        XCTAssertEqual(outputs.filter { $0.topic == OrbitTopics.userProfiles }.count, 1)
        XCTAssertEqual(processor.takeStateChanges().count, 1, "one changelog record per user per batch")

        outputs = []
        processor.process(record(purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000)), outputs: &outputs)
        processor.process(record(purchase("p2", "2026-03-03T10:00:00Z", minor: 7_000)), outputs: &outputs)
        clock.advance(days: 2)
        processor.flush(outputs: &outputs)
        XCTAssertEqual(changes(outputs, dimension: "lifecycle"), ["active"])
        XCTAssertEqual(outputs.filter { $0.topic == OrbitTopics.userProfiles }.count, 1, "profiles are coalesced per batch")

        outputs = []
        clock.advance(days: 61)
        processor.punctuate(nowMillis: clock.now, outputs: &outputs)
        XCTAssertEqual(changes(outputs, dimension: "lifecycle"), ["at_risk"])

        outputs = []
        processor.punctuate(nowMillis: clock.now, outputs: &outputs)
        XCTAssertTrue(outputs.filter { $0.topic != OrbitTopics.scorerSketches }.isEmpty, "same day, same thresholds: nothing to publish")

        outputs = []
        clock.advance(days: 130)
        processor.punctuate(nowMillis: clock.now, outputs: &outputs)
        XCTAssertEqual(changes(outputs, dimension: "lifecycle"), ["churned"])

        outputs = []
        processor.process(record(purchase("p3", "2026-09-12T10:00:00Z", minor: 1_000)), outputs: &outputs)
        processor.flush(outputs: &outputs)
        XCTAssertEqual(changes(outputs, dimension: "lifecycle"), ["reactivated"])
        let profile = try? JSONParser.parse(outputs.last { $0.topic == OrbitTopics.userProfiles }!.value!).objectValue
        XCTAssertEqual(profile?["lifecycle"]?.objectValue?["reason"]?.stringValue, "active again after being churned")
        XCTAssertEqual(profile?["rfm"]?.objectValue?["frequency"]?.numberValue?.int64Value, 3)
    }

    func testAReplayedRecordChangesNothing() {
        let clock = FakeClock()
        clock.set("2026-03-10T00:00:00Z")
        let processor = makeProcessor(clock)
        var outputs: [ProducerRecord] = []
        let first = record(purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000))
        processor.process(first, outputs: &outputs)
        processor.flush(outputs: &outputs)
        _ = processor.takeStateChanges()
        outputs = []
        processor.process(first, outputs: &outputs)  // the same record again (a replay)
        processor.flush(outputs: &outputs)
        XCTAssertTrue(outputs.isEmpty)
        XCTAssertTrue(processor.takeStateChanges().isEmpty)
    }

    func testUndecodableRecordsAreSkippedNotFatal() {
        let processor = makeProcessor(FakeClock())
        var outputs: [ProducerRecord] = []
        processor.process(ConsumerRecord(topic: OrbitTopics.validEvents, partition: 0, offset: 1, key: Array("x".utf8), value: Array("garbage".utf8), headers: [], timestampMillis: nil), outputs: &outputs)
        processor.process(ConsumerRecord(topic: OrbitTopics.validEvents, partition: 0, offset: 2, key: nil, value: nil, headers: [], timestampMillis: nil), outputs: &outputs)
        processor.flush(outputs: &outputs)
        XCTAssertTrue(outputs.isEmpty)
    }
}
