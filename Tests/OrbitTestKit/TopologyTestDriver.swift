import Logging
import OrbitKafka
import OrbitRuntime

/// Runs a service's whole declared topology (``ServiceTopology``: routers, processors, stores,
/// global tables) in process, as Kafka Streams' TopologyTestDriver does: records in, every topic
/// out, with a set clock and no broker. Each stage has one processor that owns every partition
/// of its inputs unless a test moves them (``revoke(_:stage:)``, ``assign(_:stage:)``).
///
/// What the runtime does, the driver does the same way: records are processed in batches of
/// `processing.max_batch_records`; a batch's outputs are written as they are made, its coalesced
/// outputs at its end, then its state changes (the changelog), then its offsets are committed.
/// A restart or an assignment restores stores from the changelog the stages wrote (and from a
/// disk store's checkpoint, with `state.store: disk`). ``crash(_:stage:)`` stops a stage between
/// its outputs and its commit, as SIGKILL would, so a test sees the replay: before its state
/// changes are written (the restored state lacks the batch) or after (the restored state has it,
/// and the processor's replay guard must recognise the records).
///
/// A stage that writes to a topic it does not declare (``StageDeclaration/outputs``, besides what
/// the runtime writes for it) fails the run with ``UndeclaredOutput``.
///
/// The guarantee is the runtime settings' (`processing.guarantee`). Under `at_least_once` a batch's
/// outputs reach the log as they are made, and a crash leaves them there (the replay writes them
/// again). Under `exactly_once` a batch's outputs and changelog records reach the log only when
/// it commits, as a transaction's do for `read_committed` readers; a crash aborts them.
///
/// The driver's clock is ``nowMillis`` for every stage (a stage's declared clock is not read).
public final class TopologyTestDriver {
    public let topology: ServiceTopology
    public let runtime: RuntimeSettings
    /// Every topic the stages read and write.
    public let log: InMemoryLog
    /// The runtime clock every processor is given, epoch milliseconds.
    public var nowMillis: Int64
    let logger: Logger
    private var stages: [StageRun] = []
    private var crashes: [String: CrashPoint] = [:]

    /// Where a crash stops a batch: both are after its outputs and before its offsets commit.
    public enum CrashPoint: Sendable {
        /// Before the batch's state changes reach the changelog.
        case beforeStateChanges
        /// After its state changes reach the changelog.
        case afterStateChanges
    }

    /// A record a stage wrote to a topic it does not declare as an output.
    public struct UndeclaredOutput: Error, CustomStringConvertible {
        public let stage: String
        public let topic: String
        public var description: String { "stage \(stage.isEmpty ? "main" : stage) wrote to \(topic), which it does not declare as an output" }
    }

    /// Co-partitioned topics whose partition counts differ, found when the driver starts.
    public struct PartitionMismatch: Error, CustomStringConvertible {
        public let stage: String
        public let counts: [String: Int]
        public var description: String { "stage \(stage.isEmpty ? "main" : stage): co-partitioned topics differ: \(counts)" }
    }

    /// - Parameters:
    ///   - partitions: partitions of every topic not named in `topics`.
    ///   - topics: partition counts of particular topics.
    ///   - log: a log to continue from (a restarted service's topics); a new one by default.
    public init(_ topology: ServiceTopology, runtime: RuntimeSettings, partitions: Int = 4, topics: [String: Int] = [:],
                log: InMemoryLog? = nil, nowMillis: Int64, logger: Logger = Logger(label: "orbit.test-kit")) throws {
        self.topology = topology
        self.runtime = runtime
        self.log = log ?? InMemoryLog(partitions: partitions, topics: topics)
        self.nowMillis = nowMillis
        self.logger = logger
        let deadLetters = DeadLetters(topic: topology.deadLettersTopic, service: runtime.serviceName)
        for declaration in topology.stages {
            let counts = Dictionary(uniqueKeysWithValues: declaration.coPartitioned.map { ($0, self.log.partitionCount(of: $0)) })
            guard Set(counts.values).count <= 1 else { throw PartitionMismatch(stage: declaration.name, counts: counts) }
            let stage = StageRun(declaration, partitionCount: counts.values.first ?? 0, deadLetters: deadLetters,
                                 writable: declaration.writableTopics(deadLetters: topology.deadLettersTopic, runtime: runtime))
            stage.assigned = Set(declaration.inputs.flatMap { topic in (0..<Int32(self.log.partitionCount(of: topic))).map { TopicPartition(topic, $0) } })
            stages.append(stage)
            try start(stage)
        }
    }

    // MARK: Input

