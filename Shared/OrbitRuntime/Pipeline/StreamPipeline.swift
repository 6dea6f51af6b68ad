import Foundation
import Logging
import Metrics
import OrbitKafka

/// The consume-process-produce-commit loop every Orbit service runs.
///
/// A batch is at most `maxBatchRecords` records or `maxBatchWait` long. Records are processed as
/// they arrive and their outputs sent at once; at the end of a batch the pipeline
/// - at least once: seals the batch and goes on reading. A sealed batch's state changes are written
///   once all its outputs are acknowledged, and its input offsets are committed once those are
///   too; batches commit strictly in order, and at most `maxInFlightBatches` wait at once. A crash
///   anywhere before a commit replays from the last commit; deterministic processors make the
///   replay repeat identical records only. Waiting for acknowledgements without stopping the
///   reading keeps broker round trips off the throughput.
/// - exactly once: outputs, state changes and input offsets go in one transaction per batch.
///
/// On a rebalance the in-flight batch is completed and committed inside the revocation, before the
/// partitions move, so the next owner starts exactly where this one stopped.
public final class StreamPipeline: RebalanceListener {
    public struct Settings: Sendable {
        public var groupID: String
        public var inputTopics: [String]
        public var runtime: RuntimeSettings
        /// Required for exactly-once; must be stable per instance (e.g. the pod name).
        public var transactionalID: String?
        /// How often `punctuate` runs; nil: never.
        public var punctuationInterval: Duration?
        /// The one clock processors are given, epoch milliseconds: the wall clock, or a fixed time
        /// (`fixed_now`, see ``ProcessorSettings``) for tests and reproducible backfills.
        public var clock: @Sendable () -> Int64
        /// Topics read whole by every instance, brought up to date before each punctuation.
        public var globalTables: [GlobalTableRegistration]

        public init(groupID: String, inputTopics: [String], runtime: RuntimeSettings, transactionalID: String? = nil,
                    punctuationInterval: Duration? = nil, clock: @escaping @Sendable () -> Int64 = StreamPipeline.wallClock,
                    globalTables: [GlobalTableRegistration] = []) {
            self.groupID = groupID
            self.inputTopics = inputTopics
            self.runtime = runtime
            self.transactionalID = transactionalID
            self.punctuationInterval = punctuationInterval
            self.clock = clock
            self.globalTables = globalTables
        }
    }

    let settings: Settings
    let processor: any RecordProcessor
    /// The lookups the processor answers over the HTTP port (read once, before the pipeline runs).
    public var queries: [KeyQuery] { processor.queries }
    let logger: Logger
    public let status: PipelineStatus

    private var consumer: KafkaConsumer!
    private var globalTables: [GlobalTableFeed] = []
    private var lastHealthCheck = ContinuousClock.now
    /// Time the pipeline thread spent waiting while it had work open, logged at stop: the first
    /// thing to look at when a service is slow but not busy.
    private var waits = (records: Duration.zero, acknowledgements: Duration.zero)
    /// When commits started failing with retriable errors (nil: the last one worked).
    private var commitFailingSince: ContinuousClock.Instant?
    private var lastCommitWarning = ContinuousClock.now - .seconds(60)
    private var lastCommitAttempt = ContinuousClock.now
    /// How long a blocking wait retries a failing commit before the pipeline gives up (a restart
    /// then replays from the last commit).
    static let commitRetryLimit: Duration = .seconds(120)
    private var producer: KafkaProducer!
    private var batch = DeliveryBatch()
    /// Sealed at-least-once batches waiting for acknowledgements, oldest first.
    private var inFlight: [SealedBatch] = []
    private var pendingOffsets: [TopicPartition: Int64] = [:]
    /// The offset each assigned partition's latest sealed batch commits (or committed).
    private var sealedOffsets: [TopicPartition: Int64] = [:]
    private var batchRecords = 0
    /// A batch is open from its first record (or punctuation output) until it is sealed.
    private var batchOpen = false
    private var batchStarted = ContinuousClock.now
    /// The runtime clock read once when the batch opened: every record of a batch sees one time.
    private var batchClock: Int64 = 0
    private var inTransaction = false
    private var outputs: [ProducerRecord] = []
    private var lastPunctuation = ContinuousClock.now
    public static let wallClock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    /// A failure inside a rebalance callback, which cannot throw; rethrown by the loop.
    private var callbackFailure: (any Error)?

