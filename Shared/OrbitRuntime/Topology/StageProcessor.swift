import Logging
import OrbitKafka

/// A processor as the runtime runs it: its stores' life kept, and its clock ticks written and
/// read, so no processor repeats either.
///
/// The stores a processor made (``StoreMaker``), as Kafka Streams keeps a processor's state stores:
/// - on assignment, each store restores the partitions it does not hold yet from its changelog
///   (or a disk checkpoint) before the processor hears of them, so no record of theirs is
///   processed first;
/// - on revocation, the processor hears first, then each store drops them (a disk store keeps a
///   checkpoint when the hand-over was clean);
/// - at each batch's end, each store's changes go to its changelog, in the order the stores were
///   declared, before the processor's own (``RecordProcessor/takeStateChanges()``, for state it
///   keeps outside a store).
///
/// Clock ticks (``ClockTick``), for a stage that declares them: each punctuation writes a tick into
/// every owned partition of the tick topic (once per clock reading: a clock that stands still, such
/// as `fixed_now`, ticks once), then runs the processor's own punctuation; a tick read from that
/// topic calls the processor's ``RecordProcessor/tick(partition:at:context:outputs:)`` instead of
/// `process`, and one whose value does not read is a dead letter.
///
/// Every other call goes straight to the processor.
public final class StageProcessor: RecordProcessor {
    /// The processor whose stores are kept.
    public let processor: any RecordProcessor
    private let stores: [(store: any StateStore, partitionedLike: String)]
    private let logger: Logger
    private let ticks: Ticks?
    /// The tick topic's partitions this instance owns, and the last time a tick was written.
    private var tickPartitions: Set<Int32> = []
    private var lastTickMillis: Int64 = .min

    /// Where a stage's clock ticks go (``StageDeclaration/ticksInto``), and where a tick that does
    /// not read goes instead of the processor.
    public struct Ticks {
        public let topic: String
        public let deadLetters: DeadLetters
        public init(topic: String, deadLetters: DeadLetters) {
            self.topic = topic
            self.deadLetters = deadLetters
        }
    }

    /// Keeps `stores` for `processor`; a store's partitions are those of `partitionedLike`, the
    /// input its keys are placed by.
    public init(_ processor: any RecordProcessor, stores: [(store: any StateStore, partitionedLike: String)], ticks: Ticks? = nil, logger: Logger) {
        self.processor = processor
        self.stores = stores
        self.ticks = ticks
        self.logger = logger
    }

    /// Keeps the stores `maker` made for `processor` as `declared` declares them: the two must
    /// name the same changelogs (``ServiceTopology/UndeclaredStores``).
    public convenience init(_ processor: any RecordProcessor, madeBy maker: StoreMaker, declared: [StoreDeclaration], stage: String = "",
                            ticks: Ticks? = nil, logger: Logger) throws {
        let byTopic = Dictionary(declared.map { ($0.changelogTopic, $0) }, uniquingKeysWith: { first, _ in first })
        guard maker.madeTopics.sorted() == declared.map(\.changelogTopic).sorted(), byTopic.count == declared.count else {
            throw ServiceTopology.UndeclaredStores(stage: stage, declared: declared.map(\.changelogTopic).sorted(), made: maker.madeTopics.sorted())
        }
        let made = Dictionary(maker.made.map { ($0.changelogTopic, $0) }, uniquingKeysWith: { first, _ in first })
        self.init(processor, stores: declared.map { (made[$0.changelogTopic]!, $0.partitionedLike) }, ticks: ticks, logger: logger)
    }

    /// Keeps every store `maker` made for `processor`, all partitioned like `partitionedLike`: for a
    /// processor a tool or a test makes without a stage declaration.
    public convenience init(_ processor: any RecordProcessor, madeBy maker: StoreMaker, partitionedLike topic: String, ticks: Ticks? = nil,
                            logger: Logger = Logger(label: "orbit.stores")) {
        self.init(processor, stores: maker.made.map { ($0, topic) }, ticks: ticks, logger: logger)
    }

    /// The processor `make` makes with a new ``StoreMaker`` of `backend`, and that processor with
    /// its stores kept: for a tool or a test that runs a processor as the runtime does.
    public static func keeping<P: RecordProcessor>(backend: StateStoreKind = .memory, partitionedLike topic: String, ticks: Ticks? = nil,
                                                   logger: Logger = Logger(label: "orbit.stores"),
                                                   _ make: (StoreMaker) throws -> P) rethrows -> (processor: P, kept: StageProcessor) {
        let maker = StoreMaker(backend: backend)
        let processor = try make(maker)
        return (processor, StageProcessor(processor, madeBy: maker, partitionedLike: topic, ticks: ticks, logger: logger))
    }

    public func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {
        for (store, topic) in stores {
            try store.restoreNewlyAssigned(partitions, of: topic, reader: restorer, logger: logger, noun: "keys of \(store.changelogTopic)")
        }
        if let ticks { tickPartitions.formUnion(partitions.filter { $0.topic == ticks.topic }.map(\.partition)) }
        try processor.partitionsAssigned(partitions, restorer: restorer)
    }

    public func partitionsRevoked(_ partitions: [TopicPartition]) { partitionsRevoked(partitions, cleanly: false) }

    public func partitionsRevoked(_ partitions: [TopicPartition], cleanly: Bool) {
        if let ticks { tickPartitions.subtract(partitions.filter { $0.topic == ticks.topic }.map(\.partition)) }
        processor.partitionsRevoked(partitions, cleanly: cleanly)
        for (store, topic) in stores { store.drop(partitions, of: topic, cleanly: cleanly) }
    }

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        guard let ticks, record.topic == ticks.topic, ClockTick.isTick(record) else {
            return try processor.process(record, context: context, outputs: &outputs)
        }
        guard let time = ClockTick.time(of: record) else {
            return outputs.append(ticks.deadLetters.record(for: record, .undecodableRecord, "not a tick"))
        }
        try processor.tick(partition: record.partition, at: time, context: context, outputs: &outputs)
    }

    public func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws {
        try processor.flush(context: context, outputs: &outputs, deliver: deliver)
    }

    public func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        if let ticks, context.nowMillis > lastTickMillis {
            lastTickMillis = context.nowMillis
            for partition in tickPartitions.sorted() {
                outputs.append(ClockTick.record(topic: ticks.topic, partition: partition, at: context.nowMillis))
            }
        }
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
