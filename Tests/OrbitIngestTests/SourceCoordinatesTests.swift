@testable import OrbitIngest
import OrbitKafka
import XCTest

/// The lineage header `topic/partition/offset` is written digit by digit, without `String`s
/// (``DecimalDigits``, tested in OrbitContractTests): it must read exactly as the `String` form did.
final class SourceCoordinatesTests: XCTestCase {
    func testCoordinatesNameTopicPartitionAndOffset() {
        let record = ConsumerRecord(topic: "orbit.user-events", partition: 11, offset: 1_234_567, key: nil, value: nil, headers: [], timestampMillis: nil)
        XCTAssertEqual(String(decoding: IngestProcessor.sourceCoordinates(record), as: UTF8.self), "orbit.user-events/11/1234567")
        let first = ConsumerRecord(topic: "t", partition: 0, offset: 0, key: nil, value: nil, headers: [], timestampMillis: nil)
        XCTAssertEqual(String(decoding: IngestProcessor.sourceCoordinates(first), as: UTF8.self), "t/0/0")
    }
}
