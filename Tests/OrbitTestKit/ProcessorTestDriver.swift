import OrbitKafka
import OrbitRuntime

/// Drives one ``RecordProcessor`` without a broker, as Kafka Streams' TopologyTestDriver does:
/// records in, outputs and changelog records out, batches ended and time moved by the caller. Each
/// partition's records get consecutive offsets, as on a broker. The processor's stores are kept
/// as the runtime keeps them (``StageProcessor``): their changes are the changelog at each batch's end.
public final class ProcessorTestDriver {
    /// The processor with its stores kept, as the runtime calls it.
    public let processor: any RecordProcessor
    private let made: any RecordProcessor
    /// The runtime clock the processor is given.
    public var nowMillis: Int64
    /// Every changelog record the processor has written, in order.
    public private(set) var changelog: [ProducerRecord] = []
    private var nextOffsets: [TopicPartition: Int64] = [:]

    /// Drives the processor `make` makes with the stores it is given (kept in `backend`); with
    /// `ticks`, clock ticks piped to its topic reach the processor's `tick` as the runtime's do;
    /// with `erasing`, privacy requests piped to its topic are erased as the runtime erases them.
    public init<P: RecordProcessor>(nowMillis: Int64, backend: StateStoreKind = .memory, ticks: StageProcessor.Ticks? = nil,
                                    erasing: StageProcessor.Erasing? = nil, _ make: (StoreMaker) throws -> P) rethrows {
        (made, processor) = try StageProcessor.keeping(backend: backend, partitionedLike: "", ticks: ticks, erasing: erasing, make)
        self.nowMillis = nowMillis
    }

    /// The processor as it was made, to look into its state.
    public func processor<P: RecordProcessor>(as type: P.Type) -> P {
        guard let processor = made as? P else { preconditionFailure("the driver runs a \(Swift.type(of: made)), not a \(P.self)") }
        return processor
    }

    public func advance(days: Int64) { nowMillis += days * 86_400_000 }

    /// A record as the broker would deliver it next on this partition.
    public func record(topic: String, partition: Int32 = 0, key: String?, value: [UInt8]?, headers: [KafkaHeader] = [], timestampMillis: Int64? = nil) -> ConsumerRecord {
        let position = TopicPartition(topic, partition)
        let offset = nextOffsets[position, default: 0]
        nextOffsets[position] = offset + 1
        return ConsumerRecord(topic: topic, partition: partition, offset: offset, key: key.map { Array($0.utf8) }, value: value,
                              headers: headers, timestampMillis: timestampMillis)
    }

    /// Processes one record; returns its outputs.
    @discardableResult
    public func pipe(_ record: ConsumerRecord) throws -> [ProducerRecord] {
        var outputs: [ProducerRecord] = []
        try processor.process(record, context: ProcessingContext(nowMillis: nowMillis), outputs: &outputs)
        return outputs
    }

    /// Ends the batch: the processor's coalesced outputs, then its state changes (kept in
    /// ``changelog``, and returned as the second element).
    @discardableResult
    public func endBatch() throws -> (outputs: [ProducerRecord], changes: [ProducerRecord]) {
        // Outputs handed over in parts are collected in order, as the pipeline sends them.
        var delivered: [ProducerRecord] = []
        var outputs: [ProducerRecord] = []
        try processor.flush(context: ProcessingContext(nowMillis: nowMillis), outputs: &outputs) { part in
            delivered += part
            part.removeAll()
        }
        outputs = delivered + outputs
        let changes = processor.takeStateChanges()
        changelog += changes
        return (outputs, changes)
    }

    /// Runs the processor's punctuation at the current time, and every part it leaves for later
    /// as the runtime does (each part after the batch before it ended); returns the outputs.
    @discardableResult
    public func punctuate() throws -> [ProducerRecord] {
        var outputs: [ProducerRecord] = []
        try processor.punctuate(context: ProcessingContext(nowMillis: nowMillis), outputs: &outputs)
        while processor.hasPendingPunctuation {
            outputs += try endBatch().outputs
            try processor.continuePunctuation(context: ProcessingContext(nowMillis: nowMillis), outputs: &outputs)
        }
        return outputs
    }
}
