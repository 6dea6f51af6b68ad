import Logging
import Metrics
import OrbitKafka

/// Where a ``KeyedStore`` keeps its encoded values: in memory (``ChangelogStore``, the default) or
/// on local disk (``SQLiteStateBackend``). Either way the changelog topic is the source of truth:
/// a backend is a copy of it that a restore rebuilds, partition by partition.
///
/// A backend is used from one pipeline thread only, like the store that owns it.
public protocol StateBackend: AnyObject {
    var changelogTopic: String { get }
    /// Partitions restored and not dropped since.
    var ownedPartitions: [Int32] { get }
    /// Keys held over every owned partition.
    var count: Int { get }

    func get(_ partition: Int32, _ key: String) -> [UInt8]?
    /// Keeps `value` as the latest of `key` (the store writes the changelog record itself).
    func store(_ partition: Int32, _ key: String, _ value: [UInt8])
    func remove(_ partition: Int32, _ key: String)
    /// Runs `body` with every writing call of one batch: a disk backend makes them one transaction.
    func writing(_ body: () throws -> Void) rethrows
    /// The store returned `count` changelog records for `partition` (the pipeline writes them
    /// before it commits): a disk backend checks its checkpoint against them.
    func changelogRecordsWritten(_ partition: Int32, count: Int)
    /// Applies one changelog record as restoring does: a null or empty value deletes.
    func restore(_ partition: Int32, _ key: String, _ value: [UInt8]?)
    /// The stored keys and values of a partition in key order (byte order of the UTF-8 keys),
    /// without holding them all at once: those after `key` (all when nil), at most `limit`.
    func forEachStored(_ partition: Int32, after key: String?, limit: Int, _ body: (String, [UInt8]) throws -> Void) rethrows
    /// Restores the assigned partitions not held yet. Returns the partitions restored.
    func restoreNewlyAssigned(_ assigned: [TopicPartition], reader: ChangelogReader, logger: Logger, noun: String) throws -> [Int32]
    /// Forgets partitions that moved elsewhere (or a service that stops). `cleanly` says every
    /// changelog record written for them is acknowledged, so a disk backend may keep a checkpoint
    /// for a fast restore.
    func drop(_ partitions: [Int32], cleanly: Bool)
    /// Reads stored values from any thread (queries over the HTTP port), as of the last batch
    /// whose changes the store took; the pipeline thread keeps using the backend itself.
    var queryReader: any StateBytesReader { get }
}

/// A thread-safe view of a backend's stored values.
public protocol StateBytesReader: Sendable {
    func read(_ partition: Int32, _ key: String) -> StoredBytes
}

/// What a backend holds for a key, read from another thread.
public enum StoredBytes: Sendable, Equatable {
    case value([UInt8])
    /// The partition is held here and has no value for the key.
    case absent
    /// The partition is not held here (assigned elsewhere, or not restored yet).
    case notHeld
}

extension StateBackend {
    /// Every stored key and value of a partition, in key order.
    public func forEachStored(_ partition: Int32, _ body: (String, [UInt8]) throws -> Void) rethrows {
        try forEachStored(partition, after: nil, limit: .max, body)
    }
}

/// How a service's keyed stores keep their values (`state.store` in the service's configuration).
public enum StateStoreKind: Sendable, Equatable {
    /// In memory: fastest; restore reads the whole changelog.
    case memory
    /// SQLite files under `directory`, one per store partition, with at most `cacheKiB` of page
    /// cache each: state larger than memory, and a restart that restores from a local checkpoint.
    case disk(directory: String, cacheKiB: Int)

    /// A backend for the store of `changelogTopic`.
    public func backend(changelogTopic: String) -> any StateBackend {
        switch self {
        case .memory: return ChangelogStore(changelogTopic: changelogTopic)
        case .disk(let directory, let cacheKiB): return SQLiteStateBackend(changelogTopic: changelogTopic, directory: directory, cacheKiB: cacheKiB)
        }
    }
}

/// The one order of keys every backend iterates in: the bytes of their UTF-8 form (SQLite's
/// BINARY collation), so a pass over a partition gives the same sequence from memory or disk.
public enum StateKeyOrder {
    @inlinable
    public static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

/// The metrics of one restore, the same for every backend: its duration
/// (`orbit_state_restore_duration_seconds`) and, for restore progress on the dashboards, the
/// changelog records read and the partitions restored.
enum StateRestoreMetrics {
    static func record(store: String, elapsed: Duration, records: Int, partitions: Int) {
        Metrics.Timer(label: "orbit_state_restore_duration_seconds", dimensions: [("store", store)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(elapsed.nanoseconds)
        Counter(label: "orbit_state_restored_records_total", dimensions: [("store", store)]).increment(by: records)
        Counter(label: "orbit_state_restored_partitions_total", dimensions: [("store", store)]).increment(by: partitions)
    }
}
