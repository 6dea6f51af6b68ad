@testable import OrbitIngest
import OrbitKafka
import XCTest

/// The lineage header `topic/partition/offset` is written digit by digit, without `String`s:
/// it must read exactly as the `String` form did, for every value an offset can take.
final class SourceCoordinatesTests: XCTestCase {
    func testDecimalDigitsReadAsStringDoes() {
        for value: Int64 in [0, 1, 9, 10, 11, 99, 100, 101, 999_999, 1_000_000, 4_294_967_296, -1, -10, -1001, .max, .min, .max - 1, .min + 1] {
            var bytes: [UInt8] = []
            IngestProcessor.appendDecimal(value, to: &bytes)
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), String(value), "value \(value)")
        }
    }

    func testCoordinatesNameTopicPartitionAndOffset() {
        let record = ConsumerRecord(topic: "orbit.user-events", partition: 11, offset: 1_234_567, key: nil, value: nil, headers: [], timestampMillis: nil)
        XCTAssertEqual(String(decoding: IngestProcessor.sourceCoordinates(record), as: UTF8.self), "orbit.user-events/11/1234567")
        let first = ConsumerRecord(topic: "t", partition: 0, offset: 0, key: nil, value: nil, headers: [], timestampMillis: nil)
        XCTAssertEqual(String(decoding: IngestProcessor.sourceCoordinates(first), as: UTF8.self), "t/0/0")
    }
}
