import Logging
import OrbitKafka

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

    /// A decoded value and whether it changed since the changes were last taken.
    @usableFromInline
    struct Entry {
        @usableFromInline var value: Value
        @usableFromInline var changed: Bool

        @inlinable init(_ value: Value, changed: Bool) {
            self.value = value
            self.changed = changed
        }

        /// Runs `body` on the value where it lives and marks the entry changed when `body` says it
        /// changed it. `first` is true when this is the entry's first change since the changes were
        /// last taken.
        @inlinable
        static func change(_ entry: inout Entry, _ body: (inout Value) -> Bool) -> (made: Bool, first: Bool) {
            guard body(&entry.value) else { return (false, false) }
            defer { entry.changed = true }
            return (true, !entry.changed)
        }

        /// The value's bytes for the changelog, the entry marked unchanged, in one access to the
        /// entry where it lives (reading it through a getter would copy the whole value first).
        @inlinable
        static func settle(_ entry: inout Entry) -> [UInt8] {
            entry.changed = false
            return entry.value.stateBytes()
        }
    }

    // Visible to inlinable code: the hot methods below are specialised in each service's module.
    // One hash of the key finds a value and its changed flag; the changed keys are kept as a list in
    // first-change order (a delete may repeat a key) and put in key order once per batch.
    @usableFromInline let bytes: any StateBackend
    @usableFromInline let cachePolicy: CachePolicy
    @usableFromInline var cache: [Int32: [String: Entry]] = [:]
    @usableFromInline var changed: [Int32: [String]] = [:]
    @usableFromInline var ordered: [(partition: Int32, keys: [String])]?

    /// The most entries a partition's per-batch cache keeps room for between batches.
    static var keptCacheCapacity: Int { 4096 }

    /// - Parameter backend: where encoded values live between batches (`state.store`): memory by
    ///   default, or SQLite files on local disk for state larger than memory.
    public init(changelogTopic: String, cachePolicy: CachePolicy = .perBatch, backend: StateStoreKind = .memory) {
        self.bytes = backend.backend(changelogTopic: changelogTopic)
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
        if let entry = cache[partition]?[key] { return entry.value }
        guard let stored = bytes.get(partition, key) else { return nil }
        let value = try decode(stored, partition, key)
        cache[partition, default: [:]][key] = Entry(value, changed: false)
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

    /// Records that `key` changed: listed once however often it changes (until it is deleted).
    @inlinable
    func noteChange(_ partition: Int32, _ key: String) {
        changed[partition, default: []].append(key)
        ordered = nil
    }

    /// Applies one changelog record as restoring does (bytes as stored, decoded when first read).
    public func restore(_ partition: Int32, _ key: String, _ bytes: [UInt8]?) {
        cache[partition]?[key] = nil
        self.bytes.restore(partition, key, bytes)
    }

    @inlinable
    public func put(_ partition: Int32, _ key: String, _ value: Value) {
        let wasChanged = cache[partition, default: [:]].updateValue(Entry(value, changed: true), forKey: key)?.changed ?? false
        if !wasChanged { noteChange(partition, key) }
    }

    /// Changes the value of `key` in place, starting from `initial` when the store has none; the
    /// value is marked changed when `body` returns true. A value created here that `body` leaves
    /// unchanged is not kept.
    ///
    /// Prefer this to `get` then `put` on a hot path: the value is looked up once (one hash of the
    /// key) and mutated where it lives, so its arrays are uniquely referenced and not copied on write.
    @inlinable
    @discardableResult
    public func update(_ partition: Int32, _ key: String, initial: () -> Value, _ body: (inout Value) -> Bool) throws(UnreadableState) -> Bool {
        if let index = cache[partition]?.index(forKey: key) {
            // One in-place access: reading `.changed` through `values[index]` on its own would go
            // through the subscript's getter, which copies the whole entry (every reference in the
            // value retained and released) to read one flag.
            let change = Entry.change(&cache[partition]!.values[index], body)
            if change.first { noteChange(partition, key) }
            return change.made
        }
        var value: Value
        let stored: Bool
        if let bytes = bytes.get(partition, key) {
            value = try decode(bytes, partition, key)
            stored = true
        } else {
            value = initial()
            stored = false
        }
        let changedValue = body(&value)
        if changedValue || stored { cache[partition, default: [:]][key] = Entry(value, changed: changedValue) }
        if changedValue { noteChange(partition, key) }
        return changedValue
    }

    public func delete(_ partition: Int32, _ key: String) {
        cache[partition]?[key] = nil
        bytes.remove(partition, key)
        noteChange(partition, key)
    }

    /// The changed keys per partition, partitions and keys in order, each key once (computed once
    /// per batch: the batch-end pass and the changelog share it).
    @inlinable
    func changesInOrder() -> [(partition: Int32, keys: [String])] {
        if let ordered { return ordered }
        var result: [(partition: Int32, keys: [String])] = []
        for partition in changed.keys.sorted() {
            let sorted = changed[partition]!.sorted()
            var unique: [String] = []
            unique.reserveCapacity(sorted.count)
            for key in sorted where unique.last != key { unique.append(key) }
            result.append((partition, unique))
        }
        ordered = result
        return result
    }

    /// Runs `body` on every value put since the last ``takeChanges()``, in partition and key order,
    /// changing it in place (no copy, no second lookup): for a batch-end pass such as publishing
    /// one output per changed key.
    @inlinable
    public func updateChanged(_ body: (Int32, String, inout Value) throws -> Void) rethrows {
        for (partition, keys) in changesInOrder() {
            for key in keys {
                guard let index = cache[partition]?.index(forKey: key) else { continue }  // deleted
                try body(partition, key, &cache[partition]!.values[index].value)
            }
        }
    }

    /// Runs `body` on every value put since the last ``takeChanges()``, in partition and key order,
    /// reading it where it lives: a batch-end pass that only reads (one output per changed key)
    /// does not copy each value out of the cache, as `get` must. `body` runs inside the store's
    /// access to its cache, so it must not call this store (Swift's exclusivity check stops the
    /// process); collect what it needs first.
    @inlinable
    public func forEachChanged(_ body: (Int32, String, borrowing Value) throws -> Void) rethrows {
        try updateChanged { partition, key, value in try body(partition, key, value) }
    }

    /// The keys put or deleted since the last ``takeChanges()``, in partition and key order.
    public var changedKeys: [(partition: Int32, key: String)] {
        changesInOrder().flatMap { entry in entry.keys.map { (entry.partition, $0) } }
    }

    /// Every key of a partition, in key order (``StateKeyOrder``, deterministic): the backend's
    /// keys, which it gives in that order, merged with the keys only cached so far (new this
    /// batch). Keys are compared as bytes, as the backends do, so two ids that differ only by
    /// Unicode normalization stay two keys.
    public func keys(_ partition: Int32) -> [String] {
        var stored: [String] = []
        bytes.forEachStored(partition) { key, _ in stored.append(key) }
        let extra = onlyCachedKeys(partition, after: nil)
        guard !extra.isEmpty else { return stored }
        var merged: [String] = []
        merged.reserveCapacity(stored.count + extra.count)
        var i = 0
        for key in stored {
            while i < extra.count, StateKeyOrder.precedes(extra[i], key) { merged.append(extra[i]); i += 1 }
            merged.append(key)
        }
        merged.append(contentsOf: extra[i...])
        return merged
    }

    /// The partition's keys that are cached but not in the backend yet (new this batch), after
    /// `start` when given, in key order: what ``keys(_:)`` and ``forEach(_:after:limit:_:)`` merge
    /// into the backend's ordered keys.
    private func onlyCachedKeys(_ partition: Int32, after start: String?) -> [String] {
        guard let table = cache[partition], !table.isEmpty else { return [] }
        return table.keys.filter { key in
            (start.map { StateKeyOrder.precedes($0, key) } ?? true) && bytes.get(partition, key) == nil
        }.sorted(by: StateKeyOrder.precedes)
    }

    /// Every value of a partition in key order (``StateKeyOrder``), decoded without filling the
    /// cache and read from the backend as it goes: a pass over a whole partition never holds a
    /// million values, or a million keys, at once.
    public func forEach(_ partition: Int32, _ body: (String, Value) throws -> Void) throws {
        _ = try forEach(partition, after: nil, limit: .max, body)
    }

    /// Part of a pass over a partition in key order: the values after `start` (from the first when
    /// nil), about `limit` of them. Returns the key to start the next part after, or nil when the
    /// partition is done. Values written since the last part are seen as they are now.
    public func forEach(_ partition: Int32, after start: String?, limit: Int, _ body: (String, Value) throws -> Void) throws -> String? {
        let table = cache[partition] ?? [:]
        // Values only cached so far (new this batch) are merged into the stored sequence in order.
        let onlyCached = onlyCachedKeys(partition, after: start)
        var next = 0
        var stored = 0
        var last: String?
        try bytes.forEachStored(partition, after: start, limit: limit) { key, value in
            while next < onlyCached.count, StateKeyOrder.precedes(onlyCached[next], key) {
                try body(onlyCached[next], table[onlyCached[next]]!.value)
                next += 1
            }
            if let cached = table[key] {
                try body(key, cached.value)
            } else {
                try body(key, try decode(value, partition, key))
            }
            stored += 1
            last = key
        }
        // A full part may have more after it; the cached-only keys past its last key wait for it.
        if stored == limit, let last { return last }
        for key in onlyCached[next...] { try body(key, table[key]!.value) }
        return nil
    }

    /// Encodes every changed value once, stores its bytes, and returns the changelog records in
    /// partition and key order (tombstones for deletes).
    public func takeChanges() -> [ProducerRecord] {
        var records: [ProducerRecord] = []
        bytes.writing {
        for (partition, keys) in changesInOrder() {
            records.reserveCapacity(records.count + keys.count)
            for key in keys {
                let value: [UInt8]?
                if let index = cache[partition]?.index(forKey: key) {
                    let encoded = Entry.settle(&cache[partition]!.values[index])
                    bytes.store(partition, key, encoded)
                    value = encoded
                } else {
                    value = bytes.get(partition, key)  // nil when deleted: a tombstone, which compaction removes
                }
                records.append(ProducerRecord(topic: changelogTopic, partition: partition, key: Array(key.utf8), value: value))
            }
            bytes.changelogRecordsWritten(partition, count: keys.count)
        }
        }
        changed.removeAll(keepingCapacity: true)
        ordered = nil
        if cachePolicy == .perBatch {
            // Each partition's table keeps its capacity: the next batch touches about as many keys,
            // and regrowing the table from empty every batch was a measured cost (rehashing). Not a
            // large one, though: a pass over every user (the scorer's daily re-evaluation) fills
            // each partition's table in turn, and keeping them all would hold room for every user.
            // The keys are copied out first: iterating `cache.keys` while changing `cache` keeps a
            // second reference to every table, so each `removeAll` copied its table to fresh,
            // unfaulted memory instead of emptying it in place.
            for partition in Array(cache.keys) {
                cache[partition]!.removeAll(keepingCapacity: cache[partition]!.capacity <= Self.keptCacheCapacity)
            }
        }
        return records
    }

    /// Restores the assigned partitions of `topic` that this store does not hold yet (see
    /// ``ChangelogStore/restoreNewlyAssigned(_:reader:logger:noun:)``).
    @discardableResult
    public func restoreNewlyAssigned(_ assigned: [TopicPartition], of topic: String, reader: ChangelogReader, logger: Logger, noun: String) throws -> [Int32] {
        try bytes.restoreNewlyAssigned(assigned.filter { $0.topic == topic }, reader: reader, logger: logger, noun: noun)
    }

    /// Forgets the revoked partitions of `topic`. `cleanly`: the pipeline acknowledged every
    /// changelog record first, so a disk backend keeps a checkpoint (``RecordProcessor/partitionsRevoked(_:cleanly:)``).
    public func drop(_ revoked: [TopicPartition], of topic: String, cleanly: Bool = false) {
        let partitions = revoked.filter { $0.topic == topic }.map(\.partition)
        bytes.drop(partitions, cleanly: cleanly)
        for partition in partitions {
            cache[partition] = nil
            changed[partition] = nil
        }
        ordered = nil
    }
}
