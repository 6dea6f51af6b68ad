import Logging
import OrbitContract
import OrbitKafka

/// The kinds of input a merged stream carries; each record's kind travels in a header.
public protocol InputKind: RawRepresentable<String>, CaseIterable, Hashable, Sendable {}

/// The header that carries a merged record's kind (``InputRouter``) or marks a clock tick (``ClockTick``).
public enum InputKindHeader {
    public static let name = "orbit-input"
}

/// Merges several topics into one ordered stream per key (Kafka Streams' repartition through a
/// topic): every record is re-keyed onto `output`, tagged with its kind, on the partition its key
/// belongs to by ``KeyPartitioner``, never the partition it arrived on. So a producer that hashes
/// keys another way (librdkafka's CRC32, say) cannot split a key's records across partitions.
///
/// A stateful stage that reads only `output` sees each key's inputs in one order, and a replay
/// repeats that order: a replayed router can only append identical copies, which the stage's
/// replay guard recognises. Stateless itself; records without a key go to the dead letters.
public final class InputRouter<Kind: InputKind>: RecordProcessor {
    public static var kindHeader: String { InputKindHeader.name }
    let sources: [String: Kind]
    let output: String
    let partitionCount: Int
    let deadLetters: DeadLetters
    let broadcast: Set<Kind>

    /// - Parameters:
    ///   - sources: each input topic and the kind of its records.
    ///   - partitionCount: `output`'s partition count (see ``CoPartitioning``).
    ///   - broadcast: kinds copied to every partition instead of their key's (commands that every
    ///     partition acts on for its own keys, such as a campaign to an audience).
    public init(sources: [String: Kind], output: String, partitionCount: Int, deadLetters: DeadLetters, broadcast: Set<Kind> = []) {
        self.sources = sources
        self.output = output
        self.partitionCount = partitionCount
        self.deadLetters = deadLetters
        self.broadcast = broadcast
    }

    public var inputTopics: [String] { sources.keys.sorted() }

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        guard let kind = sources[record.topic] else { return }
        guard let key = record.key, !key.isEmpty else {
            outputs.append(deadLetters.record(for: record, .missingKey, "a \(kind.rawValue) record needs the user id as its key"))
            return
        }
        if broadcast.contains(kind) {
            for partition in 0..<Int32(partitionCount) {
                outputs.append(ProducerRecord(topic: output, partition: partition, key: key, value: record.value,
                                              headers: [KafkaHeader(Self.kindHeader, kind.rawValue)], timestampMillis: record.timestampMillis))
            }
            return
        }
        outputs.append(ProducerRecord(topic: output, partition: KeyPartitioner.partition(of: key, partitionCount: partitionCount),
                                      key: key, value: record.value, headers: [KafkaHeader(Self.kindHeader, kind.rawValue)],
                                      timestampMillis: record.timestampMillis))
    }

    /// The kind a merged record carries; nil for a record without a known kind.
    public static func kind(of record: ConsumerRecord) -> Kind? {
        record.header(kindHeader).flatMap { Kind(rawValue: String(decoding: $0, as: UTF8.self)) }
    }
}
