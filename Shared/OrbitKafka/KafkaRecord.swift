/// A partition of a topic.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let topic: String
    public let partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)/\(partition)" }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// A partition and an offset: a position to commit, seek to, or start from.
public struct TopicPartitionOffset: Hashable, Sendable {
    public let topicPartition: TopicPartition
    public let offset: Int64

    public init(_ topicPartition: TopicPartition, offset: Int64) {
        self.topicPartition = topicPartition
        self.offset = offset
    }

    /// librdkafka's logical offsets.
    public static let beginning: Int64 = -2
    public static let end: Int64 = -1
    public static let stored: Int64 = -1000
}

public struct KafkaHeader: Hashable, Sendable {
    public let name: String
    public let value: [UInt8]?

    public init(_ name: String, _ value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.init(name, Array(value.utf8))
    }
}

/// A record to produce. `partition` nil lets the partitioner choose from the key (murmur2-random by
/// default, the same hash the Java client uses, so keys land where other clients expect).
public struct ProducerRecord: Sendable {
    public var topic: String
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    public var timestampMillis: Int64?

    public init(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [], timestampMillis: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMillis = timestampMillis
    }

    public init(topic: String, key: String?, value: [UInt8]?, headers: [KafkaHeader] = []) {
        self.init(topic: topic, key: key.map { Array($0.utf8) }, value: value, headers: headers)
    }
}

/// A record as consumed.
public struct ConsumerRecord: Sendable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let key: [UInt8]?
    public let value: [UInt8]?
    public let headers: [KafkaHeader]
    public let timestampMillis: Int64?

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], timestampMillis: Int64?) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMillis = timestampMillis
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }

    public func header(_ name: String) -> [UInt8]? {
        headers.first { $0.name == name }?.value
    }
}

/// Where a produced record was written.
public struct RecordMetadata: Sendable, Equatable {
    public let topicPartition: TopicPartition
    public let offset: Int64
}

/// A topic to create, with its partition count and configs (for example `cleanup.policy=compact`).
public struct TopicSpec: Sendable, Equatable {
    public let name: String
    public let partitions: Int
    public let replicationFactor: Int
    public let configs: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = -1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}
