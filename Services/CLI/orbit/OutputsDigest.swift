import OrbitKafka
import OrbitRuntime

/// A digest of records' topic, key and value, in order: equal digests from two builds mean they
/// wrote the same bytes, so a change meant only to be faster can be checked (the core-only
/// benches print it).
struct OutputsDigest {
    private(set) var value: UInt64 = 0

    mutating func add(_ record: ProducerRecord) {
        for part in [Array(record.topic.utf8), record.key ?? [], record.value ?? []] {
            value = (value ^ StableHash.content(part)) &* 0x9E37_79B9_7F4A_7C15
        }
    }
}
