import Logging
import Metrics
import OrbitContract
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
/// Erasure, for a stage that declares it (``StageDeclaration/erasesFrom``): a privacy request read
/// from that input (marked `privacy_request`) is never the processor's to handle whole. The
/// runtime reads it (one that does not read is a dead letter), lets the processor add its part
/// (``RecordProcessor/erase(_:partition:erasure:outputs:)``), deletes the user from every store
/// keyed by user (their tombstones go to the changelogs with the batch), and writes the receipt,
/// named by the pseudonym, with the request record's time, so a replay writes the same bytes.
///
/// Every other call goes straight to the processor.
public final class StageProcessor: RecordProcessor {
    /// The processor whose stores are kept.
    public let processor: any RecordProcessor
    public var queries: [KeyQuery] { processor.queries }
    private let stores: [(store: any StateStore, partitionedLike: String)]
    private let logger: Logger
    private let ticks: Ticks?
    /// The tick topic's partitions this instance owns, and the last time a tick was written.
    private var tickPartitions: Set<Int32> = []
    private var lastTickMillis: Int64 = .min

    private let erasing: (settings: Erasing, userStores: [any StateStore], erased: Counter)?
    /// The topics every record is checked against, kept apart: binding `erasing` or `ticks` for
    /// each record copied and released their whole settings (measured: 4 % of notify's CPU).
    private let erasingTopic: String?
    private let tickTopic: String?
    /// The kind header's value that marks a privacy request, as bytes, made once: every record of
    /// an erasing stage's input is checked.
    private static let privacyRequestKind = Array(PrivacyRequest.inputKind.utf8)

    /// Where a stage's privacy requests arrive, the stores keyed by user (their changelog topics),
    /// and what a receipt needs: the pseudonym key and receipts topic, the service's name.
    public struct Erasing {
        public let topic: String
        public let userStores: [String]
        public let privacy: PrivacySettings
        public let service: String
        public let deadLetters: DeadLetters
        public init(topic: String, userStores: [String], privacy: PrivacySettings, service: String, deadLetters: DeadLetters) {
            self.topic = topic
            self.userStores = userStores
            self.privacy = privacy
            self.service = service
            self.deadLetters = deadLetters
        }
    }

    /// Where a stage's clock ticks go (``StageDeclaration/ticksInto``), and where a tick that does
    /// not read goes instead of the processor.
    public struct Ticks {
        public let topic: String
        public let deadLetters: DeadLetters
        /// With a stream clock: every record read moves it.
        public let streamTime: StreamTime?
        public init(topic: String, deadLetters: DeadLetters, streamTime: StreamTime? = nil) {
            self.topic = topic
            self.deadLetters = deadLetters
            self.streamTime = streamTime
        }
    }

    /// Keeps `stores` for `processor`; a store's partitions are those of `partitionedLike`, the
    /// input its keys are placed by.
    /// Fails when `erasing` names a store that is not among `stores`.
    public init(_ processor: any RecordProcessor, stores: [(store: any StateStore, partitionedLike: String)], ticks: Ticks? = nil,
                erasing: Erasing? = nil, logger: Logger) {
        self.processor = processor
        self.stores = stores
        self.ticks = ticks
        self.tickTopic = ticks?.topic
        self.erasingTopic = erasing?.topic
        self.erasing = erasing.map { erasing in
            let userStores = erasing.userStores.map { topic in
                guard let store = stores.first(where: { $0.store.changelogTopic == topic })?.store else {
                    preconditionFailure("the store \(topic) erased for users is not one the processor made")
                }
                return store
            }
            return (erasing, userStores, Counter(label: "orbit_privacy_erasures_total", dimensions: [("service", erasing.service)]))
        }
        self.logger = logger
    }

