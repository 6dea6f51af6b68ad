import OrbitKafka

/// The in-memory ``StateBackend``: each partition's encoded values, keyed by text (a user id), as
/// the changelog topic holds them (Kafka Streams' persistent store, kept in memory).
///
/// - ``KeyedStore`` coalesces writes and writes the changelog records; this keeps their bytes.
/// - Partition N of the store is partition N of the changelog, keyed like the input, so a
///   compacted changelog keeps exactly the latest value per key.
/// - `restore` rebuilds partitions from the changelog (latest value per key; a tombstone or an
///   empty value deletes) before their records are processed; `drop` forgets a partition that
///   moved elsewhere.
public final class ChangelogStore: StateBackend {
    public let changelogTopic: String
    private var partitions: [Int32: [String: [UInt8]]] = [:]
    /// Each partition's keys in order, kept until a key is added or removed: a pass over a
    /// partition in parts (``forEachStored(_:after:limit:_:)``) sorts its keys once, not per part.
    private var sortedKeys: [Int32: [String]] = [:]

    public init(changelogTopic: String) { self.changelogTopic = changelogTopic }

    public var ownedPartitions: [Int32] { partitions.keys.sorted() }
    public var count: Int { partitions.values.reduce(0) { $0 + $1.count } }
    public func count(_ partition: Int32) -> Int { partitions[partition]?.count ?? 0 }

    public func get(_ partition: Int32, _ key: String) -> [UInt8]? { partitions[partition]?[key] }

    /// Applies one changelog record as restoring does (not a change to write back): a null or
    /// empty value deletes.
    public func restore(_ partition: Int32, _ key: String, _ value: [UInt8]?) {
        if let value, !value.isEmpty { store(partition, key, value) } else { remove(partition, key) }
    }

    public func store(_ partition: Int32, _ key: String, _ value: [UInt8]) {
        if partitions[partition, default: [:]].updateValue(value, forKey: key) == nil { sortedKeys[partition] = nil }
    }

    public func remove(_ partition: Int32, _ key: String) {
        if partitions[partition]?.removeValue(forKey: key) != nil { sortedKeys[partition] = nil }
    }

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
            sortedKeys[p] = nil
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
        StateRestoreMetrics.record(store: changelogTopic, elapsed: elapsed, records: records, partitions: numbers.count)
        logger.info("restored \(numbers.map { count($0) }.reduce(0, +)) \(noun) of partitions \(numbers) from \(records) changelog records in \(elapsed)")
        return numbers
    }

    public func drop(_ partition: Int32) {
        partitions[partition] = nil
        sortedKeys[partition] = nil
    }

    /// Memory keeps nothing for the next owner: a restart restores from the changelog.
    public func drop(_ partitions: [Int32], cleanly: Bool) { for partition in partitions { drop(partition) } }

    public func writing(_ body: () throws -> Void) rethrows { try body() }

    public func changelogRecordsWritten(_ partition: Int32, count: Int) {}

    public func forEachStored(_ partition: Int32, after start: String?, limit: Int, _ body: (String, [UInt8]) throws -> Void) rethrows {
        guard let values = partitions[partition], limit > 0 else { return }
        let keys: [String]
        if let sorted = sortedKeys[partition] {
            keys = sorted
        } else {
            keys = values.keys.sorted(by: StateKeyOrder.precedes)
            sortedKeys[partition] = keys
        }
        // The first key after `start`, by binary search.
        var low = 0
        if let start {
            var high = keys.count
            while low < high {
                let middle = (low + high) / 2
                if StateKeyOrder.precedes(start, keys[middle]) { high = middle } else { low = middle + 1 }
            }
        }
        for key in keys[low...].prefix(limit) { try body(key, values[key]!) }
        // The pass is through this partition: its keys need not stay sorted in memory.
        if keys.count - low <= limit { sortedKeys[partition] = nil }
    }
}

import Logging

extension Duration {
    /// Whole nanoseconds, for metrics timers.
    public var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
