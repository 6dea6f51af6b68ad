import OrbitKafka
import OrbitRuntime

/// Feeds records to stage processors directly, as a pipeline would and without Kafka (the
/// `--core-only` benches): in batches of `batch`, each ending with the stage's flush, its outputs
/// and its state changes, as the runtime writes them at a batch's end.
struct CoreStageFeeder {
    let partitions: Int
    let batch: Int
    /// The time of a consumed record its producer gave none (nil: it has none).
    let defaultTimestamp: Int64?
    private var offsets: [TopicPartition: Int64] = [:]

    init(partitions: Int, batch: Int, defaultTimestamp: Int64? = nil) {
        (self.partitions, self.batch, self.defaultTimestamp) = (partitions, batch, defaultTimestamp)
    }

    /// A produced record as the next stage consumes it: placed by its key, at its partition's next offset.
    mutating func consumed(_ record: ProducerRecord) -> ConsumerRecord {
        let partition = record.partition ?? KeyPartitioner.partition(of: record.key ?? [], partitionCount: partitions)
        let position = TopicPartition(record.topic, partition)
        defer { offsets[position, default: 0] += 1 }
        return ConsumerRecord(topic: record.topic, partition: partition, offset: offsets[position, default: 0], key: record.key,
                              value: record.value, headers: record.headers, timestampMillis: record.timestampMillis ?? defaultTimestamp)
    }

    /// What `stage` writes reading `input`, and how long it took.
    func run(_ stage: StageProcessor, _ input: [ConsumerRecord], context: ProcessingContext) throws -> (written: [ProducerRecord], took: Duration) {
        var written: [ProducerRecord] = []
        var outputs: [ProducerRecord] = []
        let began = ContinuousClock.now
        for (n, record) in input.enumerated() {
            try stage.process(record, context: context, outputs: &outputs)
            if (n + 1) % batch == 0 || n + 1 == input.count {
                try stage.flush(context: context, outputs: &outputs) { part in
                    written += part
                    part.removeAll()
                }
                written += outputs
                written += stage.takeStateChanges()
                outputs.removeAll(keepingCapacity: true)
            }
        }
        return (written, ContinuousClock.now - began)
    }
}
