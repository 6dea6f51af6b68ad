import Foundation
import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// Ingestion: validate, normalise, deduplicate. One input record becomes one record on `.valid`
/// (keyed by user id, so a user's events stay ordered in one partition), one dead letter, or
/// nothing (a duplicate id within the window).
///
/// Privacy requests are read too: ingestion keeps nothing per user (its deduplication memory
/// holds event ids), so it answers an erase request with a receipt that says so.
public final class IngestProcessor: RecordProcessor {
    public static let sourceHeader = "orbit-source"
    public static let errorCodeHeader = "orbit-error-code"

    let settings: IngestSettings
    let validator: EventValidator
    let privacy: PrivacySettings
    let service: String
    let deadLetters: DeadLetters
    private var windows: [Int32: DedupWindow] = [:]
    /// Ids accepted since the last commit, per input partition, as changelog lines.
    private var pendingIDs: [Int32: DedupChangelog.Builder] = [:]

    private let validCounter = Counter(label: "orbit_ingest_valid_total")
    private let duplicateCounter = Counter(label: "orbit_ingest_duplicates_total")
    private var rejectionCounters: [RejectionCode: Counter] = [:]
    private let dedupGauge = Gauge(label: "orbit_ingest_dedup_ids")

    public init(settings: IngestSettings, privacy: PrivacySettings = PrivacySettings(), service: String = "orbit-ingest") {
        self.settings = settings
        self.validator = EventValidator(policy: settings.policy)
        self.privacy = privacy
        self.service = service
        self.deadLetters = DeadLetters(topic: settings.deadLetterTopic, service: service)
    }

    public func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {
        let mine = partitions.filter { $0.topic == settings.inputTopic }
        var restored: [Int32: DedupWindow] = [:]
        for partition in mine {
            restored[partition.partition] = DedupWindow(windowMillis: settings.dedupWindowMillis, maxEntries: settings.dedupMaxIDsPerPartition)
        }
        let changelog = mine.map { TopicPartition(settings.dedupChangelogTopic, $0.partition) }
        try restorer.readAll(changelog) { record in
            guard let value = record.value else { return }
            DedupChangelog.decode(value) { id, time in restored[record.partition]?.insert(id, at: time) }
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

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) {
        if record.topic != settings.inputTopic, record.topic == privacy.requestsTopic {
            return answer(record, outputs: &outputs)
        }
        // The receive time decides "too far in the future" and the dedup window. It comes from the
        // record, not the clock at processing, so a replay decides exactly as the first run did;
        // a producer clock ahead of ours is capped at our clock.
        let clock = context.nowMillis
        let receivedAt = min(record.timestampMillis ?? clock, clock)
        let source = Self.sourceCoordinates(record)
        switch validator.validateRecord(record.value, referenceTimeMillis: receivedAt) {
        case .success(let event):
            let inserted = windows[record.partition, default: DedupWindow(windowMillis: settings.dedupWindowMillis, maxEntries: settings.dedupMaxIDsPerPartition)]
                .insert(event.id, at: receivedAt)
            guard inserted else {
                duplicateCounter.increment()
                return
            }
            pendingIDs[record.partition, default: DedupChangelog.Builder(firstOffset: record.offset)].add(event.id, at: receivedAt)
            outputs.append(ProducerRecord(
                topic: settings.validTopic, key: event.key, value: event.value,
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
        for partition in Array(windows.keys) { windows[partition]?.evictExpired() }  // a copy of the keys: see KeyedStore.takeChanges
        dedupGauge.record(windows.values.reduce(0) { $0 + $1.count })
        defer { pendingIDs.removeAll(keepingCapacity: true) }
        return pendingIDs.sorted { $0.key < $1.key }.flatMap { partition, builder in
            builder.records(topic: settings.dedupChangelogTopic, partition: partition)
        }
    }

    /// An erase request: nothing of the user is kept here, so the receipt lists nothing erased
    /// and says where the user's events remain until retention.
    private func answer(_ record: ConsumerRecord, outputs: inout [ProducerRecord]) {
        guard let request = PrivacyRequest.read(record, deadLetters: deadLetters, outputs: &outputs) else { return }
        var erasure = Erasure(request, pseudonymizer: privacy.pseudonymizer, service: service, timeMillis: record.timestampMillis ?? request.requestedAtMillis)
        erasure.note("no per-user state: the deduplication memory holds event ids only")
        erasure.note(Erasure.retentionNote + ", dead letters included")
        outputs.append(erasure.receipt(topic: privacy.receiptsTopic))
    }

    /// `topic/partition/offset` of the input record, for lineage.
    static func sourceCoordinates(_ record: ConsumerRecord) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(record.topic.utf8.count + 32)
        bytes.append(contentsOf: record.topic.utf8)
        bytes.append(UInt8(ascii: "/"))
        DecimalDigits.append(Int64(record.partition), to: &bytes)
        bytes.append(UInt8(ascii: "/"))
        DecimalDigits.append(record.offset, to: &bytes)
        return bytes
    }

    private func rejectionCounter(_ code: RejectionCode) -> Counter {
        if let counter = rejectionCounters[code] { return counter }
        let counter = Counter(label: "orbit_ingest_rejected_total", dimensions: [("code", code.rawValue)])
        rejectionCounters[code] = counter
        return counter
    }
}
