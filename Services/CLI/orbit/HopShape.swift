import OrbitKafka
import OrbitRuntime

/// What one hop of a service wrote in a run of its processors (`--core-only`), per topic: records,
/// bytes, and the key when every record had the same one (a hot reward's stock requests all go to
/// one partition). Kept as counts, not records, while the service then runs through Kafka.
struct HopOutputs {
    struct Topic {
        var records = 0
        var bytes = 0
        /// The one key every record had; nil when they had several.
        var key: [UInt8]?
        fileprivate var keys = 0
    }

    /// Where the next hop reads; nil for a last hop.
    let forwardTopic: String?
    /// By topic key (`MembershipSettings.topicKeys`), so a run on renamed topics finds them.
    private(set) var topics: [String: Topic] = [:]

    /// - Parameter topicKey: a record's topic key from its topic's name.
    init(forwardTopic: String?, _ records: [ProducerRecord], topicKey: (String) -> String) {
        self.forwardTopic = forwardTopic.map(topicKey)
        for record in records {
            let key = topicKey(record.topic)
            var topic = topics[key] ?? Topic()
            topic.records += 1
            topic.bytes += record.value?.count ?? 0
            if topic.keys == 0 || (topic.keys == 1 && topic.key != record.key) {
                topic.keys += 1
                topic.key = topic.keys == 1 ? record.key : nil
            }
            topics[key] = topic
        }
    }
}

/// One hop of a pass-through chain shaped like a service's hop: the record it passes on and the
/// records it writes beside it, each to a topic of its own, as many per input and as large as the
/// service's, on the same keys. A chain of these does the service's Kafka work (records, topics,
/// partitions, bytes) and none of its processing: librdkafka sends one partition's batch per
/// produce request, so where records go costs as much as how many there are.
struct HopShape {
    struct Output: Equatable {
        var perRecord: Double
        /// The values' average size; nil writes the input's value.
        var bytes: Int?
        /// The one key of every record; nil uses the member's.
        var key: [UInt8]?
    }

    /// Nil for a last hop: it passes nothing on.
    var forward: Output?
    var sides: [Output]

    /// Each hop's shape: its records per input are its share (as the processors' run shared each
    /// topic among hops) of what the service wrote to each topic in its run through Kafka, where
    /// batches, and so the records written once per key and batch, differ from the processors'.
    /// - Parameters:
    ///   - written: records per input the service wrote, by topic key; a topic missing here keeps
    ///     the processors' count.
    ///   - inputs: the records each hop read in the processors' run.
    static func shapes(_ hops: [HopOutputs], written: [String: Double], inputs: Int) -> [HopShape] {
        var total: [String: Int] = [:]
        for hop in hops { for (key, topic) in hop.topics { total[key, default: 0] += topic.records } }
        return hops.map { hop in
            var shape = HopShape(forward: nil, sides: [])
            for (key, topic) in hop.topics.sorted(by: { $0.key < $1.key }) {
                let processorsShare = Double(topic.records) / Double(max(1, inputs))
                let perRecord = written[key].map { $0 * Double(topic.records) / Double(total[key]!) } ?? processorsShare
                let output = Output(perRecord: perRecord, bytes: topic.bytes / topic.records, key: topic.key)
                if key == hop.forwardTopic {
                    shape.forward = Output(perRecord: 1, bytes: output.bytes, key: output.key)
                    if perRecord > 1.005 { shape.sides.append(Output(perRecord: perRecord - 1, bytes: output.bytes, key: output.key)) }
                } else if perRecord > 0 {
                    shape.sides.append(output)
                }
            }
            if hop.forwardTopic != nil && shape.forward == nil { shape.forward = Output(perRecord: 1, bytes: nil, key: nil) }
            return shape
        }
    }

    /// The same records per input only: the one passed on and the rest in one side topic, each the
    /// input's value on the member's key (the reference before shapes).
    var recordsOnly: HopShape {
        let side = sides.reduce(0) { $0 + $1.perRecord }
        return HopShape(forward: forward.map { _ in Output(perRecord: 1, bytes: nil, key: nil) },
                        sides: side > 0 ? [Output(perRecord: side, bytes: nil, key: nil)] : [])
    }

    /// "topics, records per input, bytes per input" (a value kept as read counts as 0 bytes).
    var summary: String {
        let outputs = (forward.map { [$0] } ?? []) + sides
        let records = outputs.reduce(0) { $0 + $1.perRecord }
        let bytes = outputs.reduce(0) { $0 + $1.perRecord * Double($1.bytes ?? 0) }
        return String(format: "%d topics, %.2f records, %.0f B", outputs.count, records, bytes)
    }
}

/// A pass-through hop with a ``HopShape`` and no work of its own. It passes each record on (cut or
/// padded to the size of what the service's hop passes on) and writes beside it, per side topic,
/// the service's records per input (exact running shares: after n records, floor(n × share)
/// written), each value one prebuilt payload of the side's size. A record passed on under a key of
/// its own (a hot reward's) carries the member's key in a header, so later hops key by member again.
final class ShapedHopProcessor: RecordProcessor {
    static let memberHeader = "orbit-bench-member"

    private let forwardTopic: String?
    private let forward: HopShape.Output?
    private let sides: [(topic: String, output: HopShape.Output, payload: [UInt8]?)]
    private let filler: [UInt8]
    private var read = 0
    private var written: [Int]

    /// - Parameters:
    ///   - forwardTopic: where the next hop reads; nil for a last hop.
    ///   - sideTopics: one per side of `shape`, in its order.
    init(forwardTopic: String?, shape: HopShape, sideTopics: [String]) {
        precondition(sideTopics.count == shape.sides.count, "a topic per side")
        self.forwardTopic = forwardTopic
        self.forward = forwardTopic == nil ? nil : shape.forward
        self.sides = zip(sideTopics, shape.sides).map { topic, output in
            (topic, output, output.bytes.map { [UInt8](repeating: UInt8(ascii: " "), count: $0) })
        }
        self.filler = [UInt8](repeating: UInt8(ascii: " "), count: shape.forward?.bytes ?? 0)
        self.written = Array(repeating: 0, count: shape.sides.count)
    }

    func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) {
        read += 1
        let member = record.headers.first { $0.name == Self.memberHeader }?.value ?? record.key
        if let forward, let forwardTopic {
            outputs.append(ProducerRecord(topic: forwardTopic, key: forward.key ?? member, value: forward.bytes.map { sized(record.value, $0) } ?? record.value,
                                          headers: forward.key == nil ? [] : [KafkaHeader(Self.memberHeader, member)], timestampMillis: record.timestampMillis))
        }
        for index in sides.indices {
            let due = Int(Double(read) * sides[index].output.perRecord)
            while written[index] < due {
                outputs.append(ProducerRecord(topic: sides[index].topic, key: sides[index].output.key ?? member, value: sides[index].payload ?? record.value,
                                              timestampMillis: record.timestampMillis))
                written[index] += 1
            }
        }
    }

    /// The record's bytes cut or padded to `size` (a pass-through never reads them); the same
    /// bytes, not a copy, when they are that size already.
    private func sized(_ value: [UInt8]?, _ size: Int) -> [UInt8] {
        let bytes = value ?? []
        if bytes.count == size { return bytes }
        if bytes.count > size { return Array(bytes[..<size]) }
        return bytes + filler[..<(size - bytes.count)]
    }
}
