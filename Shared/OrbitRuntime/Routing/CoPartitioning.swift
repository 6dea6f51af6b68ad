import Logging
import OrbitKafka

/// Topics whose partition N belongs to the same keys (a stage's inputs, its repartition topics,
/// its state changelog) must have the same partition count. With every producer placing keys by
/// ``KeyPartitioner`` and every router re-placing them, equal counts are what co-partitioning needs.
public enum CoPartitioning {
    /// Checks that every topic exists with the same partition count; returns that count.
    @discardableResult
    public static func check(_ topics: [String], kafka: KafkaConfiguration, logger: Logger) throws -> Int {
        precondition(!topics.isEmpty)
        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        let counts = try topics.map { try admin.partitionCount(of: $0) }
        let expected = counts[0]
        for (topic, count) in zip(topics, counts) where count != expected {
            throw KafkaError.configuration("\(topic) has \(count) partitions but \(topics[0]) has \(expected); co-partitioned topics must have equal counts")
        }
        return expected
    }
}
