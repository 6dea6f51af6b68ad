import OrbitKafka
import Synchronization

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
    /// The partitions' values, behind a lock: the pipeline thread writes them, and queries over
    /// the HTTP port read them from other threads (``reader``). Only the pipeline thread writes,
    /// so the lock is never contended by writers; a reader holds it for one dictionary lookup.
    private let tables = LockedTables()

    public init(changelogTopic: String) { self.changelogTopic = changelogTopic }

    public var ownedPartitions: [Int32] { tables.lock.withLock { $0.values.keys.sorted() } }
    public var count: Int { tables.lock.withLock { $0.values.values.reduce(0) { $0 + $1.count } } }
    public func count(_ partition: Int32) -> Int { tables.lock.withLock { $0.values[partition]?.count ?? 0 } }

    public func get(_ partition: Int32, _ key: String) -> [UInt8]? { tables.lock.withLock { $0.values[partition]?[key] } }

    /// Reads values from any thread, as of the last batch the pipeline finished.
    public var queryReader: any StateBytesReader { tables }

    /// Applies one changelog record as restoring does (not a change to write back): a null or
    /// empty value deletes.
    public func restore(_ partition: Int32, _ key: String, _ value: [UInt8]?) {
        if let value, !value.isEmpty { store(partition, key, value) } else { remove(partition, key) }
    }

    public func store(_ partition: Int32, _ key: String, _ value: [UInt8]) {
        tables.lock.withLock { tables in
            if tables.values[partition, default: [:]].updateValue(value, forKey: key) == nil { tables.sortedKeys[partition] = nil }
        }
    }

    public func remove(_ partition: Int32, _ key: String) {
        tables.lock.withLock { tables in
            if tables.values[partition]?.removeValue(forKey: key) != nil { tables.sortedKeys[partition] = nil }
        }
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
        tables.lock.withLock { tables in
            for (p, values) in restored {
                tables.values[p] = values
                tables.sortedKeys[p] = nil
            }
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
        tables.lock.withLock { tables in
            tables.values[partition] = nil
            tables.sortedKeys[partition] = nil
        }
    }

    /// Memory keeps nothing for the next owner: a restart restores from the changelog.
    public func drop(_ partitions: [Int32], cleanly: Bool) { for partition in partitions { drop(partition) } }

    public func writing(_ body: () throws -> Void) rethrows { try body() }

    public func changelogRecordsWritten(_ partition: Int32, count: Int) {}

    public func forEachStored(_ partition: Int32, after start: String?, limit: Int, _ body: (String, [UInt8]) throws -> Void) rethrows {
        guard limit > 0 else { return }
        // The partition's table and its keys in order, taken under the lock; `body` runs outside
        // it (it may read this store). The table is a copy-on-write value: taking it copies nothing.
        let taken: (values: [String: [UInt8]], keys: [String])? = tables.lock.withLock { tables in
            guard let values = tables.values[partition] else { return nil }
            if let sorted = tables.sortedKeys[partition] { return (values, sorted) }
            let keys = values.keys.sorted(by: StateKeyOrder.precedes)
            tables.sortedKeys[partition] = keys
            return (values, keys)
        }
        guard let (values, keys) = taken else { return }
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
        if keys.count - low <= limit { tables.lock.withLock { _ = $0.sortedKeys.removeValue(forKey: partition) } }
    }
}

/// ``ChangelogStore``'s tables and their lock, shared with its readers.
final class LockedTables: StateBytesReader {
    struct Tables: Sendable {
        var values: [Int32: [String: [UInt8]]] = [:]
        /// Each partition's keys in order, kept until a key is added or removed: a pass over a
        /// partition in parts (``ChangelogStore/forEachStored(_:after:limit:_:)``) sorts its keys once, not per part.
        var sortedKeys: [Int32: [String]] = [:]
    }

    let lock = Mutex(Tables())

    func read(_ partition: Int32, _ key: String) -> StoredBytes {
        lock.withLock { tables in
            guard let values = tables.values[partition] else { return .notHeld }
            return values[key].map(StoredBytes.value) ?? .absent
        }
    }
}

import Logging

extension Duration {
    /// Whole nanoseconds, for metrics timers.
    public var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
