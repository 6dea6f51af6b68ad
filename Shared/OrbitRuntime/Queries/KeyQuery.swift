import Foundation
import OrbitKafka

/// A lookup of one key that a service answers over its HTTP port from one of its keyed stores,
/// as Kafka Streams' interactive queries do: `GET <prefix><key><suffix>` (`/v1/users/ada`,
/// `/v1/users/ada/inbox`).
///
/// A processor offers its queries (``RecordProcessor/queries``); each stream thread's processor
/// answers for the partitions its stores hold. The runtime routes a request to the thread holding
/// the key's partition, checks the bearer token, and answers 503 while no thread here holds it
/// (restoring, or assigned to another instance). Answers are read from the store's backend from
/// the HTTP server's threads (``StoreReader``), never from the pipeline's cache: what a batch
/// wrote is visible once its changes are taken, as Kafka Streams' stores show what was flushed.
public struct KeyQuery: Sendable {
    public var prefix: String
    public var suffix: String
    /// What the answer is, for the route list and errors ("profile", "inbox").
    public var noun: String
    /// The input topic whose partitions the store follows: the instance assigned the key's
    /// partition of it holds the answer (``InstanceRegistry``).
    public var topic: String
    /// The key's partition among the store's partitions (murmur2, as every Orbit producer places keys).
    public var partitionCount: Int
    /// The answer for `key` from this thread's store; nil when its partition is not held here.
    public var answer: @Sendable (_ key: String) -> KeyAnswer?

    public init(prefix: String, suffix: String = "", noun: String, topic: String, partitionCount: Int, answer: @escaping @Sendable (_ key: String) -> KeyAnswer?) {
        precondition(prefix.hasPrefix("/") && prefix.hasSuffix("/"), "a query's prefix is a path ending in /")
        self.prefix = prefix
        self.suffix = suffix
        self.noun = noun
        self.topic = topic
        self.partitionCount = partitionCount
        self.answer = answer
    }

    /// The key in a request's path as sent (escapes kept) when the path is this query's route:
    /// what lies between the prefix and the suffix, one path segment, not empty, its escapes then
    /// decoded. A key may hold any character an identifier may, `/` included (sent as `%2F`).
    public func key(in rawPath: String) -> String? {
        guard rawPath.hasPrefix(prefix), rawPath.hasSuffix(suffix), rawPath.count > prefix.count + suffix.count else { return nil }
        let segment = String(rawPath.dropFirst(prefix.count).dropLast(suffix.count))
        guard !segment.contains("/"), let key = segment.removingPercentEncoding, !key.isEmpty else { return nil }
        return key
    }

    /// The partition `key` belongs to.
    public func partition(of key: String) -> Int32 {
        KeyPartitioner.partition(of: Array(key.utf8), partitionCount: partitionCount)
    }
}

/// What a thread's store says about a key it holds.
public enum KeyAnswer: Sendable, Equatable {
    /// The answer's JSON.
    case found([UInt8])
    case notFound
    /// The stored bytes do not decode (the pipeline stops the service on the same bytes).
    case unreadable(String)
}

/// Reads a keyed store's values from any thread: the bytes its backend holds as of the last batch
/// whose changes were taken, decoded on the reading thread.
public struct StoreReader<Value: StateCodable>: Sendable {
    let bytes: any StateBytesReader
    public let partitionCount: Int

    /// The value of `key`, or nil when its partition is held and has none; nil for the whole
    /// result when the partition is not held here.
    public func read(_ key: String) -> Result<Value?, UnreadableState>? {
        let partition = KeyPartitioner.partition(of: Array(key.utf8), partitionCount: partitionCount)
        switch bytes.read(partition, key) {
        case .notHeld: return nil
        case .absent: return .success(nil)
        case .value(let stored):
            do {
                return .success(try Value(stateBytes: stored))
            } catch {
                return .failure(UnreadableState(store: "query", partition: partition, key: key, reason: "\(error)"))
            }
        }
    }
}

extension KeyedStore {
    /// A reader of this store for queries, placing keys among `partitionCount` partitions.
    public func reader(partitionCount: Int) -> StoreReader<Value> {
        StoreReader(bytes: bytes.queryReader, partitionCount: partitionCount)
    }
}

extension StoreReader {
    /// The answer to a query from a value: `render` makes its JSON; an absent key is not found.
    public func answer(_ key: String, _ render: (Value) -> [UInt8]?) -> KeyAnswer? {
        switch read(key) {
        case nil: return nil
        case .success(nil): return .notFound
        case .success(let value?): return render(value).map(KeyAnswer.found) ?? .notFound
        case .failure(let error): return .unreadable(error.reason)
        }
    }
}