    private let recordsIn: Counter
    private let recordsOut: Counter
    private let batchTimer: Metrics.Timer
    private let assignedGauge: Gauge
    private var lag: ConsumerLagGauges

    public init(settings: Settings, processor: any RecordProcessor, logger: Logger, status: PipelineStatus = PipelineStatus()) {
        self.settings = settings
        self.processor = processor
        self.logger = logger
        self.status = status
        let service = settings.runtime.serviceName
        recordsIn = Counter(label: "orbit_pipeline_records_in_total", dimensions: [("service", service)])
        recordsOut = Counter(label: "orbit_pipeline_records_out_total", dimensions: [("service", service)])
        batchTimer = Metrics.Timer(label: "orbit_pipeline_batch_duration_seconds", dimensions: [("service", service)], preferredDisplayUnit: .seconds)
        assignedGauge = Gauge(label: "orbit_pipeline_assigned_partitions", dimensions: [("service", service)])
        lag = ConsumerLagGauges(group: settings.groupID)
    }

    /// Runs until `stop` is set, then finishes the batch, commits, leaves the group and returns.
    /// Throws on a failure that needs a restart (a fatal Kafka error, an output that could not be
    /// delivered): nothing was committed past what is safe, so a restart resumes correctly.
    public func run(until stop: StopSignal) throws {
        do {
            try start()
            status.update { $0.state = .running }
            try loop(until: stop)
            status.update { $0.state = .stopping }
            try drain()
            consumer.close()
            for table in globalTables { table.close() }
            if let callbackFailure { throw callbackFailure }
            producer.close()
            status.update { $0.state = .stopped }
            logger.info("pipeline stopped cleanly; while working it waited \(waits.records) for records and \(waits.acknowledgements) for acknowledgements (batches in flight at their limit)")
        } catch {
            // A client's own fatal error (a fenced producer, a broken idempotence sequence) explains
            // more than the symptom that surfaced it (a failed delivery, a refused send).
            let failure: any Error = fatalClientError ?? error
            status.update { $0.state = .failed; $0.failure = "\(failure)" }
            if let kafka = failure as? KafkaError, kafka.isFatal {
                logger.critical("pipeline failed: fatal Kafka error, this client cannot be used again (a restart makes a new one): \(kafka)")
            } else {
                logger.critical("pipeline failed: \(failure)")
            }
            throw failure
        }
    }

    /// Waits for a batch's acknowledgements (the producer retries by itself up to
    /// `message.timeout.ms`); `/health` sees the wait while it lasts.
    private func waitForAcknowledgements(_ batch: DeliveryBatch, of what: String) throws {
        if batch.isSettled { return try batch.waitForAll() }
        try blocked(on: "waiting for Kafka to acknowledge \(what)") { () throws(KafkaError) in try batch.waitForAll() }
    }

    /// Runs a call that may block on Kafka, marked in the status so `/health` can tell a call that
    /// lasts (Kafka out of reach) while the pipeline thread is still inside it.
    private func blocked<T, Failure: Error>(on what: String, _ body: () throws(Failure) -> T) throws(Failure) -> T {
        status.update { $0.blockedOn = (what, ContinuousClock.now) }
        defer { status.update { $0.blockedOn = nil } }
        return try body()
    }

    /// The fatal error the producer or consumer raised, if either did.
    private var fatalClientError: KafkaError? {
        (producer as KafkaProducer?)?.fatalError ?? (consumer as KafkaConsumer?)?.fatalError
    }

    private func start() throws {
        var producerProperties = settings.runtime.kafka.properties
        var consumerProperties = settings.runtime.kafka.properties
        consumerProperties["group.id"] = settings.groupID
        if settings.runtime.guarantee == .exactlyOnce {
            guard let transactionalID = settings.transactionalID else {
                throw KafkaError.configuration("exactly_once needs a transactional id (set ORBIT_INSTANCE_ID)")
            }
            producerProperties["transactional.id"] = transactionalID
            consumerProperties["isolation.level"] = "read_committed"
        }
        producer = try KafkaProducer(configuration: KafkaConfiguration(producerProperties), name: "\(settings.runtime.serviceName)-producer", logger: logger)
        if settings.runtime.guarantee == .exactlyOnce { try producer.initTransactions() }
        do {
            try producer.learnTopics(timeout: .seconds(2))
        } catch {
            logger.debug("topic metadata not learnt ahead of the first records (\(error)); librdkafka looks topics up as they are used")
        }
        consumer = try KafkaConsumer(configuration: KafkaConfiguration(consumerProperties), name: "\(settings.runtime.serviceName)-consumer", logger: logger, rebalanceListener: self)
        globalTables = try settings.globalTables.map { try GlobalTableFeed($0, kafka: settings.runtime.kafka, logger: logger) }
        try consumer.subscribe(settings.inputTopics)
        logger.info("pipeline started", metadata: ["group": "\(settings.groupID)", "topics": "\(settings.inputTopics.joined(separator: ","))", "guarantee": "\(settings.runtime.guarantee.rawValue)"])
    }

