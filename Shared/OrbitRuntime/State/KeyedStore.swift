import Logging
import OrbitKafka

/// A value a ``KeyedStore`` can keep: it writes itself to bytes for the changelog and reads
/// itself back.
public protocol StateCodable: Sendable {
    init(stateBytes: [UInt8]) throws
    func stateBytes() -> [UInt8]
}

/// State that cannot be read from its changelog. The service stops with this error: it never
/// carries on with the key reset to empty, which would silently forget a user.
public struct UnreadableState: Error, CustomStringConvertible {
    public let store: String
    public let partition: Int32
    public let key: String
    public let reason: String

    public init(store: String, partition: Int32, key: String, reason: String) {
        self.store = store
        self.partition = partition
        self.key = key
        self.reason = reason
    }

    public var description: String {
        "state of \(key) in \(store)/\(partition) cannot be read (\(reason)); stopping rather than starting it afresh"
    }
}

/// A typed key-value store per input partition, backed by a changelog topic (Kafka Streams'
/// persistent store with its record cache). A processor gets and puts decoded values; the store
/// owns the rest:
/// - a cache of decoded values, so a value is decoded once however often a batch touches it, and
///   encoded once per batch it changed in (``CachePolicy``);
/// - the dirty set: ``changedKeys`` lists what changed in the batch (to publish one output per key),
///   and ``takeChanges()`` writes each changed key once to the changelog, in partition and key order;
/// - restore on assignment and drop on revocation;
/// - deletes as tombstones.
public final class KeyedStore<Value: StateCodable> {
    /// How long decoded values stay decoded.
    @frozen
    public enum CachePolicy: Sendable {
        /// Until the batch's changes are taken: memory stays at the encoded size between batches.
        case perBatch
        /// Until the partition is revoked: fastest, for values that are large to decode.
        case retained
    }

    // Visible to inlinable code: the hot methods below are specialised in each service's module.
    @usableFromInline let bytes: ChangelogStore
    @usableFromInline let cachePolicy: CachePolicy
    @usableFromInline var cache: [Int32: [String: Value]] = [:]
    @usableFromInline var changed: [Int32: Set<String>] = [:]

    public init(changelogTopic: String, cachePolicy: CachePolicy = .perBatch) {
        self.bytes = ChangelogStore(changelogTopic: changelogTopic)
        self.cachePolicy = cachePolicy
    }

    public var changelogTopic: String { bytes.changelogTopic }
    /// Partitions holding values, stored or only put in this batch so far.
    public var ownedPartitions: [Int32] { Set(bytes.ownedPartitions).union(cache.filter { !$0.value.isEmpty }.keys).sorted() }
    /// Keys held, over every owned partition.
    public var count: Int { bytes.count }

    /// The value of `key`, or nil when the store has none. Throws ``UnreadableState`` for bytes
    /// that do not decode.
    @inlinable
    public func get(_ partition: Int32, _ key: String) throws(UnreadableState) -> Value? {
        if let value = cache[partition]?[key] { return value }
        guard let stored = bytes.get(partition, key) else { return nil }
        let value = try decode(stored, partition, key)
        cache[partition, default: [:]][key] = value
        return value
    }

    /// Decodes stored bytes; bytes that do not decode are ``UnreadableState``.
    @inlinable
    func decode(_ stored: [UInt8], _ partition: Int32, _ key: String) throws(UnreadableState) -> Value {
        do {
            return try Value(stateBytes: stored)
        } catch {
            throw UnreadableState(store: changelogTopic, partition: partition, key: key, reason: "\(error)")
        }
    }

    /// Applies one changelog record as restoring does (bytes as stored, decoded when first read).
    public func restore(_ partition: Int32, _ key: String, _ bytes: [UInt8]?) {
        cache[partition]?[key] = nil
        self.bytes.restore(partition, key, bytes)
    }

    @inlinable
    public func put(_ partition: Int32, _ key: String, _ value: Value) {
        cache[partition, default: [:]][key] = value
        changed[partition, default: []].insert(key)
    }