    /// Publishes a record to `topic` as an outside producer would (placed by its key's murmur2
    /// hash unless `partition` is given).
    @discardableResult
    public func send(_ topic: String, key: String?, value: [UInt8]?, headers: [KafkaHeader] = [], partition: Int32? = nil) -> ConsumerRecord {
        log.append(ProducerRecord(topic: topic, partition: partition, key: key.map { Array($0.utf8) }, value: value, headers: headers),
                   timestampMillis: nowMillis)
    }

    // MARK: Running

    /// Processes every record waiting on any stage's inputs, stage after stage, until none is
    /// left (a router's outputs are the next stage's inputs). Returns the records processed.
    @discardableResult
    public func run() throws -> Int {
        var total = 0
        while true {
            var processed = 0
            for stage in stages { processed += try process(stage) }
            total += processed
            if processed == 0 { return total }
        }
    }

    /// Runs every stage's punctuation at the current time, as the runtime does when its interval
    /// is due (global tables refreshed first; a punctuation left in parts runs part by part, each
    /// its own batch), then ``run()``.
    public func punctuate() throws {
        for stage in stages where stage.declaration.punctuation != nil {
            refreshGlobalTables(stage)
            var outputs: [ProducerRecord] = []
            try stage.processor.punctuate(context: context, outputs: &outputs)
            try write(outputs, from: stage)
            try endBatch(stage, positions: [:])
            while stage.processor.hasPendingPunctuation {
                outputs.removeAll()
                try stage.processor.continuePunctuation(context: context, outputs: &outputs)
                try write(outputs, from: stage)
                try endBatch(stage, positions: [:])
            }
        }
        try run()
    }

    /// The next batch of `stage` stops after its outputs are written, at `point`, without its
    /// offsets committed: the stage is then started afresh (restored from the changelog) and reads
    /// the batch again, as after a SIGKILL.
    public func crash(_ point: CrashPoint, stage: String = "") {
        crashes[stage] = point
    }

    /// Stops every stage and starts it again on the same topics: `cleanly` (the default) revokes
    /// every partition after its last batch committed, as a SIGTERM does; otherwise the
    /// processors are dropped without a word, as on SIGKILL.
    public func restart(cleanly: Bool = true) throws {
        for stage in stages {
            if cleanly { stage.processor.partitionsRevoked(stage.assigned.sorted(), cleanly: true) }
            try start(stage)
        }
    }

    /// Moves `partitions` (of every input of `stage`) away from this instance, as a rebalance
    /// does after the stage's last batch committed.
    public func revoke(_ partitions: [Int32], stage name: String = "") {
        let stage = self.stage(name)
        let revoked = stage.assigned.filter { partitions.contains($0.partition) }.sorted()
        stage.assigned.subtract(revoked)
        stage.processor.partitionsRevoked(revoked, cleanly: true)
    }

    /// Gives `partitions` (of every input of `stage`) back to this instance, restoring them.
    public func assign(_ partitions: [Int32], stage name: String = "") throws {
        let stage = self.stage(name)
        let added = stage.declaration.inputs.flatMap { topic in partitions.map { TopicPartition(topic, $0) } }.filter { !stage.assigned.contains($0) }
        stage.assigned.formUnion(added)
        try stage.processor.partitionsAssigned(added.sorted(), restorer: ChangelogReader(source: log))
    }

    // MARK: Output

    /// The processor a stage runs now ("" is the service's main stage; "-router", "-delivery").
    public func processor<P: RecordProcessor>(_ type: P.Type, stage name: String = "") -> P {
        guard let processor = stage(name).processor.processor as? P else { preconditionFailure("stage \(name) does not run a \(P.self)") }
        return processor
    }

    /// Every record of `topic`, partition by partition, each in offset order.
    public func records(_ topic: String) -> [ConsumerRecord] { log.records(topic) }

    /// The latest value per key of `topic`.
    public func latest(_ topic: String) -> [String: [UInt8]] { log.latest(topic) }

    // MARK: The runtime's part

    private var context: ProcessingContext { ProcessingContext(nowMillis: nowMillis) }

    private func stage(_ name: String) -> StageRun {
        guard let stage = stages.first(where: { $0.declaration.name == name }) else { preconditionFailure("the topology has no stage \(name)") }
        return stage
    }