    private func loop(until stop: StopSignal) throws {
        let maxWait = settings.runtime.maxBatchWait
        // The clock is read once per turn (after the poll): at hundreds of thousands of records
        // a second, clock reads were a measurable share of the loop.
        var now = ContinuousClock.now
        while !stop.isSet {
            if let callbackFailure { throw callbackFailure }
            // With a batch open and sealing when drained, look without waiting: nothing queued
            // means the input is drained, and the batch ends now.
            let drainCheck = batchOpen && settings.runtime.sealWhenDrained
            // Work left by a punctuation is done between batches; an idle input must not slow it.
            let pendingPunctuation = processor.hasPendingPunctuation
            let timeout: Duration = !batchOpen ? (pendingPunctuation ? .zero : .milliseconds(100))
                : drainCheck ? .zero : max(.milliseconds(1), min(.milliseconds(100), maxWait - (now - batchStarted)))
            let polledAt = now
            let record = try consumer.poll(timeout: inFlight.isEmpty ? timeout : min(timeout, .milliseconds(5)))
            if let record { try handle(record) }
            now = ContinuousClock.now
            if record == nil, batchOpen || !inFlight.isEmpty { waits.records += now - polledAt }
            if now - lastHealthCheck >= .milliseconds(250) {
                lastHealthCheck = now
                let health = consumer.health
                if status.snapshot.kafka != health { status.update { $0.kafka = health } }
                lag.update(consumer, assigned: status.snapshot.assigned)
                // Positions moved over transaction markers alone (nothing to handle) are
                // committed in a batch of their own once nothing else is open.
                if !batchOpen, inFlight.isEmpty, !positionsPastMarkers().isEmpty {
                    try beginBatchIfNeeded()
                    try sealBatch()
                    now = ContinuousClock.now
                }
            }
            if let interval = settings.punctuationInterval, now - lastPunctuation >= interval {
                lastPunctuation = now
                try punctuate()
            }
            if batchOpen, batchRecords >= settings.runtime.maxBatchRecords || now - batchStarted >= maxWait || (drainCheck && record == nil) {
                try sealBatch()
                now = ContinuousClock.now
            }
            if !batchOpen, processor.hasPendingPunctuation {
                // The next part, as a batch of its own.
                try punctuate(continuing: true)
                try sealBatch()
                now = ContinuousClock.now
            }
            try advance(blocking: false)
        }
    }

    private func punctuate(continuing: Bool = false) throws {
        outputs.removeAll(keepingCapacity: true)
        if continuing {
            // A part is a batch even without outputs: its state changes are written with it.
            try beginBatchIfNeeded()
            try processor.continuePunctuation(context: ProcessingContext(nowMillis: settings.clock()), outputs: &outputs)
        } else {
            for table in globalTables { try table.refresh() }
            try processor.punctuate(context: ProcessingContext(nowMillis: settings.clock()), outputs: &outputs)
        }
        guard !outputs.isEmpty else { return }
        try beginBatchIfNeeded()
        try send(outputs)
    }

    /// Sends outputs as part of the open batch.
    private func send(_ outputs: [ProducerRecord]) throws {
        guard !outputs.isEmpty else { return }
        for output in outputs { try producer.send(output, in: batch) }
        recordsOut.increment(by: outputs.count)
    }

    private func beginBatchIfNeeded() throws {
        guard !batchOpen else { return }
        batchOpen = true
        batchStarted = ContinuousClock.now
        batchClock = settings.clock()
        // What arrived on the global tables (a zero-wait poll): a batch decides on definitions
        // as recent as its start, not as its stage's last punctuation.
        for table in globalTables { try table.refresh() }
        if settings.runtime.guarantee == .exactlyOnce, !inTransaction {
            try producer.beginTransaction()
            inTransaction = true
        }
    }

