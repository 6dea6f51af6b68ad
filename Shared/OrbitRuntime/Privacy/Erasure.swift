import OrbitContract
import OrbitKafka

/// One service's answer to one erase request, built while the processor erases: what it erased,
/// the tombstones it wrote, and at the end the receipt. The receipt names the user only by its
/// pseudonym, and its time is the request record's, so a replay writes the same bytes.
public struct Erasure {
    public let request: PrivacyRequest
    public let subject: String
    public let service: String
    public let timeMillis: Int64
    public private(set) var erased: [String] = []
    public private(set) var tombstones: [String: Int] = [:]
    public private(set) var notes: [String] = []

    public init(_ request: PrivacyRequest, pseudonymizer: Pseudonymizer, service: String, timeMillis: Int64) {
        self.request = request
        self.subject = pseudonymizer.pseudonym(request.userID)
        self.service = service
        self.timeMillis = timeMillis
    }

    /// A tombstone for `key` on a compacted topic: compaction then removes every earlier value.
    public mutating func tombstone(_ topic: String, key: String, into outputs: inout [ProducerRecord]) {
        outputs.append(ProducerRecord(topic: topic, key: Array(key.utf8), value: nil, timestampMillis: timeMillis))
        tombstones[topic, default: 0] += 1
    }

    /// Counts a tombstone written by a state store (the store writes it with its changes).
    public mutating func storeTombstone(_ topic: String) { tombstones[topic, default: 0] += 1 }

    public mutating func erased(_ what: String) { erased.append(what) }
    public mutating func note(_ text: String) { notes.append(text) }

    public func receipt(topic: String) -> ProducerRecord {
        let receipt = PrivacyReceipt(requestID: request.requestID, subject: subject, service: service, kind: request.kind,
                                     erased: erased, tombstones: tombstones, notes: notes, timeMillis: timeMillis)
        return ProducerRecord(topic: topic, key: Array(request.requestID.utf8), value: receipt.encoded(), timestampMillis: timeMillis)
    }

    /// What every receipt says about Orbit's append-only topics (events, ledger, outbox): Kafka
    /// cannot rewrite them, so their records age out by the topics' retention.
    public static let retentionNote = "records in append-only topics (events, segment changes, ledger, member events, outbox, deliveries) expire with their topics' retention.ms"
}

extension DeadLetters {
    /// A privacy request that reached a processor, which happens only when its stage declares no
    /// `erasesFrom`: nothing would erase the user, so the request is a dead letter, never dropped.
    public func privacyRequestNotErased(_ record: ConsumerRecord) -> ProducerRecord {
        self.record(for: record, .undecodableRecord, "a privacy request reached the processor: its stage declares no erasesFrom")
    }
}

extension PrivacyRequest {
    /// The value of the kind header (``InputKindHeader``) that marks a privacy request on a
    /// stage's merged input: every service's input kinds name it so.
    public static let inputKind = "privacy_request"

    /// The request a consumed record carries; a record that is not one becomes a dead letter
    /// (appended to `outputs`) and nil.
    public static func read(_ record: ConsumerRecord, deadLetters: DeadLetters, outputs: inout [ProducerRecord]) -> PrivacyRequest? {
        guard let key = record.key, !key.isEmpty, let value = record.value else {
            outputs.append(deadLetters.record(for: record, record.key == nil ? .missingKey : .undecodableRecord, "a privacy request needs the user id as key and a value"))
            return nil
        }
        do {
            return try PrivacyRequest.decode(value, key: String(decoding: key, as: UTF8.self))
        } catch {
            outputs.append(deadLetters.record(for: record, .undecodableRecord, field: error.field, "not a privacy request: \(error.message)"))
            return nil
        }
    }
}
