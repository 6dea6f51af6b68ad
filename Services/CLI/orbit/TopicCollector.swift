import Foundation
import Logging
import OrbitKafka

/// Reads whole topics from the beginning, outside any group, until a condition holds or time runs
/// out. Used by `demo` and `bench` to see what the services produced.
final class TopicCollector {
    private let consumer: KafkaConsumer
    private(set) var records: [String: [ConsumerRecord]] = [:]

    init(kafka: KafkaConfiguration, topics: [String]) throws {
        consumer = try KafkaConsumer(configuration: kafka, name: "orbit-collector", logger: Logger(label: "orbit.collector"))
        var starts: [TopicPartitionOffset] = []
        for topic in topics {
            records[topic] = []
            for partition in 0..<(try consumer.partitionCount(of: topic)) {
                starts.append(TopicPartitionOffset(TopicPartition(topic, Int32(partition)), offset: TopicPartitionOffset.beginning))
            }
        }
        try consumer.assign(starts)
    }

    /// Polls until `done` returns true (checked after each record and each idle poll) or `timeout`.
    @discardableResult
    func collect(timeout: TimeInterval, until done: ([String: [ConsumerRecord]]) -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if done(records) { return true }
            while let record = try consumer.poll(timeout: .milliseconds(100)) {
                records[record.topic, default: []].append(record)
                if records[record.topic]!.count % 1000 == 0, done(records) { return true }
            }
        }
        return done(records)
    }

    func count(_ topic: String) -> Int { records[topic]?.count ?? 0 }

    deinit { consumer.close() }
}
