import Logging
import OrbitKafka
import Synchronization

/// A whole topic read by every instance, latest value per key (Kafka Streams' global table): for
/// small shared facts such as each partition's quantile sketches. The pipeline owns the reading
/// (register it with ``GlobalTableRegistration``); a processor only looks at the view.
public final class GlobalTableView: Sendable {
    public struct Snapshot: Sendable {
        public var values: [String: [UInt8]] = [:]
        /// Bumped whenever a value changes.
        public var version = 0
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Applies one record of the table's topic (a null value deletes the key).
    public func apply(key: String, value: [UInt8]?) {
        state.withLock { table in
            guard table.values[key] != value else { return }
            table.values[key] = value
            table.version += 1
        }
    }
}

/// A global table the pipeline feeds: the topic is read from its beginning by an assign-only
/// consumer and brought up to date before every punctuation.
public struct GlobalTableRegistration: Sendable {
    public let topic: String
    public let view: GlobalTableView

    public init(topic: String, view: GlobalTableView) {
        self.topic = topic
        self.view = view
    }
}

/// The reading side of a registered global table (owned by the pipeline's thread).
final class GlobalTableFeed {
    let registration: GlobalTableRegistration
    private let consumer: KafkaConsumer

    init(_ registration: GlobalTableRegistration, kafka: KafkaConfiguration, logger: Logger) throws {
        self.registration = registration
        var properties = kafka.properties
        for key in ["group.id", "group.instance.id", "transactional.id"] { properties[key] = nil }
        consumer = try KafkaConsumer(configuration: KafkaConfiguration(properties), name: "global-table", logger: logger)
        let partitions = try consumer.partitionCount(of: registration.topic)
        try consumer.assign((0..<partitions).map { TopicPartitionOffset(TopicPartition(registration.topic, Int32($0)), offset: TopicPartitionOffset.beginning) })
    }

    /// Applies whatever has arrived, without waiting.
    func refresh(maxRecords: Int = 100_000) throws {
        var read = 0
        while read < maxRecords, let record = try consumer.poll(timeout: .zero) {
            read += 1
            guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else { continue }
            registration.view.apply(key: key, value: record.value)
        }
    }

    func close() { consumer.close() }
}
