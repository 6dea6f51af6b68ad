import Foundation
import Logging

/// How far a consumer group is behind on some topics: the sum over partitions of the high
/// watermark minus the committed offset. Zero means everything produced so far is processed.
/// (Reads the group's committed offsets without joining the group.)
public func consumerLag(kafka: KafkaConfiguration, group: String, topics: [String]) throws -> Int64 {
    try consumerPositions(kafka: kafka, group: group, topics: topics).values.reduce(0) { $0 + $1.high - $1.committed }
}

/// Per partition of `topics`: the group's committed offset (0 when it has none) and the high
/// watermark, read without joining the group.
public func consumerPositions(kafka: KafkaConfiguration, group: String, topics: [String]) throws -> [TopicPartition: (committed: Int64, high: Int64)] {
    let consumer = try KafkaConsumer(configuration: kafka.merging(["group.id": group]), name: "lag-probe", logger: Logger(label: "orbit.lag"))
    defer { consumer.close() }
    var positions: [TopicPartition: (committed: Int64, high: Int64)] = [:]
    for topic in topics {
        let partitions = (0..<(try consumer.partitionCount(of: topic))).map { TopicPartition(topic, Int32($0)) }
        let committed = try consumer.committed(partitions)
        let watermarks = try consumer.watermarks(committed.map(\.topicPartition))
        for entry in committed {
            positions[entry.topicPartition] = (max(0, entry.offset), watermarks[entry.topicPartition]!.high)
        }
    }
    return positions
}

public func consumerLag(bootstrap: String, group: String, topics: [String]) throws -> Int64 {
    try consumerLag(kafka: KafkaConfiguration(["bootstrap.servers": bootstrap]), group: group, topics: topics)
}
