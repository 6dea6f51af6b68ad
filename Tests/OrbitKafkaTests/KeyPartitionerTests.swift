import Foundation
import Logging
import OrbitKafka
import OrbitTestSupport
import XCTest

/// Keys land where the Java client puts them, and Orbit's producers agree with ``KeyPartitioner``.
final class KeyPartitionerTests: XCTestCase {
    /// Kafka's own `UtilsTest.testMurmur2` vectors.
    func testMurmur2MatchesTheJavaClient() {
        let vectors: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ]
        for (text, expected) in vectors {
            XCTAssertEqual(Int32(bitPattern: KeyPartitioner.murmur2(Array(text.utf8))), expected, text)
        }
    }

    /// Failed before: the producer defaults set no partitioner, so librdkafka's CRC32 placed keys
    /// elsewhere than the Java client (and than Orbit's routers) would.
    func testOrbitProducersPlaceKeysByMurmur2() async throws {
        let broker = try LocalBroker(topics: [TopicSpec(name: "placed", partitions: 12)])
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: Logger(label: "test"))
        defer { producer.close() }
        for index in 0..<200 {
            let key = "user-\(index)"
            let written = try await producer.send(ProducerRecord(topic: "placed", key: key, value: Array("x".utf8)))
            XCTAssertEqual(written.topicPartition.partition, KeyPartitioner.partition(of: key, partitionCount: 12), key)
        }
    }

    /// Failed before: `close()` destroyed the client with sends still waiting, which never resumed.
    func testClosingAProducerResumesEveryPendingSend() async throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": "600000"]), logger: Logger(label: "test"))
        let pending = Task { try await producer.send(ProducerRecord(topic: "nowhere", key: "k", value: Array("v".utf8))) }
        try await Task.sleep(for: .milliseconds(200))
        producer.close(timeout: .milliseconds(300))
        let outcome = await Task { () -> Bool in
            do { _ = try await pending.value; return false } catch { return true }
        }.value
        XCTAssertTrue(outcome, "the pending send ended with an error")
    }

    /// Failed before: the flush timeout dropped its sub-second part (300 ms became 0).
    func testFlushWaitsForItsWholeTimeout() throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": "600000"]), logger: Logger(label: "test"))
        defer { producer.close(timeout: .milliseconds(100)) }
        try producer.send(ProducerRecord(topic: "nowhere", key: "k", value: Array("v".utf8)), in: DeliveryBatch())
        let started = ContinuousClock.now
        XCTAssertThrowsError(try producer.flush(timeout: .milliseconds(300)))
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(250))
    }

    func testPartitionSetsAreWrittenAsRanges() {
        let partitions = (0..<64).map { TopicPartition("orbit.user-events.valid", Int32($0)) }
        XCTAssertEqual(PartitionRanges.describe(partitions), "orbit.user-events.valid/0-63")
        XCTAssertEqual(PartitionRanges.ranges([11, 0, 1, 2, 3, 8, 10]), "0-3,8,10-11")
    }
}