    /// Changes the value of `key` in place, starting from `initial` when the store has none; the
    /// value is marked changed when `body` returns true. A value created here that `body` leaves
    /// unchanged is not kept.
    ///
    /// Prefer this to `get` then `put` on a hot path: the value is looked up once and mutated where
    /// it lives, so its arrays are uniquely referenced and are not copied on write.
    @inlinable
    @discardableResult
    public func update(_ partition: Int32, _ key: String, initial: () -> Value, _ body: (inout Value) -> Bool) throws(UnreadableState) -> Bool {
        var created = false
        if try get(partition, key) == nil {  // decodes into the cache when stored
            cache[partition, default: [:]][key] = initial()
            created = true
        }
        let changedValue = body(&cache[partition]![key]!)
        if changedValue {
            changed[partition, default: []].insert(key)
        } else if created {
            cache[partition]![key] = nil
        }
        return changedValue
    }

    public func delete(_ partition: Int32, _ key: String) {
        cache[partition]?[key] = nil
        bytes.delete(partition, key)
        changed[partition, default: []].insert(key)
    }

    /// Runs `body` on every value put since the last ``takeChanges()``, in partition and key order,
    /// changing it in place (no copy, no second lookup): for a batch-end pass such as publishing
    /// one output per changed key.
    @inlinable
    public func updateChanged(_ body: (Int32, String, inout Value) throws -> Void) rethrows {
        for partition in changed.keys.sorted() {
            for key in changed[partition]!.sorted() where cache[partition]?[key] != nil {
                try body(partition, key, &cache[partition]![key]!)
            }
        }
    }

    /// The keys put or deleted since the last ``takeChanges()``, in partition and key order.
    public var changedKeys: [(partition: Int32, key: String)] {
        changed.keys.sorted().flatMap { partition in changed[partition]!.sorted().map { (partition, $0) } }
    }

    /// Every key of a partition, in key order (deterministic).
    public func keys(_ partition: Int32) -> [String] {
        var keys: Set<String> = []
        if let stored = bytes.keys(partition) { keys.formUnion(stored) }
        if let cached = cache[partition] { keys.formUnion(cached.keys) }
        return keys.sorted()
    }

    /// Every value of a partition in key order, decoded without filling the cache (a pass over a
    /// whole partition must not keep a million values decoded).
    public func forEach(_ partition: Int32, _ body: (String, Value) throws -> Void) throws {
        for key in keys(partition) {
            if let cached = cache[partition]?[key] {
                try body(key, cached)
            } else if let stored = bytes.get(partition, key) {
                try body(key, try decode(stored, partition, key))
            }
        }
    }

    /// Encodes every changed value once and returns the changelog records (tombstones for deletes).
    public func takeChanges() -> [ProducerRecord] {
        for (partition, keys) in changed {
            for key in keys {
                if let value = cache[partition]?[key] { bytes.put(partition, key, value.stateBytes()) }
            }
        }
        changed.removeAll(keepingCapacity: true)
        if cachePolicy == .perBatch {
            // Each partition's table keeps its capacity: the next batch touches about as many keys,
            // and regrowing the table from empty every batch was a measured cost (rehashing).
            for partition in cache.keys { cache[partition]!.removeAll(keepingCapacity: true) }
        }
        return bytes.takeChanges()
    }

    /// Restores the assigned partitions of `topic` that this store does not hold yet (see
    /// ``ChangelogStore/restoreNewlyAssigned(_:reader:logger:noun:)``).
    @discardableResult
    public func restoreNewlyAssigned(_ assigned: [TopicPartition], of topic: String, reader: ChangelogReader, logger: Logger, noun: String) throws -> [Int32] {
        try bytes.restoreNewlyAssigned(assigned.filter { $0.topic == topic }, reader: reader, logger: logger, noun: noun)
    }

    /// Forgets the revoked partitions of `topic`.
    public func drop(_ revoked: [TopicPartition], of topic: String) {
        for partition in revoked where partition.topic == topic {
            bytes.drop(partition.partition)
            cache[partition.partition] = nil
            changed[partition.partition] = nil
        }
    }
}
