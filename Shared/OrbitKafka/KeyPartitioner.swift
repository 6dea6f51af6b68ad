/// Where a key belongs: the Java client's default partitioner (murmur2 of the key bytes, made
/// positive, modulo the partition count).
///
/// Kafka places a key by hashing it, but clients disagree on the hash: the Java client (and most
/// clients not built on librdkafka) use murmur2, librdkafka's own default is CRC32. Orbit's
/// producers are configured with librdkafka's `murmur2_random` (the same placement as Java for
/// keyed records), and every stage that must co-locate a key recomputes its partition here instead
/// of trusting the partition an input record arrived on, so a producer with either hash cannot
/// split a user's records across partitions.
public enum KeyPartitioner {
    /// The partition `key` belongs to among `partitionCount` partitions.
    public static func partition(of key: [UInt8], partitionCount: Int) -> Int32 {
        precondition(partitionCount > 0, "a topic has at least one partition")
        return Int32(truncatingIfNeeded: Int(murmur2(key) & 0x7fff_ffff) % partitionCount)
    }

    public static func partition(of key: String, partitionCount: Int) -> Int32 {
        partition(of: Array(key.utf8), partitionCount: partitionCount)
    }

    /// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), bit for bit.
    public static func murmur2(_ data: [UInt8]) -> UInt32 {
        let m: UInt32 = 0x5bd1_e995
        let length = data.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        data.withUnsafeBufferPointer { bytes in
            var i = 0
            while i + 4 <= length {
                var k = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
                k &*= m
                k ^= k >> 24
                k &*= m
                h &*= m
                h ^= k
                i += 4
            }
            let tail = length & ~3
            switch length % 4 {
            case 3:
                h ^= UInt32(bytes[tail + 2]) << 16
                h ^= UInt32(bytes[tail + 1]) << 8
                h ^= UInt32(bytes[tail])
                h &*= m
            case 2:
                h ^= UInt32(bytes[tail + 1]) << 8
                h ^= UInt32(bytes[tail])
                h &*= m
            case 1:
                h ^= UInt32(bytes[tail])
                h &*= m
            default:
                break
            }
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return h
    }
}
