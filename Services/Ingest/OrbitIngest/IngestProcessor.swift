import Foundation
import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// Ingestion: validate, normalise, deduplicate. One input record becomes one record on `.valid`
/// (keyed by user id, so a user's events stay ordered in one partition), one dead letter, or
/// nothing (a duplicate id within the window).
public final class IngestProcessor: RecordProcessor {
    public static let sourceHeader = "orbit-source"
    public static let errorCodeHeader = "orbit-error-code"

    let settings: IngestSettings
    let validator: EventValidator
    /// Wall clock in epoch milliseconds; injectable for tests.
    let now: @Sendable () -> Int64
    private var windows: [Int32: DedupWindow] = [:]
    private var stateChanges: [ProducerRecord] = []

    private let validCounter = Counter(label: "orbit_ingest_valid_total")
    private let duplicateCounter = Counter(label: "orbit_ingest_duplicates_total")
    private var rejectionCounters: [RejectionCode: Counter] = [:]
    private let dedupGauge = Gauge(label: "orbit_ingest_dedup_ids")

    public init(settings: IngestSettings, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.settings = settings
        self.validator = EventValidator(policy: settings.policy)
        self.now = now
    }

    public func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {
        let mine = partitions.filter { $0.topic == settings.inputTopic }
        var restored: [Int32: DedupWindow] = [:]
        for partition in mine {
            restored[partition.partition] = DedupWindow(windowMillis: settings.dedupWindowMillis, maxEntries: settings.dedupMaxIDsPerPartition)
        }
        let changelog = mine.map { TopicPartition(settings.dedupChangelogTopic, $0.partition) }
        try restorer.readAll(changelog) { record in
            guard let key = record.key, let value = record.value,
                  let time = Int64(String(decoding: value, as: UTF8.self)) else { return }
            restored[record.partition]?.insert(String(decoding: key, as: UTF8.self), at: time)
        }
        for (partition, var window) in restored {
            window.evictExpired()
            windows[partition] = window
        }
        dedupGauge.record(windows.values.reduce(0) { $0 + $1.count })
    }

    public func partitionsRevoked(_ partitions: [TopicPartition]) {
        for partition in partitions where partition.topic == settings.inputTopic {
            windows[partition.partition] = nil
        }
    }

    public func process(_ record: ConsumerRecord, outputs: inout [ProducerRecord]) {
        // The receive time decides "too far in the future" and the dedup window. It comes from the
        // record, not the clock at processing, so a replay decides exactly as the first run did;
        // a producer clock ahead of ours is capped at our clock.
        let clock = now()
        let receivedAt = min(record.timestampMillis ?? clock, clock)
        let source = Array("\(record.topic)/\(record.partition)/\(record.offset)".utf8)
        switch validator.validate(record.value, referenceTimeMillis: receivedAt) {
        case .success(let event):
            var window = windows.removeValue(forKey: record.partition)
                ?? DedupWindow(windowMillis: settings.dedupWindowMillis, maxEntries: settings.dedupMaxIDsPerPartition)
            defer { windows[record.partition] = window }
            guard window.insert(event.id, at: receivedAt) else {
                duplicateCounter.increment()
                return
            }
            stateChanges.append(ProducerRecord(
                topic: settings.dedupChangelogTopic, partition: record.partition,
                key: Array(event.id.utf8), value: Array(String(receivedAt).utf8)))
            outputs.append(ProducerRecord(
                topic: settings.validTopic, key: Array(event.userID.utf8), value: event.encoded(),
                headers: [KafkaHeader(Self.sourceHeader, source)], timestampMillis: event.timeMillis))
            validCounter.increment()
        case .failure(let rejection):
            let letter = DeadLetter(
                rejection: rejection,
                source: .init(topic: record.topic, partition: record.partition, offset: record.offset, timestampMillis: record.timestampMillis),
                key: record.key, payload: record.value, maxPayloadBytes: settings.deadLetterMaxPayloadBytes)
            outputs.append(ProducerRecord(
                topic: settings.deadLetterTopic, key: record.key, value: letter.encoded(),
                headers: [KafkaHeader(Self.sourceHeader, source), KafkaHeader(Self.errorCodeHeader, rejection.code.rawValue)],
                timestampMillis: record.timestampMillis))
            rejectionCounter(rejection.code).increment()
        }
    }

    public func takeStateChanges() -> [ProducerRecord] {
        for partition in windows.keys { windows[partition]?.evictExpired() }
        dedupGauge.record(windows.values.reduce(0) { $0 + $1.count })
        defer { stateChanges.removeAll(keepingCapacity: true) }
        return stateChanges
    }

    private func rejectionCounter(_ code: RejectionCode) -> Counter {
        if let counter = rejectionCounters[code] { return counter }
        let counter = Counter(label: "orbit_ingest_rejected_total", dimensions: [("code", code.rawValue)])
        rejectionCounters[code] = counter
        return counter
    }
}
