import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish JSON lines (one event per line) to the input topic, keyed by user id.",
        discussion: "Lines are sent as they are, even when they are not valid events: validating is ingestion's job, and bad lines end up on the dead-letter topic with a reason."
    )

    @Argument(help: "A file of JSON lines, or - for standard input.") var file: String
    @Option(help: "Topic to publish to.") var topic = OrbitTopics.userEvents
    @Flag(help: "Each line is {\"key\": K, \"value\": V}: V (any JSON, compact) is sent under key K; a null value is a tombstone. For compacted topics such as orbit.user-contacts, and to replay `orbit tail` output.")
    var keyed = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let producer = try KafkaProducer(configuration: try connection.configuration(), name: "orbit-publish", logger: Logger(label: "orbit.publish"))
        defer { producer.close() }
        let handle: FileHandle
        if file == "-" {
            handle = .standardInput
        } else {
            guard let opened = FileHandle(forReadingAtPath: file) else { throw ValidationError("cannot read \(file)") }
            handle = opened
        }
        let batch = DeliveryBatch()
        var count = 0
        for (number, line) in LineReader(handle).enumerated() where !line.isEmpty {
            if keyed {
                guard let object = try? JSONParser.parse(line).objectValue, let value = object["value"] else {
                    throw ValidationError("line \(number + 1): --keyed lines are {\"key\": ..., \"value\": ...}")
                }
                let key = object["key"]?.stringValue.map { Array($0.utf8) }
                try producer.send(ProducerRecord(topic: topic, key: key, value: value == .null ? nil : JSONWriter.encode(value)), in: batch)
            } else {
                try producer.send(ProducerRecord(topic: topic, key: Self.userKey(line), value: line), in: batch)
            }
            count += 1
        }
        try batch.waitForAll()
        print("published \(count) records to \(topic)")
    }

    /// The user id of a line, when it has one; lines without are sent unkeyed.
    static func userKey(_ line: [UInt8]) -> [UInt8]? {
        guard let object = try? JSONParser.parse(line).objectValue, let user = object["user_id"]?.stringValue else { return nil }
        return Array(user.utf8)
    }
}

/// Reads a file handle line by line as bytes (lines may hold invalid UTF-8 on purpose).
struct LineReader: Sequence, IteratorProtocol {
    let handle: FileHandle
    private var buffer: [UInt8] = []
    private var finished = false

    init(_ handle: FileHandle) { self.handle = handle }

    mutating func next() -> [UInt8]? {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                if line.last == 13 { line.removeLast() }
                return line
            }
            if finished {
                guard !buffer.isEmpty else { return nil }
                defer { buffer = [] }
                return buffer
            }
            let data = handle.readData(ofLength: 1 << 16)
            if data.isEmpty { finished = true } else { buffer.append(contentsOf: data) }
        }
    }
}
