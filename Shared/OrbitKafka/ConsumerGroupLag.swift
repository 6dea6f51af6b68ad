import Foundation
import Logging
import OrbitKafka

/// How far a consumer group is behind on some topics: the sum over partitions of the high
/// watermark minus the committed offset. Zero means everything produced so far is processed.
/// (Reads the group's committed offsets without joining the group.)
public func consumerLag(kafka: KafkaConfiguration, group: String, topics: [String]) throws -> Int64 {
    let consumer = try KafkaConsumer(configuration: kafka.merging(["group.id": group]), name: "lag-probe", logger: Logger(label: "orbit.lag"))
    defer { consumer.close() }
    var lag: Int64 = 0
    for topic in topics {
        let partitions = (0..<(try consumer.partitionCount(of: topic))).map { TopicPartition(topic, Int32($0)) }
        let committed = try consumer.committed(partitions)
        let watermarks = try consumer.watermarks(committed.map(\.topicPartition))
        for entry in committed {
            lag += watermarks[entry.topicPartition]!.high - max(0, entry.offset)
        }
    }
    return lag
}

public func consumerLag(bootstrap: String, group: String, topics: [String]) throws -> Int64 {
    try consumerLag(kafka: KafkaConfiguration(["bootstrap.servers": bootstrap]), group: group, topics: topics)
}