    private func handle(_ record: ConsumerRecord) throws {
        try beginBatchIfNeeded()
        let context = ProcessingContext(nowMillis: batchClock)
        outputs.removeAll(keepingCapacity: true)
        try processor.process(record, context: context, outputs: &outputs)
        try send(outputs)
        recordsIn.increment()
        pendingOffsets[record.topicPartition] = record.offset + 1
        batchRecords += 1
    }

    /// Ends the open batch. At least once: seals it (waiting only if too many are in flight).
    /// Exactly once: commits its transaction.
    private func sealBatch() throws {
        guard batchOpen else { return }
        outputs.removeAll(keepingCapacity: true)
        try processor.flush(context: ProcessingContext(nowMillis: batchClock), outputs: &outputs) { outputs in
            try send(outputs)
            outputs.removeAll(keepingCapacity: true)
        }
        try send(outputs)
        let changes = processor.takeStateChanges()
        let offsets = pendingOffsets.merging(positionsPastMarkers()) { max($0, $1) }.map { TopicPartitionOffset($0.key, offset: $0.value) }
        for offset in offsets { sealedOffsets[offset.topicPartition] = offset.offset }
        switch settings.runtime.guarantee {
        case .atLeastOnce:
            inFlight.append(SealedBatch(outputs: batch, changes: changes, offsets: offsets, records: batchRecords, sealedAt: .now))
            let blocked = ContinuousClock.now
            while inFlight.count > settings.runtime.maxInFlightBatches { try advance(blocking: true, limit: 1) }
            waits.acknowledgements += ContinuousClock.now - blocked
        case .exactlyOnce:
            for change in changes { try producer.send(change, in: batch) }
            if !offsets.isEmpty { try producer.sendOffsetsToTransaction(offsets, consumer: consumer) }
            try producer.commitTransaction()
            inTransaction = false
            try batch.waitForAll()
            finished(records: batchRecords, produced: batch.acknowledgedCount, sealedAt: batchStarted)
        }
        batch = DeliveryBatch()
        pendingOffsets.removeAll(keepingCapacity: true)
        batchRecords = 0
        batchOpen = false
    }

    /// Assigned partitions whose consumer position is past both the records handled and the
    /// offset sealed: a position passes what was handled only over transaction markers, which
    /// are never delivered (every partition written in transactions ends in one), since each
    /// record polled is handled before the next poll. Committing the position, as Kafka Streams
    /// does, lets a caught-up group's lag read 0; the last record's offset + 1 left 1 per partition.
    private func positionsPastMarkers() -> [TopicPartition: Int64] {
        let assigned = status.snapshot.assigned
        guard !assigned.isEmpty, let positions = try? consumer.positions(assigned) else { return [:] }
        return positions.filter { partition, position in position > (pendingOffsets[partition] ?? sealedOffsets[partition] ?? -1) }
    }

