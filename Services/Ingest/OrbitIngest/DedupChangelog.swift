import OrbitContract
import OrbitKafka

/// The format of `orbit-ingest.dedup-changelog`: per input partition and batch, one record (or a
/// few, past `maxRecordBytes`) listing the ids accepted, one `id TAB receive-time-ms` per line.
///
/// One record per batch rather than per id halves the broker's work for ingestion. Ids never hold
/// control characters (the contract forbids them), so TAB and LF cannot occur inside one. Keys are
/// `<first input offset>-<chunk>`: deterministic, so a replayed batch rewrites the same keys. The
/// topic uses time retention equal to the dedup window (`cleanup.policy=delete`): old batches
/// expire together with the ids they hold.
public enum DedupChangelog {
    public static let maxRecordBytes = 256 * 1024

    public struct Builder {
        let firstOffset: Int64
        private var chunks: [[UInt8]] = [[]]

        public init(firstOffset: Int64) { self.firstOffset = firstOffset }

        public mutating func add(_ id: String, at time: Int64) {
            if chunks[chunks.count - 1].count > DedupChangelog.maxRecordBytes { chunks.append([]) }
            let last = chunks.count - 1
            chunks[last].append(contentsOf: id.utf8)
            chunks[last].append(0x09)
            DecimalDigits.append(time, to: &chunks[last])
            chunks[last].append(0x0A)
        }

        public func records(topic: String, partition: Int32) -> [ProducerRecord] {
            chunks.enumerated().filter { !$0.element.isEmpty }.map { index, chunk in
                ProducerRecord(topic: topic, partition: partition, key: Array("\(firstOffset)-\(index)".utf8), value: chunk)
            }
        }
    }

    /// Calls `body` with each (id, time) of a changelog record; malformed lines are skipped.
    public static func decode(_ value: [UInt8], _ body: (String, Int64) -> Void) {
        for line in value.split(separator: 0x0A) {
            guard let tab = line.firstIndex(of: 0x09),
                  let time = Int64(String(decoding: line[(tab + 1)...], as: UTF8.self)) else { continue }
            body(String(decoding: line[..<tab], as: UTF8.self), time)
        }
    }
}
