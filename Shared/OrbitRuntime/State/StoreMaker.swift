import Synchronization

/// Makes a processor's keyed stores with the backend the configuration names (`state.store`). A
/// processor gets one from the runtime (``StageContext/stores``), which then checks that the
/// stores it made are the ones its stage declares: a store made any other way would ignore
/// `state.store`, and a declared store never made would promise one that does not exist.
/// ``memory`` is for a processor built directly (tests, tools).
public struct StoreMaker: Sendable {
    public let backend: StateStoreKind
    let made: MadeStores?

    public init(backend: StateStoreKind) {
        self.backend = backend
        made = nil
    }

    init(backend: StateStoreKind, recordingInto made: MadeStores) {
        self.backend = backend
        self.made = made
    }

    public static let memory = StoreMaker(backend: .memory)

    /// The store whose changelog is `changelogTopic`, kept in the configured backend.
    public func store<Value: StateCodable>(_ changelogTopic: String, cachePolicy: KeyedStore<Value>.CachePolicy) -> KeyedStore<Value> {
        made?.record(changelogTopic)
        return KeyedStore(changelogTopic: changelogTopic, cachePolicy: cachePolicy, backend: backend)
    }
}

/// The changelog topics of the stores one processor made (see ``StoreMaker``).
final class MadeStores: Sendable {
    private let topics = Mutex<[String]>([])
    func record(_ topic: String) { topics.withLock { $0.append(topic) } }
    var all: [String] { topics.withLock { $0 } }
}
