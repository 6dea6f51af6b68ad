import Logging
import OrbitKafka

/// Makes a processor's keyed stores with the backend the configuration names (`state.store`), and
/// remembers them: whoever made the processor through a maker (the runtime, the test kit, a
/// bench) hands it to ``StageProcessor``, which keeps each store's life (restore on assignment, drop
/// on revocation, the changelog at each batch's end), so a processor only reads and writes them.
///
/// The runtime's maker comes with ``StageContext/stores``; the runtime then checks that the
/// stores made are the ones the stage declares: a store made any other way would ignore
/// `state.store`, and a declared store never made would promise one that does not exist.
public final class StoreMaker {
    public let backend: StateStoreKind
    /// The stores made so far, in the order they were made.
    public private(set) var made: [any StateStore] = []

    public init(backend: StateStoreKind) {
        self.backend = backend
    }

    /// A new maker of stores kept in memory: for a processor built directly (tests, tools).
    public static var memory: StoreMaker { StoreMaker(backend: .memory) }

    /// The store whose changelog is `changelogTopic`, kept in the configured backend.
    public func store<Value: StateCodable>(_ changelogTopic: String, cachePolicy: KeyedStore<Value>.CachePolicy) -> KeyedStore<Value> {
        let store = KeyedStore<Value>(changelogTopic: changelogTopic, cachePolicy: cachePolicy, backend: backend)
        made.append(store)
        return store
    }

    /// The changelog topics of the stores made so far.
    public var madeTopics: [String] { made.map(\.changelogTopic) }
}

/// What the runtime does with a store over its life, whatever its value type (``KeyedStore``).
public protocol StateStore: AnyObject {
    var changelogTopic: String { get }
    /// Restores the assigned partitions of `topic` the store does not hold yet; returns them.
    @discardableResult
    func restoreNewlyAssigned(_ assigned: [TopicPartition], of topic: String, reader: ChangelogReader, logger: Logger, noun: String) throws -> [Int32]
    /// Forgets the revoked partitions of `topic` (a disk store keeps a checkpoint when `cleanly`).
    func drop(_ revoked: [TopicPartition], of topic: String, cleanly: Bool)
    /// The changes since the last call, as changelog records.
    func takeChanges() -> [ProducerRecord]
    /// Deletes `key`'s value (a tombstone in the changelog).
    func delete(_ partition: Int32, _ key: String)
}

extension KeyedStore: StateStore {}
