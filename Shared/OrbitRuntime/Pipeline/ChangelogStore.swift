import OrbitKafka

/// A key-value state store per input partition, backed by a changelog topic (Kafka Streams'
/// persistent store, kept in memory): values are opaque bytes, keyed by text (a user id).
///
/// - Writes are coalesced: `takeChanges` returns only the latest value of each key changed since
///   the last call (as Kafka Streams' record cache does), so a user updated 100 times in a batch
///   costs one changelog record.
/// - Partition N of the store is written to partition N of the changelog, keyed like the input,
///   so a compacted changelog keeps exactly the latest value per key.
/// - `restore` rebuilds partitions from the changelog (latest value per key, empty value = deleted)
///   before their records are processed (a tombstone or an empty value deletes); `drop` forgets a
///   partition that moved elsewhere.
public final class ChangelogStore: StateBackend {
    public let changelogTopic: String
    private var partitions: [Int32: [String: [UInt8]]] = [:]
    private var dirty: [Int32: Set<String>] = [:]

    public init(changelogTopic: String) { self.changelogTopic = changelogTopic }

    public var ownedPartitions: [Int32] { partitions.keys.sorted() }
    public var count: Int { partitions.values.reduce(0) { $0 + $1.count } }
    public func count(_ partition: Int32) -> Int { partitions[partition]?.count ?? 0 }

    public func get(_ partition: Int32, _ key: String) -> [UInt8]? { partitions[partition]?[key] }

    public func put(_ partition: Int32, _ key: String, _ value: [UInt8]) {
        partitions[partition, default: [:]][key] = value
        dirty[partition, default: []].insert(key)
    }

    /// Applies one changelog record as restoring does (not a change to write back): a null or
    /// empty value deletes.
    public func restore(_ partition: Int32, _ key: String, _ value: [UInt8]?) {
        if let value, !value.isEmpty { partitions[partition, default: [:]][key] = value } else { partitions[partition]?[key] = nil }
    }

    /// Keeps `value` as the latest of `key` without marking it for ``takeChanges()``: for a typed
    /// store that writes its own changelog records.
    public func store(_ partition: Int32, _ key: String, _ value: [UInt8]) {
        partitions[partition, default: [:]][key] = value
    }

    /// Forgets `key` without marking it for ``takeChanges()`` (see ``store(_:_:_:)``).
    public func remove(_ partition: Int32, _ key: String) {
        partitions[partition]?[key] = nil
    }

    public func delete(_ partition: Int32, _ key: String) {
        partitions[partition]?[key] = nil
        dirty[partition, default: []].insert(key)
    }

    public func keys(_ partition: Int32) -> Dictionary<String, [UInt8]>.Keys? { partitions[partition]?.keys }

    /// Rebuilds these partitions from the changelog. Returns the number of records read.
    @discardableResult
    public func restore(_ restoring: [Int32], reader: ChangelogReader) throws -> Int {
        var restored: [Int32: [String: [UInt8]]] = [:]
        for p in restoring { restored[p] = [:] }
        let count = try reader.readAll(restoring.map { TopicPartition(changelogTopic, $0) }) { record in
            guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else { return }
            if let value = record.value, !value.isEmpty {
                restored[record.partition]?[key] = value
            } else {
                restored[record.partition]?[key] = nil
            }
        }
        for (p, values) in restored {
            partitions[p] = values
            dirty[p] = nil
        }
        return count
    }

    /// Restores the assigned partitions this store does not hold yet, logging and timing it
    /// (`orbit_state_restore_duration_seconds`). Returns the partitions restored (empty if none).
    @discardableResult
    public func restoreNewlyAssigned(_ assigned: [TopicPartition], reader: ChangelogReader, logger: Logger, noun: String) throws -> [Int32] {
        let numbers = Set(assigned.map(\.partition)).subtracting(ownedPartitions).sorted()
        guard !numbers.isEmpty else { return [] }
        let started = ContinuousClock.now
        let records = try restore(numbers, reader: reader)
        let elapsed = ContinuousClock.now - started
        Metrics.Timer(label: "orbit_state_restore_duration_seconds", dimensions: [("store", changelogTopic)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(elapsed.nanoseconds)
        // Restore progress on the dashboards: changelog records read and partitions restored.
        Counter(label: "orbit_state_restored_records_total", dimensions: [("store", changelogTopic)]).increment(by: records)
        Counter(label: "orbit_state_restored_partitions_total", dimensions: [("store", changelogTopic)]).increment(by: numbers.count)
        logger.info("restored \(numbers.map { count($0) }.reduce(0, +)) \(noun) of partitions \(numbers) from \(records) changelog records in \(elapsed)")
        return numbers
    }

    public func drop(_ partition: Int32) {
        partitions[partition] = nil
        dirty[partition] = nil
    }

    /// Memory keeps nothing for the next owner: a restart restores from the changelog.
    public func drop(_ partitions: [Int32], cleanly: Bool) { for partition in partitions { drop(partition) } }

    public func writing(_ body: () throws -> Void) rethrows { try body() }

    public func changelogRecordsWritten(_ partition: Int32, count: Int) {}

    public func forEachStored(_ partition: Int32, _ body: (String, [UInt8]) throws -> Void) rethrows {
        guard let values = partitions[partition] else { return }
        for key in values.keys.sorted(by: StateKeyOrder.precedes) { try body(key, values[key]!) }
    }

    /// The latest value of each key changed since the last call, as changelog records.
    public func takeChanges() -> [ProducerRecord] {
        var records: [ProducerRecord] = []
        for (partition, keys) in dirty.sorted(by: { $0.key < $1.key }) {
            for key in keys.sorted() {
                // A deleted key is a tombstone (a null value), which compaction removes.
                records.append(ProducerRecord(topic: changelogTopic, partition: partition, key: Array(key.utf8),
                                              value: partitions[partition]?[key]))
            }
        }
        dirty.removeAll(keepingCapacity: true)
        return records
    }
}

import Logging
import Metrics

extension Duration {
    /// Whole nanoseconds, for metrics timers.
    public var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
