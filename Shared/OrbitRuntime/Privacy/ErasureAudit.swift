import OrbitContract
import OrbitKafka

/// What `orbit verify erased USER_ID` checks, over records already read: nothing of the user is
/// left in the latest values of the compacted topics (Orbit's public ones and every state store's
/// changelog), and each service answered with a receipt. Records in append-only topics are
/// counted, not failed: Kafka cannot rewrite them, and they expire with retention.
public struct ErasureAudit: Sendable {
    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public let topic: String
        public let key: String
        public let why: String
        public var description: String { "\(topic) key \(key): \(why)" }
    }

    public var leftovers: [Finding] = []
    public var receipts: [PrivacyReceipt] = []
    public var missingReceipts: [String] = []
    /// Append-only topic → records keyed by the user (until retention).
    public var retained: [String: Int] = [:]

    public var passed: Bool { leftovers.isEmpty && missingReceipts.isEmpty }

    /// - Parameters:
    ///   - compacted: each compacted topic's records in offset order per partition.
    ///   - appendOnly: append-only topics' records, only counted.
    ///   - receipts: the receipts topic's records.
    public static func audit(user: String, subject: String, compacted: [String: [ConsumerRecord]], appendOnly: [String: [ConsumerRecord]],
                             receipts: [ConsumerRecord], services: [String]) -> ErasureAudit {
        var audit = ErasureAudit()
        let userBytes = Array(user.utf8)
        let quoted = Array("\"\(user)\"".utf8)
        let prefix = Array("\(user)/".utf8)
        for (topic, records) in compacted.sorted(by: { $0.key < $1.key }) {
            // The latest value per key is what compaction keeps.
            var latest: [[UInt8]: [UInt8]?] = [:]
            var order: [[UInt8]] = []
            for record in records {
                guard let key = record.key else { continue }
                if latest[key] == nil { order.append(key) }
                latest[key] = .some(record.value)
            }
            for key in order {
                guard let value = latest[key] ?? nil else { continue }  // a tombstone: erased
                let keyText = String(decoding: key, as: UTF8.self)
                if key == userBytes || key.starts(with: prefix) {
                    audit.leftovers.append(Finding(topic: topic, key: keyText, why: "the user's key still has a value"))
                } else if value.first == UInt8(ascii: "{") ? contains(value, quoted) : contains(value, userBytes) {
                    audit.leftovers.append(Finding(topic: topic, key: keyText, why: "the value mentions the user id"))
                }
            }
        }
        for (topic, records) in appendOnly {
            let count = records.filter { $0.key == userBytes }.count
            if count > 0 { audit.retained[topic] = count }
        }
        audit.receipts = receipts.compactMap { $0.value.flatMap(PrivacyReceipt.decode) }.filter { $0.subject == subject }
        let answered = Set(audit.receipts.map(\.service))
        audit.missingReceipts = services.filter { !answered.contains($0) }
        return audit
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
