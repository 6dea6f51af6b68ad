import Metrics
import OrbitContract
import OrbitKafka

/// A service's dead-letter topic: a record it cannot use leaves as a dead letter with a reason,
/// the source position and the original bytes, and is counted in `orbit_dead_letters_total`
/// (by service and code). Nothing is dropped in silence.
public struct DeadLetters: Sendable {
    public let topic: String
    public let service: String

    public init(topic: String, service: String) {
        self.topic = topic
        self.service = service
        // The codes every service's own dead letters can carry exist from the start, at 0, so a
        // dashboard shows "none" rather than no data.
        for code in [RejectionCode.undecodableRecord, .missingKey] {
            _ = Counter(label: "orbit_dead_letters_total", dimensions: [("service", service), ("code", code.rawValue)])
        }
    }

    /// The dead letter for `input`, keyed like it.
    public func record(for input: ConsumerRecord, _ code: RejectionCode, field: String? = nil, _ message: String) -> ProducerRecord {
        Counter(label: "orbit_dead_letters_total", dimensions: [("service", service), ("code", code.rawValue)]).increment()
        let letter = DeadLetter(rejection: EventRejection(code, field: field, message),
                                source: .init(topic: input.topic, partition: input.partition, offset: input.offset, timestampMillis: input.timestampMillis),
                                key: input.key, payload: input.value)
        return ProducerRecord(topic: topic, key: input.key, value: letter.encoded())
    }
}
