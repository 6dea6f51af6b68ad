import Foundation
import Logging

/// Reads every partition of some topics from the beginning, outside any consumer group: what the
/// tools (`orbit demo`, `orbit bench`) and the tests use to see everything a service produced.
/// Records are kept in memory, so it is for bounded topics, not for following a live stream.
public final class TopicReader {
    private let consumer: KafkaConsumer
    private var partitions: [TopicPartition] = []
    public private(set) var records: [String: [ConsumerRecord]] = [:]

    public convenience init(bootstrap: String, topics: [String]) throws {
        try self.init(kafka: KafkaConfiguration(["bootstrap.servers": bootstrap]), topics: topics)
    }

    public init(kafka: KafkaConfiguration, topics: [String]) throws {
        consumer = try KafkaConsumer(configuration: KafkaConfiguration(["fetch.wait.max.ms": "50"]).merging(kafka.properties),
                                     name: "topic-reader", logger: Logger(label: "orbit.topic-reader"))
        var starts: [TopicPartitionOffset] = []
        for topic in topics {
            records[topic] = []
            for partition in 0..<(try consumer.partitionCount(of: topic)) {
                starts.append(TopicPartitionOffset(TopicPartition(topic, Int32(partition)), offset: TopicPartitionOffset.beginning))
                partitions.append(TopicPartition(topic, Int32(partition)))
            }
        }
        try consumer.assign(starts)
    }

    /// Reads until `done` holds or `timeout` passes; returns whether `done` held.
    @discardableResult
    public func read(timeout: TimeInterval, until done: ([String: [ConsumerRecord]]) throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try done(records) { return true }
            var polled = 0
            while polled < 5000, let record = try consumer.poll(timeout: .milliseconds(50)) {
                records[record.topic, default: []].append(record)
                polled += 1
            }
        }
        return try done(records)
    }

    /// The latest value of each key of `topic` among the records read, as compaction keeps it:
    /// a null value (a tombstone) removes the key; records without a key are skipped.
    public func latest(_ topic: String) -> [String: [UInt8]] {
        var latest: [String: [UInt8]] = [:]
        for record in records[topic] ?? [] {
            guard let key = record.key else { continue }
            latest[String(decoding: key, as: UTF8.self)] = record.value
        }
        return latest
    }

    /// Reads everything written before this call (up to each partition's end when it was called).
    /// Throws `KafkaError.timedOut`, naming the partitions short of their ends, if `timeout`
    /// passes first: a tool that went on would report on part of a topic as if it were all of it.
    public func readToEnd(timeout: TimeInterval = 60) throws {
        var ends = PartitionEnds(watermarks: try consumer.watermarks(partitions))
        let reached = try read(timeout: timeout) { _ in
            try ends.dropReached(by: self.consumer)
            return ends.isEmpty
        }
        guard !reached else { return }
        let positions = try consumer.positions(Array(ends.short.keys))
        let behind = ends.short.keys.sorted().prefix(5).map { "\($0) at \(positions[$0] ?? 0) of \(ends.short[$0]!)" }
        throw KafkaError.timedOut("reading to the end took over \(Int(timeout)) s; partitions short of their ends: \(behind.joined(separator: ", "))"
                                  + (ends.short.count > 5 ? " and \(ends.short.count - 5) more" : ""))
    }

    /// Reads whatever arrives for `duration` (to make sure nothing more comes).
    public func drain(for duration: TimeInterval) throws {
        _ = try read(timeout: duration) { _ in false }
    }

    public func count(_ topic: String) -> Int { records[topic]?.count ?? 0 }

    deinit { consumer.close() }
}

