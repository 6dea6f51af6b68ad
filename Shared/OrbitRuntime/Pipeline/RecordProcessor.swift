import OrbitKafka

/// The one thing a service writes: what to do with one input record, given the state of its
/// partition. The runtime (``StreamPipeline``) owns polling, producing, committing, rebalancing
/// and the clock.
///
/// All methods are called on the pipeline's thread, one at a time. A method throws only when the
/// service cannot go on (state that cannot be read, or an output the runtime could not send from
/// ``flush(context:outputs:deliver:)``'s `deliver`, which a processor passes on, never catches):
/// the pipeline then stops loudly, committing nothing past what is safe. Bad input never throws:
/// it is an output too (a dead letter).
public protocol RecordProcessor: AnyObject {
    /// These partitions are now this instance's. Restore their state (for example with
    /// ``ChangelogReader``) before returning: no record of theirs is processed until then.
    func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws

    /// These partitions are no longer this instance's; their last batch is already committed.
    /// Drop their state.
    func partitionsRevoked(_ partitions: [TopicPartition])

    /// As ``partitionsRevoked(_:)``, telling whether every output and changelog record of these
    /// partitions was acknowledged first (false when draining failed): only then may a disk-backed
    /// store keep a local checkpoint. The default calls ``partitionsRevoked(_:)``.
    func partitionsRevoked(_ partitions: [TopicPartition], cleanly: Bool)

    /// Handles one record, appending the records it causes.
    func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws

    /// The batch is ending: outputs coalesced over the batch (for example one profile per user
    /// touched, not one per event) are appended to `outputs` and sent with the batch.
    ///
    /// `deliver` hands over what `outputs` holds so far and empties it. A processor with an output
    /// per key touched (the scorer: a profile per user) calls it every ``outputPart`` outputs, so a
    /// batch that touched 100,000 users never holds 100,000 encoded profiles at once, and the first
    /// ones are on their way while the rest are evaluated. A processor with a few outputs just
    /// appends them and never calls it. Either way the outputs belong to the batch (its
    /// transaction, its acknowledgements) exactly as if they were all appended. The default
    /// appends nothing.
    ///
    /// This is the one batch-end requirement: the runtime calls it and nothing else.
    /// ``flush(context:outputs:)`` is a convenience for tests and tools, not a second requirement.
    func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws

    /// Called every `punctuationInterval` of the runtime's clock, between records: for work that
    /// depends on time passing rather than on records. Outputs join the current batch.
    func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) throws

    /// A clock tick the runtime wrote into `partition` of the stage's input has been read
    /// (``StageDeclaration/ticksInto``, ``ClockTick``): time is now `time` for this partition's
    /// state. Work that depends on time passing and changes state belongs here, not in
    /// ``punctuate(context:outputs:)``: a replay meets the tick at the same place among the
    /// partition's records and does the same. Outputs join the current batch.
    func tick(partition: Int32, at time: Int64, context: ProcessingContext, outputs: inout [ProducerRecord]) throws

    /// The runtime is erasing `userID` (a privacy request read from the stage's input,
    /// ``StageDeclaration/erasesFrom``). Append this processor's part: lines for the receipt
    /// (what it held, in `erasure`), and outputs such as tombstones of the compacted topics the user
    /// appears in. Read the user's state here if the part needs it: the runtime deletes the user
    /// from the stores declared keyed by user after this returns, then writes the receipt.
    func erase(_ userID: String, partition: Int32, erasure: inout Erasure, outputs: inout [ProducerRecord]) throws

    /// True while a punctuation left work for later: work done in parts, such as re-evaluating
    /// every user a batch's worth at a time. The runtime then calls
    /// ``continuePunctuation(context:outputs:)`` after each batch it seals, and seals each part as
    /// its own batch, instead of waiting for the next interval. So no punctuation holds a whole
    /// store's outputs and changelog records in one batch, and records keep flowing between parts.
    var hasPendingPunctuation: Bool { get }

    /// Does the next part of the work a punctuation left (see ``hasPendingPunctuation``).
    func continuePunctuation(context: ProcessingContext, outputs: inout [ProducerRecord]) throws

    /// The state changes made since the last call, as changelog records. The runtime writes them
    /// after the batch's outputs are acknowledged and before its offsets commit.
    func takeStateChanges() -> [ProducerRecord]

    /// The lookups this processor answers over the service's HTTP port from its stores
    /// (``KeyQuery``); read once, when the service starts. The default is none.
    var queries: [KeyQuery] { get }
}

extension RecordProcessor {
    public var queries: [KeyQuery] { [] }
    public func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {}
    public func partitionsRevoked(_ partitions: [TopicPartition]) {}
    public func partitionsRevoked(_ partitions: [TopicPartition], cleanly: Bool) { partitionsRevoked(partitions) }
    public func takeStateChanges() -> [ProducerRecord] { [] }
    public func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws {}

    /// Every output of ``flush(context:outputs:deliver:)`` in `outputs`, none handed over early:
    /// for tests and tools that want a batch end's outputs as one list. Not a requirement, so a
    /// processor implements the `deliver` form only.
    public func flush(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        try flush(context: context, outputs: &outputs, deliver: { _ in })
    }

    /// Outputs a flush holds before it hands them over (``flush(context:outputs:deliver:)``): a
    /// part is at least this many, plus the rest of the key that reached it. Enough that handing
    /// over costs nothing, few enough that they are still in the CPU's cache when sent.
    public static var outputPart: Int { 256 }
    public func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {}
    public func tick(partition: Int32, at time: Int64, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {}
    public func erase(_ userID: String, partition: Int32, erasure: inout Erasure, outputs: inout [ProducerRecord]) throws {}
    public var hasPendingPunctuation: Bool { false }
    public func continuePunctuation(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {}
}

/// What the runtime tells a processor with each call: the one clock. Processors never read the
/// wall clock themselves, so a test (OrbitTestKit's `ProcessorTestDriver`) or a backfill (`fixed_now`) sets time
/// for the whole service in one place.
public struct ProcessingContext: Sendable {
    /// The runtime clock's time, epoch milliseconds.
    public var nowMillis: Int64

    public init(nowMillis: Int64) { self.nowMillis = nowMillis }
}
