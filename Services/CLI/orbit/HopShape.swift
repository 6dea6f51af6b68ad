import OrbitKafka
import OrbitRuntime

/// What one hop of a service writes per record it reads, measured from its processors' outputs
/// (`--core-only`): the record it passes on to the next hop, and beside it, per other topic it
/// writes, records per input and their average size. A pass-through chain with these shapes does
/// the same Kafka work as the service (the same records, topics and bytes) and none of its
/// processing; librdkafka sends one partition's batch per produce request, so the number of
/// topics written, and not only the number of records, sets what the hops cost.
struct HopShape {
    struct Side: Equatable {
        var perRecord: Double
        /// The values' average size; 0 writes the input's value unchanged.
        var bytes: Int
    }

    /// The average size of the value passed on (0: the hop passes nothing on; the chain passes its
    /// input on unchanged).
    var forwardBytes: Int
    /// The other topics, in name order.
    var sides: [Side]

    /// - Parameters:
    ///   - records: what the hop wrote reading `inputs` records.
    ///   - forwardTopic: where the next hop reads; nil for the last hop.
    init(_ records: [ProducerRecord], inputs: Int, forwardTopic: String?) {
        var byTopic: [String: (count: Int, bytes: Int)] = [:]
        for record in records {
            byTopic[record.topic, default: (0, 0)].count += 1
            byTopic[record.topic, default: (0, 0)].bytes += record.value?.count ?? 0
        }
        let forward = forwardTopic.flatMap { byTopic.removeValue(forKey: $0) }
        forwardBytes = forward.map { $0.bytes / max(1, $0.count) } ?? 0
        sides = byTopic.sorted { $0.key < $1.key }.map { Side(perRecord: Double($0.value.count) / Double(max(1, inputs)), bytes: $0.value.bytes / $0.value.count) }
    }

    init(forwardBytes: Int, sides: [Side]) {
        (self.forwardBytes, self.sides) = (forwardBytes, sides)
    }

    /// Records beside the one passed on, per input.
    var sideRecords: Double { sides.reduce(0) { $0 + $1.perRecord } }

    /// Fits hops to the records their stages wrote in a run through Kafka, where batches (and so
    /// the records written once per key and batch) differ from the processors' run: each hop passes
    /// one record on, and a stage's other records are shared among its hops' side topics as the
    /// processors' run shared them.
    /// - Parameters:
    ///   - stages: each hop's stage (an index into `written`).
    ///   - written: records each stage wrote per input, in all.
    static func fitted(_ hops: [HopShape], stages: [Int], written: [Double]) -> [HopShape] {
        written.indices.reduce(into: hops) { fitted, stage in
            let members = hops.indices.filter { stages[$0] == stage }
            let sides = members.reduce(0) { $0 + hops[$1].sideRecords }
            let scale = sides > 0 ? max(0, written[stage] - Double(members.count)) / sides : 0
            for hop in members {
                fitted[hop].sides = hops[hop].sides.map { Side(perRecord: $0.perRecord * scale, bytes: $0.bytes) }.filter { $0.perRecord > 0 }
            }
        }
    }

    /// The same records per input, all beside the one passed on in one topic, each a copy of the input.
    var recordsOnly: HopShape {
        HopShape(forwardBytes: 0, sides: sideRecords > 0 ? [Side(perRecord: sideRecords, bytes: 0)] : [])
    }

    /// "topics, records per input, bytes per input" of the hop (the record passed on included).
    var summary: String {
        let bytes = Double(forwardBytes) + sides.reduce(0) { $0 + $1.perRecord * Double($1.bytes) }
        return String(format: "%d topics, %.2f records, %.0f B", 1 + sides.count, 1 + sideRecords, bytes)
    }
}

/// A pass-through hop with a service hop's shape and no work of its own: passes each record on
/// (cut or padded to the size of what the service's hop passes on) and writes beside it, per side
/// topic, the service's records per input at their average size (exact running shares: after n
/// records, floor(n × share) written).
final class ShapedHopProcessor: RecordProcessor {
    private let forwardTopic: String
    private let forwardBytes: Int
    private let sides: [(topic: String, shape: HopShape.Side)]
    private let filler: [UInt8]
    private var read = 0
    private var written: [Int]

    /// - Parameter sideTopics: one per side of `shape`, in its order.
    init(forwardTopic: String, shape: HopShape, sideTopics: [String]) {
        precondition(sideTopics.count == shape.sides.count, "a topic per side")
        self.forwardTopic = forwardTopic
        self.forwardBytes = shape.forwardBytes
        self.sides = Array(zip(sideTopics, shape.sides))
        self.filler = [UInt8](repeating: UInt8(ascii: " "), count: max(shape.forwardBytes, shape.sides.map(\.bytes).max() ?? 0))
        self.written = Array(repeating: 0, count: shape.sides.count)
    }

    func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) {
        read += 1
        outputs.append(ProducerRecord(topic: forwardTopic, key: record.key, value: sized(record.value, forwardBytes), headers: record.headers, timestampMillis: record.timestampMillis))
        for index in sides.indices {
            let due = Int(Double(read) * sides[index].shape.perRecord)
            while written[index] < due {
                outputs.append(ProducerRecord(topic: sides[index].topic, key: record.key, value: sized(record.value, sides[index].shape.bytes),
                                              timestampMillis: record.timestampMillis))
                written[index] += 1
            }
        }
    }

    /// The record's bytes cut or padded to `size` (a pass-through never reads them); unchanged for 0.
    private func sized(_ value: [UInt8]?, _ size: Int) -> [UInt8]? {
        guard size > 0 else { return value }
        let bytes = value ?? []
        if bytes.count >= size { return Array(bytes[..<size]) }
        var out = bytes
        out.reserveCapacity(size)
        out.append(contentsOf: filler[..<(size - bytes.count)])
        return out
    }
}