    /// A new processor for `stage`, restored for the partitions it owns, with empty global table
    /// views (read again at the next punctuation). The old one, if any, is released first (a disk
    /// store's files are unlocked when it goes).
    private func start(_ stage: StageRun) throws {
        stage.processor = nil
        stage.views = Dictionary(uniqueKeysWithValues: stage.declaration.globalTables.map { ($0, GlobalTableView()) })
        stage.tableOffsets = [:]
        let context = StageContext(thread: 0, partitionCount: stage.partitionCount, runtime: runtime, logger: logger,
                                   deadLetters: stage.deadLetters, globalTables: stage.views)
        let processor = try stage.declaration.makeStageProcessor(context)
        stage.processor = processor
        try processor.partitionsAssigned(stage.assigned.sorted(), restorer: ChangelogReader(source: log))
    }

    /// Appends a stage's outputs to the log; fails on a topic the stage does not declare
    /// (``StageDeclaration/writableTopics(deadLetters:runtime:)``).
    private func write(_ outputs: [ProducerRecord], from stage: StageRun) throws {
        if let undeclared = outputs.first(where: { !stage.writable.contains($0.topic) }) {
            throw UndeclaredOutput(stage: stage.declaration.name, topic: undeclared.topic)
        }
        if runtime.guarantee == .exactlyOnce {
            stage.pending += outputs
        } else {
            for output in outputs { log.append(output, timestampMillis: nowMillis) }
        }
    }

    /// Processes what waits on the stage's assigned partitions from their committed offsets, in
    /// batches; returns the records processed.
    private func process(_ stage: StageRun) throws -> Int {
        var processed = 0
        var positions: [TopicPartition: Int64] = [:]
        var outputs: [ProducerRecord] = []
        refreshGlobalTables(stage)  // as a pipeline does when a batch starts
        for partition in stage.assigned.sorted() {
            for record in log.records(partition, from: stage.committed[partition, default: 0]) {
                outputs.removeAll(keepingCapacity: true)
                try stage.processor.process(record, context: context, outputs: &outputs)
                try write(outputs, from: stage)
                positions[partition] = record.offset + 1
                processed += 1
                if processed % runtime.maxBatchRecords == 0 {
                    if try !endBatch(stage, positions: positions) { return processed }
                    positions.removeAll()
                    refreshGlobalTables(stage)
                }
            }
        }
        if !positions.isEmpty { try endBatch(stage, positions: positions) }
        return processed
    }

    /// Ends a batch as the pipeline does: coalesced outputs, state changes, then the commit.
    /// Returns false when the stage crashed instead (``crash(_:stage:)``).
    @discardableResult
    private func endBatch(_ stage: StageRun, positions: [TopicPartition: Int64]) throws -> Bool {
        var outputs: [ProducerRecord] = []
        try stage.processor.flush(context: context, outputs: &outputs) { part in
            try write(part, from: stage)
            part.removeAll()
        }
        try write(outputs, from: stage)
        if let point = crashes.removeValue(forKey: stage.declaration.name) {
            if point == .afterStateChanges { try write(stage.processor.takeStateChanges(), from: stage) }
            stage.pending.removeAll()  // exactly-once: the transaction aborts
            try start(stage)
            return false
        }
        try write(stage.processor.takeStateChanges(), from: stage)
        for output in stage.pending { log.append(output, timestampMillis: nowMillis) }  // exactly-once: the transaction commits
        stage.pending.removeAll()
        stage.committed.merge(positions) { _, new in new }
        return true
    }

    private func refreshGlobalTables(_ stage: StageRun) {
        for (topic, view) in stage.views {
            for partition in 0..<Int32(log.partitionCount(of: topic)) {
                let position = TopicPartition(topic, partition)
                for record in log.records(position, from: stage.tableOffsets[position, default: 0]) {
                    if let key = record.key { view.apply(key: String(decoding: key, as: UTF8.self), value: record.value) }
                    stage.tableOffsets[position] = record.offset + 1
                }
            }
        }
    }
}

/// One stage as the driver runs it: its processor, what it owns and how far it committed.
final class StageRun {
    let declaration: StageDeclaration
    let partitionCount: Int
    let deadLetters: DeadLetters
    /// The topics the stage may write (its declaration's).
    let writable: Set<String>
    var views: [String: GlobalTableView] = [:]
    var processor: StageProcessor!
    var assigned: Set<TopicPartition> = []
    var committed: [TopicPartition: Int64] = [:]
    /// Exactly-once: the current batch's records, written when it commits.
    var pending: [ProducerRecord] = []
    var tableOffsets: [TopicPartition: Int64] = [:]

    init(_ declaration: StageDeclaration, partitionCount: Int, deadLetters: DeadLetters, writable: Set<String>) {
        self.declaration = declaration
        self.writable = writable
        self.partitionCount = partitionCount
        self.deadLetters = deadLetters
    }
}
