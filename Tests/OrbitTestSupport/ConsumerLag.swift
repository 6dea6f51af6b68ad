import Foundation
import Logging
import OrbitKafka

/// How far a consumer group is behind on some topics: the sum over partitions of the high
/// watermark minus the committed offset. Zero means everything produced so far is processed.
public func consumerLag(bootstrap: String, group: String, topics: [String]) throws -> Int64 {
    let consumer = try KafkaConsumer(configuration: KafkaConfiguration(["bootstrap.servers": bootstrap, "group.id": group]),
                                     name: "lag-probe", logger: Logger(label: "test.lag"))
    defer { consumer.close() }
    var lag: Int64 = 0
    for topic in topics {
        let partitions = (0..<(try consumer.partitionCount(of: topic))).map { TopicPartition(topic, Int32($0)) }
        let committed = try consumer.committed(partitions)
        for entry in committed {
            let high = try consumer.watermarks(entry.topicPartition).high
            lag += high - max(0, entry.offset)
        }
    }
    return lag
}