    /// Moves sealed batches along: outputs acknowledged, then state changes written, then offsets
    /// committed, oldest batch first. Without `blocking` it returns at the first thing not done yet.
    private func advance(blocking: Bool, limit: Int = .max) throws {
        var committed = 0
        while committed < limit, !inFlight.isEmpty {
            var oldest = inFlight[0]
            if oldest.changelog == nil {
                if !blocking && !oldest.outputs.isSettled { return }
                try waitForAcknowledgements(oldest.outputs, of: "a batch's outputs")
                let changelog = DeliveryBatch()
                for change in oldest.changes { try producer.send(change, in: changelog) }
                oldest.changelog = changelog
                inFlight[0] = oldest
            }
            if !blocking && !oldest.changelog!.isSettled { return }
            try waitForAcknowledgements(oldest.changelog!, of: "a batch's state changes")
            // After a failed commit the reading path tries again at most every 200 ms.
            if !blocking, commitFailingSince != nil, ContinuousClock.now - lastCommitAttempt < .milliseconds(200) { return }
            lastCommitAttempt = ContinuousClock.now
            do {
                try blocked(on: "committing offsets") { () throws(KafkaError) in try consumer.commit(oldest.offsets) }
                if commitFailingSince != nil {
                    commitFailingSince = nil
                    status.update { $0.pipelineProblem = nil }
                }
            } catch {
                if error.isRetriable && !error.isRebalanceRace {
                    // The broker or the group coordinator is out of reach (a restart, a network
                    // cut): the batch stays in flight and its commit is tried again. Committed
                    // offsets only grow, so a later success covers it; until then nothing is lost
                    // (a crash replays from the last commit).
                    let now = ContinuousClock.now
                    let since = commitFailingSince ?? now
                    commitFailingSince = since
                    let problem = "offset commits failing for \((now - since).components.seconds) s: \(error)"
                    status.update { $0.pipelineProblem = problem }
                    if now - lastCommitWarning >= .seconds(5) {
                        lastCommitWarning = now
                        logger.warning("commit failed, will retry (failing for \(now - since)): \(error)")
                    }
                    if !blocking { return }
                    // Blocking (back-pressure, a revocation, the stop): wait, but not forever. The
                    // limit stays under the default max.poll.interval.ms, so the group keeps us.
                    if now - since >= Self.commitRetryLimit { throw error }
                    Thread.sleep(forTimeInterval: 0.2)
                    continue
                }
                guard error.isRebalanceRace else { throw error }
                // The partitions moved before the commit landed: their new owner replays this batch,
                // producing identical records (at-least-once). Nothing is lost.
                logger.warning("commit lost to a rebalance; the next owner replays the batch: \(error)")
            }
            inFlight.removeFirst()
            finished(records: oldest.records, produced: oldest.outputs.acknowledgedCount + oldest.changes.count, sealedAt: oldest.sealedAt)
            committed += 1
        }
    }

    /// Seals the open batch and waits until every sealed batch is committed.
    private func drain() throws {
        // Positions moved over markers alone are committed too, before the partitions move on.
        if !batchOpen, !positionsPastMarkers().isEmpty { try beginBatchIfNeeded() }
        try sealBatch()
        try advance(blocking: true)
    }

    private func finished(records: Int, produced: Int, sealedAt: ContinuousClock.Instant) {
        status.update {
            $0.waitedForRecords = waits.records
            $0.waitedForAcknowledgements = waits.acknowledgements
            $0.recordsIn += records
            $0.recordsOut += produced
            $0.batchesCommitted += 1
        }
        let elapsed = ContinuousClock.now - sealedAt
        batchTimer.recordNanoseconds(elapsed.nanoseconds)
    }

    // MARK: RebalanceListener (called inside consumer.poll on this pipeline's thread)

    public func partitionsAssigned(_ partitions: [TopicPartition]) {
        guard callbackFailure == nil else { return }
        // Restoring: not ready for queries until the new partitions' state is read back.
        status.update { $0.restoring = true }
        defer { status.update { $0.restoring = false } }
        do {
            try processor.partitionsAssigned(partitions, restorer: ChangelogReader(kafka: settings.runtime.kafka, logger: logger))
        } catch {
            callbackFailure = error
        }
        updateAssignment(adding: partitions)
    }

    public func partitionsRevoked(_ partitions: [TopicPartition]) {
        var drained = callbackFailure == nil
        do {
            try drain()
        } catch {
            callbackFailure = callbackFailure ?? error
            drained = false
        }
        processor.partitionsRevoked(partitions, cleanly: drained)
        for partition in partitions { sealedOffsets[partition] = nil }
        lag.revoked(partitions)
        updateAssignment(removing: partitions)
    }

    private func updateAssignment(adding: [TopicPartition] = [], removing: [TopicPartition] = []) {
        status.update { snapshot in
            let current = Set(snapshot.assigned).union(adding).subtracting(removing)
            snapshot.assigned = current.sorted()
            assignedGauge.record(current.count)
        }
    }
}

/// An at-least-once batch whose outputs are sent but whose offsets are not yet committed.
struct SealedBatch {
    let outputs: DeliveryBatch
    let changes: [ProducerRecord]
    /// Set once `outputs` are all acknowledged and `changes` are sent.
    var changelog: DeliveryBatch?
    let offsets: [TopicPartitionOffset]
    let records: Int
    let sealedAt: ContinuousClock.Instant
}

/// A stop request, set from a signal handler or another task, polled by the pipeline thread.
public final class StopSignal: Sendable {
    private let flag = StopFlagAtomic()
    public init() {}
    public var isSet: Bool { flag.isSet }
    public func set() { flag.set() }
}
