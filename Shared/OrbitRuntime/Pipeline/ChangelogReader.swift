import Foundation
import Logging
import OrbitKafka

/// Where a restore reads a changelog from: Kafka (``KafkaChangelogSource``) in a service, or a
/// log held in process by a test driver. A source reads partitions outside any consumer group.
public protocol ChangelogSource: Sendable {
    /// Calls `apply` with the records of `partitions` in offset order, each partition from its
    /// checkpoint when it has a valid one (within its offsets; otherwise `invalidCheckpoint` is
    /// told and the partition is read from its first record), up to the end it had when the read
    /// began.
    func read(_ partitions: [TopicPartition], from checkpoints: [TopicPartition: Int64],
              invalidCheckpoint: (TopicPartition) throws -> Void, apply: (ConsumerRecord) throws -> Void) throws -> ChangelogReader.Result
    /// The end offset (high watermark) of each partition.
    func endOffsets(_ partitions: [TopicPartition]) throws -> [TopicPartition: Int64]
}

/// Reads partitions of a changelog topic from their first retained record to their end, to rebuild
/// a state store. Reads outside any consumer group, so it never disturbs the service's own.
public struct ChangelogReader: Sendable {
    let source: any ChangelogSource

    public init(kafka: KafkaConfiguration, logger: Logger, stallTimeout: Duration = .seconds(60)) {
        source = KafkaChangelogSource(kafka: kafka, logger: logger, stallTimeout: stallTimeout)
    }

    /// A reader of another source (a test driver's log held in process).
    public init(source: any ChangelogSource) {
        self.source = source
    }

    /// Calls `apply` with every record of these partitions, in offset order per partition, and
    /// returns how many it read.
    @discardableResult
    public func readAll(_ partitions: [TopicPartition], apply: (ConsumerRecord) throws -> Void) throws -> Int {
        try read(partitions, from: [:], invalidCheckpoint: { _ in }, apply: apply).records
    }

    /// What ``read(_:from:invalidCheckpoint:apply:)`` read: the records, and the end offset each
    /// partition was read up to (where the copy it rebuilt is complete).
    public struct Result: Sendable {
        public var records = 0
        public var ends: [TopicPartition: Int64] = [:]

        public init() {}
    }

    /// Like ``readAll(_:apply:)``, but each partition from the offset given for it (a local
    /// checkpoint). A checkpoint outside the partition's offsets (below its first retained record:
    /// records were deleted or expired; above its end: the topic was recreated or truncated) cannot
    /// be trusted: `invalidCheckpoint` is told, so the caller empties its copy, and the partition
    /// is read from its first record.
    public func read(_ partitions: [TopicPartition], from checkpoints: [TopicPartition: Int64],
                     invalidCheckpoint: (TopicPartition) throws -> Void, apply: (ConsumerRecord) throws -> Void) throws -> Result {
        try source.read(partitions, from: checkpoints, invalidCheckpoint: invalidCheckpoint, apply: apply)
    }

    /// The end offset (high watermark) of each partition: where a checkpoint taken now resumes.
    public func endOffsets(_ partitions: [TopicPartition]) throws -> [TopicPartition: Int64] {
        try source.endOffsets(partitions)
    }
}

/// A changelog read from Kafka by an assign-only consumer.
public struct KafkaChangelogSource: ChangelogSource {
    let kafka: KafkaConfiguration
    let logger: Logger
    /// Giving up when a partition makes no progress for this long (a broker that is down).
    let stallTimeout: Duration

    public init(kafka: KafkaConfiguration, logger: Logger, stallTimeout: Duration = .seconds(60)) {
        var properties = kafka.properties
        for key in ["group.id", "group.instance.id", "transactional.id"] { properties[key] = nil }
        self.kafka = KafkaConfiguration(properties)
        self.logger = logger
        self.stallTimeout = stallTimeout
    }

    public func read(_ partitions: [TopicPartition], from checkpoints: [TopicPartition: Int64],
                     invalidCheckpoint: (TopicPartition) throws -> Void, apply: (ConsumerRecord) throws -> Void) throws -> ChangelogReader.Result {
        var result = ChangelogReader.Result()
        guard !partitions.isEmpty else { return result }
        let started = ContinuousClock.now
        let consumer = try KafkaConsumer(configuration: kafka, name: "changelog-reader", logger: logger)
        defer { consumer.close() }
        var endOffsets: [TopicPartition: Int64] = [:]
        var starts: [TopicPartitionOffset] = []
        let watermarks = try consumer.watermarks(partitions)
        for partition in partitions {
            let (low, high) = watermarks[partition]!
            result.ends[partition] = high
            var start = low
            if let checkpoint = checkpoints[partition] {
                if (low...high).contains(checkpoint) {
                    start = checkpoint
                } else {
                    logger.warning("checkpoint \(checkpoint) of \(partition) is outside its offsets \(low)..<\(high): restoring it from the changelog")
                    try invalidCheckpoint(partition)
                }
            }
            if high > start {
                endOffsets[partition] = high
                starts.append(TopicPartitionOffset(partition, offset: start))
            }
        }
        guard !starts.isEmpty else { return result }
        try consumer.assign(starts)
        var count = 0
        var lastProgress = ContinuousClock.now
        var lastReport = ContinuousClock.now
        let total = endOffsets.reduce(into: Int64(0)) { sum, entry in
            sum += entry.value - (starts.first { $0.topicPartition == entry.key }?.offset ?? 0)
        }
        var ends = PartitionEnds(endOffsets)
        while !ends.isEmpty {
            if let record = try consumer.poll(timeout: .milliseconds(200)) {
                lastProgress = ContinuousClock.now
                if ends.short[record.topicPartition] != nil {
                    try apply(record)
                    count += 1
                }
                if ContinuousClock.now - lastReport > .seconds(5) {
                    lastReport = .now
                    logger.info("restoring: \(count) of about \(total) changelog records read")
                }
                // Cheap check first: a record short of its end leaves the positions as they were.
                if record.offset + 1 < ends.short[record.topicPartition] ?? 0 { continue }
            } else if ContinuousClock.now - lastProgress > stallTimeout {
                throw KafkaError.timedOut("restoring \(ends.short.keys.map(\.description).sorted()) made no progress for \(stallTimeout)")
            }
            // A partition is restored once the consumer's position reaches the end it had when
            // the restore began, whatever the last offset held (a record or a marker).
            try ends.dropReached(by: consumer)
        }
        logger.info("restored \(count) changelog records from \(partitions.count) partitions in \(ContinuousClock.now - started)")
        result.records = count
        return result
    }

    public func endOffsets(_ partitions: [TopicPartition]) throws -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        let consumer = try KafkaConsumer(configuration: kafka, name: "changelog-checkpoint", logger: logger)
        defer { consumer.close() }
        return try consumer.watermarks(partitions).mapValues(\.high)
    }
}