    /// Keeps the stores `maker` made for `processor` as `declared` declares them: the two must
    /// name the same changelogs (``ServiceTopology/UndeclaredStores``).
    public convenience init(_ processor: any RecordProcessor, madeBy maker: StoreMaker, declared: [StoreDeclaration], stage: String = "",
                            ticks: Ticks? = nil, erasing: Erasing? = nil, logger: Logger) throws {
        let byTopic = Dictionary(declared.map { ($0.changelogTopic, $0) }, uniquingKeysWith: { first, _ in first })
        guard maker.madeTopics.sorted() == declared.map(\.changelogTopic).sorted(), byTopic.count == declared.count else {
            throw ServiceTopology.UndeclaredStores(stage: stage, declared: declared.map(\.changelogTopic).sorted(), made: maker.madeTopics.sorted())
        }
        let made = Dictionary(maker.made.map { ($0.changelogTopic, $0) }, uniquingKeysWith: { first, _ in first })
        self.init(processor, stores: declared.map { (made[$0.changelogTopic]!, $0.partitionedLike) }, ticks: ticks, erasing: erasing, logger: logger)
    }

    /// Keeps every store `maker` made for `processor`, all partitioned like `partitionedLike`: for a
    /// processor a tool or a test makes without a stage declaration.
    public convenience init(_ processor: any RecordProcessor, madeBy maker: StoreMaker, partitionedLike topic: String, ticks: Ticks? = nil,
                            erasing: Erasing? = nil, logger: Logger = Logger(label: "orbit.stores")) {
        self.init(processor, stores: maker.made.map { ($0, topic) }, ticks: ticks, erasing: erasing, logger: logger)
    }

    /// The processor `make` makes with a new ``StoreMaker`` of `backend`, and that processor with
    /// its stores kept: for a tool or a test that runs a processor as the runtime does.
    public static func keeping<P: RecordProcessor>(backend: StateStoreKind = .memory, partitionedLike topic: String, ticks: Ticks? = nil,
                                                   erasing: Erasing? = nil, logger: Logger = Logger(label: "orbit.stores"),
                                                   _ make: (StoreMaker) throws -> P) rethrows -> (processor: P, kept: StageProcessor) {
        let maker = StoreMaker(backend: backend)
        let processor = try make(maker)
        return (processor, StageProcessor(processor, madeBy: maker, partitionedLike: topic, ticks: ticks, erasing: erasing, logger: logger))
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
        if record.topic == erasingTopic, record.header(InputKindHeader.name) == Self.privacyRequestKind, let erasing {
            return try erase(record, erasing.settings, userStores: erasing.userStores, outputs: &outputs)
        }
        ticks?.streamTime?.observe(record.timestampMillis)
        guard record.topic == tickTopic, ClockTick.isTick(record), let ticks else {
            return try processor.process(record, context: context, outputs: &outputs)
        }
        guard let time = ClockTick.time(of: record) else {
            return outputs.append(ticks.deadLetters.record(for: record, .undecodableRecord, "not a tick"))
        }
        try processor.tick(partition: record.partition, at: time, context: context, outputs: &outputs)
    }

    private func erase(_ record: ConsumerRecord, _ erasing: Erasing, userStores: [any StateStore], outputs: inout [ProducerRecord]) throws {
        guard let request = PrivacyRequest.read(record, deadLetters: erasing.deadLetters, outputs: &outputs) else { return }
        var erasure = Erasure(request, pseudonymizer: erasing.privacy.pseudonymizer, service: erasing.service,
                              timeMillis: record.timestampMillis ?? request.requestedAtMillis)
        try processor.erase(request.userID, partition: record.partition, erasure: &erasure, outputs: &outputs)
        for store in userStores {
            store.delete(record.partition, request.userID)
            erasure.storeTombstone(store.changelogTopic)
        }
        erasure.note(Erasure.retentionNote)
        outputs.append(erasure.receipt(topic: erasing.privacy.receiptsTopic))
        self.erasing?.erased.increment()
    }

    public func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws {
        try processor.flush(context: context, outputs: &outputs, deliver: deliver)
    }

    public func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        // A stream clock has no time before its first record: no tick then.
        if let ticks, context.nowMillis > lastTickMillis, ticks.streamTime.map({ $0.now != nil }) ?? true {
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
