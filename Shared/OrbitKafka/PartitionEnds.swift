/// The offsets a reader reads partitions up to, and the partitions still short of them.
///
/// A partition is read once the consumer's position reaches its end. Waiting for a record at the
/// end's offset - 1 is not enough: every partition written in transactions ends in a marker,
/// which takes an offset and is never delivered, and the position steps over it.
public struct PartitionEnds {
    /// The partitions not yet read to their end, with that end.
    public private(set) var short: [TopicPartition: Int64]

    public init(_ ends: [TopicPartition: Int64]) {
        short = ends
    }

    /// Each partition's next offset (its high watermark), leaving out partitions with nothing
    /// between their first and next offsets (empty, or emptied by retention), which never get
    /// a position.
    public init(watermarks: [TopicPartition: (low: Int64, high: Int64)]) {
        short = watermarks.filter { $0.value.high > $0.value.low }.mapValues(\.high)
    }

    public var isEmpty: Bool { short.isEmpty }

    /// Drops the partitions whose consumer position has reached their end (a local call).
    public mutating func dropReached(by consumer: KafkaConsumer) throws(KafkaError) {
        guard !short.isEmpty else { return }
        for (partition, position) in try consumer.positions(Array(short.keys)) where position >= short[partition]! {
            short[partition] = nil
        }
    }
}
