import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka

struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print a topic's records as JSON lines (partition, offset, key, timestamp, headers, value)."
    )

    @Argument(help: "The topic to read.") var topic: String
    @Flag(help: "Start at the oldest retained record instead of the end.") var fromBeginning = false
    @Option(help: "Stop after this many records.") var limit: Int?
    @Option(help: "Stop after this many seconds without a record.") var idleExit: Double?
    @Flag(help: "Stop at the end each partition had when reading began (with --from-beginning: a whole topic, however slow the reading).")
    var toEnd = false
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try OptionChecks.require(limit, "limit", in: OptionChecks.positive)
        try OptionChecks.require(idleExit, "idle-exit", above: 0)
    }

    func run() async throws {
        let consumer = try KafkaConsumer(configuration: try connection.configuration(), name: "orbit-tail", logger: Logger(label: "orbit.tail"))
        defer { consumer.close() }
        let partitions = (0..<(try consumer.partitionCount(of: topic))).map { TopicPartition(topic, Int32($0)) }
        // The ends are asked for before the assignment, in one request per leader: once fetches
        // are in flight, each ListOffsets request waits behind a Fetch the broker holds for up to
        // fetch.wait.max.ms on the same connection (one partition at a time took 20 s for 64).
        let limits = toEnd ? PartitionEnds(watermarks: try consumer.watermarks(partitions)).short : [:]
        try consumer.assign(partitions.map {
            TopicPartitionOffset($0, offset: fromBeginning ? TopicPartitionOffset.beginning : TopicPartitionOffset.end)
        })
        // Reading from the end, the ends are where it starts: nothing is left to read up to them.
        var ends = PartitionEnds(fromBeginning ? limits : [:])
        var printed = 0
        var lastRecord = Date()
        var lastPositionCheck = Date()
        let stop = StopFlagBox()
        Task { await Signals.wait(); stop.set() }
        while !stop.isSet {
            if let limit, printed >= limit { break }
            if toEnd, ends.isEmpty { break }
            if let idleExit, Date().timeIntervalSince(lastRecord) > idleExit { break }
            let polled = try consumer.poll(timeout: .milliseconds(200))
            // Positions are looked at when caught up, and at least every 250 ms while other
            // partitions keep records coming.
            if toEnd, polled == nil || Date().timeIntervalSince(lastPositionCheck) > 0.25 {
                lastPositionCheck = Date()
                try ends.dropReached(by: consumer)
            }
            guard let record = polled else { continue }
            lastRecord = Date()
            // Past its end, a partition's records are not printed: the others are still being read.
            if toEnd, record.offset >= limits[record.topicPartition, default: 0] { continue }
            printed += 1
            Output.line(String(decoding: Self.render(record), as: UTF8.self))
        }
    }

    /// A record as one JSON object; a value that is JSON is embedded, anything else is a string
    /// (base64 when it is not UTF-8).
    static func render(_ record: ConsumerRecord) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("topic"); w.string(record.topic)
        w.key("partition"); w.int(Int64(record.partition))
        w.key("offset"); w.int(record.offset)
        w.key("key"); text(&w, record.key)
        w.key("timestamp"); if let ts = record.timestampMillis { w.string(RFC3339.format(millis: ts)) } else { w.null() }
        w.key("headers")
        w.beginObject()
        for header in record.headers { w.key(header.name); text(&w, header.value) }
        w.endObject()
        w.key("value")
        if let value = record.value, let json = try? JSONParser.parse(value) { w.value(json) } else { text(&w, record.value) }
        w.endObject()
        return w.bytes
    }

    private static func text(_ w: inout JSONWriter, _ bytes: [UInt8]?) {
        guard let bytes else { w.null(); return }
        if let s = String(validating: bytes, as: UTF8.self) { w.string(s) } else { w.string("base64:" + Base64.encode(bytes)) }
    }
}

final class StopFlagBox: @unchecked Sendable {
    // `@unchecked Sendable`: the flag is only touched under `lock`.
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
