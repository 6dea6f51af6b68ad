import Foundation
import OrbitKafka
import OrbitRuntime

/// Every topic a ``TopologyTestDriver`` runs, held in process: partitions of records with offsets
/// from 0, as a broker keeps them. Records without a partition are placed by their key's murmur2
/// hash (``KeyPartitioner``), as Orbit's producers place them. It is also the changelog source
/// restores read, so a restore in a test reads exactly what the stages wrote.
///
/// `@unchecked Sendable`: every access to `partitions` and `counts` holds `lock`; the driver uses
/// it from one thread, and ``ChangelogSource`` requires the conformance only because a service's
/// source may be handed across threads.
public final class InMemoryLog: ChangelogSource, @unchecked Sendable {
    private let lock = NSLock()
    private var partitions: [TopicPartition: [ConsumerRecord]] = [:]
    private let counts: [String: Int]
    private let defaultPartitions: Int
    private var restoredCount = 0

    /// Changelog records every restore so far has read: a restore from a disk store's checkpoint
    /// reads only what came after it.
    public var restoredRecords: Int { lock.withLock { restoredCount } }

    /// - Parameters:
    ///   - partitions: the partition count of a topic not named in `topics`.
    ///   - topics: partition counts of particular topics.
    public init(partitions: Int, topics: [String: Int] = [:]) {
        precondition(partitions > 0)
        defaultPartitions = partitions
        counts = topics
    }

    public func partitionCount(of topic: String) -> Int {
        lock.withLock { counts[topic] ?? defaultPartitions }
    }

    /// Appends `record` where a producer would put it; returns it as a consumer reads it.
    /// `timestampMillis` stands in for the producer's clock when the record names no time.
    @discardableResult
    public func append(_ record: ProducerRecord, timestampMillis: Int64) -> ConsumerRecord {
        let count = partitionCount(of: record.topic)
        let partition = record.partition ?? record.key.map { KeyPartitioner.partition(of: $0, partitionCount: count) } ?? 0
        precondition((0..<Int32(count)).contains(partition), "\(record.topic) has \(count) partitions; a record was sent to \(partition)")
        return lock.withLock {
            let position = TopicPartition(record.topic, partition)
            let stored = ConsumerRecord(topic: record.topic, partition: partition, offset: Int64(partitions[position]?.count ?? 0),
                                        key: record.key, value: record.value, headers: record.headers,
                                        timestampMillis: record.timestampMillis ?? timestampMillis)
            partitions[position, default: []].append(stored)
            return stored
        }
    }

    /// The records of one partition from `offset` on.
    public func records(_ partition: TopicPartition, from offset: Int64 = 0) -> ArraySlice<ConsumerRecord> {
        lock.withLock {
            let all = partitions[partition] ?? []
            return all[min(all.count, Int(offset))...]
        }
    }

    /// The topics holding records, by name.
    public var topics: [String] { lock.withLock { Set(partitions.keys.map(\.topic)).sorted() } }

    /// Every record of `topic`, partition by partition, each in offset order.
    public func records(_ topic: String) -> [ConsumerRecord] {
        (0..<Int32(partitionCount(of: topic))).flatMap { Array(records(TopicPartition(topic, $0))) }
    }

    /// The latest value of each key of `topic`, as a compacted topic reads (a null value deletes).
    public func latest(_ topic: String) -> [String: [UInt8]] {
        var table: [String: [UInt8]] = [:]
        for record in records(topic) {
            guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else { continue }
            table[key] = record.value
        }
        return table
    }

    public func end(_ partition: TopicPartition) -> Int64 {
        lock.withLock { Int64(partitions[partition]?.count ?? 0) }
    }

    // MARK: ChangelogSource

    public func read(_ partitions: [TopicPartition], from checkpoints: [TopicPartition: Int64],
                     invalidCheckpoint: (TopicPartition) throws -> Void, apply: (ConsumerRecord) throws -> Void) throws -> ChangelogReader.Result {
        var result = ChangelogReader.Result()
        for partition in partitions {
            let end = end(partition)
            result.ends[partition] = end
            var start: Int64 = 0
            if let checkpoint = checkpoints[partition] {
                if (0...end).contains(checkpoint) { start = checkpoint } else { try invalidCheckpoint(partition) }
            }
            for record in records(partition, from: start) {
                try apply(record)
                result.records += 1
                lock.withLock { restoredCount += 1 }
            }
        }
        return result
    }

    public func endOffsets(_ partitions: [TopicPartition]) throws -> [TopicPartition: Int64] {
        Dictionary(uniqueKeysWithValues: partitions.map { ($0, end($0)) })
    }
}
