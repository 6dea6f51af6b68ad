import OrbitKafka

/// The one thing a service writes: what to do with one input record, given the state of its
/// partition. The runtime (``StreamPipeline``) owns polling, producing, committing and rebalancing.
///
/// All methods are called on the pipeline's thread, one at a time.
public protocol RecordProcessor: AnyObject {
    /// These partitions are now this instance's. Restore their state (for example with
    /// ``ChangelogReader``) before returning: no record of theirs is processed until then.
    func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws

    /// These partitions are no longer this instance's; their last batch is already committed.
    /// Drop their state.
    func partitionsRevoked(_ partitions: [TopicPartition])

    /// Handles one record, appending the records it causes. Must not throw for bad input: bad input
    /// is an output too (a dead letter).
    func process(_ record: ConsumerRecord, outputs: inout [ProducerRecord])

    /// The batch is ending: outputs coalesced over the batch (for example one profile per user
    /// touched, not one per event) are appended here and sent with the batch.
    func flush(outputs: inout [ProducerRecord])

    /// Called every `punctuationInterval` of the runtime's clock, between records, with that
    /// clock's time: for work that depends on time passing rather than on records (re-evaluating
    /// users as they age). Outputs join the current batch.
    func punctuate(nowMillis: Int64, outputs: inout [ProducerRecord])

    /// The state changes made since the last call, as changelog records. The runtime writes them
    /// after the batch's outputs are acknowledged and before its offsets commit.
    func takeStateChanges() -> [ProducerRecord]
}

extension RecordProcessor {
    public func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {}
    public func partitionsRevoked(_ partitions: [TopicPartition]) {}
    public func takeStateChanges() -> [ProducerRecord] { [] }
    public func flush(outputs: inout [ProducerRecord]) {}
    public func punctuate(nowMillis: Int64, outputs: inout [ProducerRecord]) {}
}
