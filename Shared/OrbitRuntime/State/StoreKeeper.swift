import Logging
import OrbitKafka

/// A processor and the stores it made (``StoreMaker``), the stores' life kept by the runtime as
/// Kafka Streams keeps a processor's state stores, so no processor repeats it:
/// - on assignment, each store restores the partitions it does not hold yet from its changelog
///   (or a disk checkpoint) before the processor hears of them, so no record of theirs is
///   processed first;
/// - on revocation, the processor hears first, then each store drops them (a disk store keeps a
///   checkpoint when the hand-over was clean);
/// - at each batch's end, each store's changes go to its changelog, in the order the stores were
///   declared, before the processor's own (``RecordProcessor/takeStateChanges()``, for state it
///   keeps outside a store).
///
/// Every other call goes straight to the processor.
public final class StoreKeeper: RecordProcessor {
    /// The processor whose stores are kept.
    public let processor: any RecordProcessor
    private let stores: [(store: any StateStore, partitionedLike: String)]
    private let logger: Logger

    /// Keeps `stores` for `processor`; a store's partitions are those of `partitionedLike`, the
    /// input its keys are placed by.
    public init(_ processor: any RecordProcessor, stores: [(store: any StateStore, partitionedLike: String)], logger: Logger) {
        self.processor = processor
        self.stores = stores
        self.logger = logger
    }

    /// Keeps the stores `maker` made for `processor` as `declared` declares them: the two must
    /// name the same changelogs (``ServiceTopology/UndeclaredStores``).
    public convenience init(_ processor: any RecordProcessor, madeBy maker: StoreMaker, declared: [StoreDeclaration], stage: String = "",
                            logger: Logger) throws {
        let byTopic = Dictionary(declared.map { ($0.changelogTopic, $0) }, uniquingKeysWith: { first, _ in first })
        guard maker.madeTopics.sorted() == declared.map(\.changelogTopic).sorted(), byTopic.count == declared.count else {
            throw ServiceTopology.UndeclaredStores(stage: stage, declared: declared.map(\.changelogTopic).sorted(), made: maker.madeTopics.sorted())
        }
        let made = Dictionary(maker.made.map { ($0.changelogTopic, $0) }, uniquingKeysWith: { first, _ in first })
        self.init(processor, stores: declared.map { (made[$0.changelogTopic]!, $0.partitionedLike) }, logger: logger)
    }

    /// Keeps every store `maker` made for `processor`, all partitioned like `partitionedLike`: for a
    /// processor a tool or a test makes without a stage declaration.
    public convenience init(_ processor: any RecordProcessor, madeBy maker: StoreMaker, partitionedLike topic: String,
                            logger: Logger = Logger(label: "orbit.stores")) {
        self.init(processor, stores: maker.made.map { ($0, topic) }, logger: logger)
    }

    /// The processor `make` makes with a new ``StoreMaker`` of `backend`, and that processor with
    /// its stores kept: for a tool or a test that runs a processor as the runtime does.
    public static func keeping<P: RecordProcessor>(backend: StateStoreKind = .memory, partitionedLike topic: String,
                                                   logger: Logger = Logger(label: "orbit.stores"),
                                                   _ make: (StoreMaker) throws -> P) rethrows -> (processor: P, kept: StoreKeeper) {
        let maker = StoreMaker(backend: backend)
        let processor = try make(maker)
        return (processor, StoreKeeper(processor, madeBy: maker, partitionedLike: topic, logger: logger))
    }

    public func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {
        for (store, topic) in stores {
            try store.restoreNewlyAssigned(partitions, of: topic, reader: restorer, logger: logger, noun: "keys of \(store.changelogTopic)")
        }
        try processor.partitionsAssigned(partitions, restorer: restorer)
    }

    public func partitionsRevoked(_ partitions: [TopicPartition]) { partitionsRevoked(partitions, cleanly: false) }

    public func partitionsRevoked(_ partitions: [TopicPartition], cleanly: Bool) {
        processor.partitionsRevoked(partitions, cleanly: cleanly)
        for (store, topic) in stores { store.drop(partitions, of: topic, cleanly: cleanly) }
    }

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        try processor.process(record, context: context, outputs: &outputs)
    }

    public func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws {
        try processor.flush(context: context, outputs: &outputs, deliver: deliver)
    }

    public func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        try processor.punctuate(context: context, outputs: &outputs)
    }

    public var hasPendingPunctuation: Bool { processor.hasPendingPunctuation }

    public func continuePunctuation(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        try processor.continuePunctuation(context: context, outputs: &outputs)
    }

    public func takeStateChanges() -> [ProducerRecord] {
        var changes: [ProducerRecord] = []
        for (store, _) in stores { changes += store.takeChanges() }
        return changes + processor.takeStateChanges()
    }
}
