import OrbitKafka
import OrbitRuntime

/// Drives a ``RecordProcessor`` without a broker, as Kafka Streams' TopologyTestDriver does: records
/// in, outputs and changelog records out, batches ended and time moved by the caller. Each
/// partition's records get consecutive offsets, as on a broker.
public final class ProcessorTestDriver {
    public let processor: any RecordProcessor
    /// The runtime clock the processor is given.
    public var nowMillis: Int64
    /// Every changelog record the processor has written, in order.
    public private(set) var changelog: [ProducerRecord] = []
    private var nextOffsets: [TopicPartition: Int64] = [:]

    public init(_ processor: any RecordProcessor, nowMillis: Int64) {
        self.processor = processor
        self.nowMillis = nowMillis
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
