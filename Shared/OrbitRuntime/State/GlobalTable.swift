import Logging
import OrbitKafka
import Synchronization

/// A whole topic read by every instance, latest value per key (Kafka Streams' global table): for
/// small shared facts such as each partition's quantile sketches. The pipeline owns the reading
/// (register it with ``GlobalTableRegistration``); a processor only looks at the view.
public final class GlobalTableView: Sendable {
    public struct Snapshot: Sendable {
        public var values: [String: [UInt8]] = [:]
        /// Keys whose latest record is a tombstone (deleted, not merely never seen).
        public var deleted: Set<String> = []
        /// Bumped whenever a value changes.
        public var version = 0
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Applies one record of the table's topic (a null value deletes the key).
    public func apply(key: String, value: [UInt8]?) {
        state.withLock { table in
            if value == nil, table.deleted.insert(key).inserted { table.version += 1 }
            if value != nil { table.deleted.remove(key) }
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
    /// False for a table a deployment may not have created yet (operators' definitions): until
    /// its topic exists it reads as empty, with a warning, and is looked for again every 10 s.
    /// A required table's missing topic stops the pipeline at start.
    public let required: Bool

    public init(topic: String, view: GlobalTableView, required: Bool = true) {
        self.topic = topic
        self.view = view
        self.required = required
    }
}

/// The reading side of a registered global table (owned by the pipeline's thread).
final class GlobalTableFeed {
    let registration: GlobalTableRegistration
    private let consumer: KafkaConsumer
    private let logger: Logger
    /// When an optional table's topic was last found missing (nil once it is assigned).
    private var missingSince: ContinuousClock.Instant?

    init(_ registration: GlobalTableRegistration, kafka: KafkaConfiguration, logger: Logger) throws {
        self.registration = registration
        self.logger = logger
        var properties = kafka.properties
        for key in ["group.id", "group.instance.id", "transactional.id"] { properties[key] = nil }
        consumer = try KafkaConsumer(configuration: KafkaConfiguration(properties), name: "global-table", logger: logger)
        do {
            try assign()
        } catch where !registration.required {
            logger.warning("global table \(registration.topic): \(error); read as empty until the topic exists (looked for every 10 s)")
            missingSince = .now
        }
    }

    private func assign() throws {
        let partitions = try consumer.partitionCount(of: registration.topic)
        try consumer.assign((0..<partitions).map { TopicPartitionOffset(TopicPartition(registration.topic, Int32($0)), offset: TopicPartitionOffset.beginning) })
    }

    /// Applies whatever has arrived, without waiting.
    func refresh(maxRecords: Int = 100_000) throws {
        if let since = missingSince {
            guard ContinuousClock.now - since > .seconds(10) else { return }
            do {
                try assign()
                missingSince = nil
                logger.info("global table \(registration.topic): the topic exists now; reading it")
            } catch {
                missingSince = .now
                return
            }
        }
        var read = 0
        while read < maxRecords, let record = try consumer.poll(timeout: .zero) {
            read += 1
            guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else { continue }
            registration.view.apply(key: key, value: record.value)
        }
    }

    func close() { consumer.close() }
}
