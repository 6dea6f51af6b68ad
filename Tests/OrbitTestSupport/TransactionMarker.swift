import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a transaction marker to one partition of the local broker, as Apache Kafka's transaction
/// coordinator appends one when a transaction commits or aborts: a control batch that takes an
/// offset and is never given to a consumer. The local broker (librdkafka's mock cluster) writes no
/// markers itself (its EndTxn only answers), but it keeps a produced batch as it was sent, so a raw
/// Produce request of a control batch puts one where a consumer meets it as it would on Kafka.
public enum TransactionMarker {
    public enum Kind: Int16 { case abort = 0, commit = 1 }

    /// Appends one marker to `topic`/`partition` of the single broker at `bootstrap`
    /// (`host:port`) and returns its offset.
    @discardableResult
    public static func write(_ kind: Kind, topic: String, partition: Int32, bootstrap: String,
                             producerID: Int64 = 4_242, epoch: Int16 = 0) throws -> Int64 {
        guard let port = bootstrap.split(separator: ",").first?.split(separator: ":").last.flatMap({ Int($0) }) else {
            throw TestFailure("no port in \(bootstrap)")
        }
        let fd = try HTTPProbe.connectLoopback(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = produceRequest(topic: topic, partition: partition, batch: controlBatch(kind, producerID: producerID, epoch: epoch))
        guard request.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == request.count else {
            throw TestFailure("the Produce request was not sent whole")
        }
        var response = try read(fd, count: 4)
        let size = Int(response.int32(at: 0))
        response = try read(fd, count: size)
        // correlation id, one topic (name, one partition: index, error, base offset, ...).
        var at = 4 + 4
        at += 2 + Int(response.int16(at: at)) + 4
        let error = response.int16(at: at + 4)
        guard error == 0 else { throw TestFailure("the broker refused the marker: error \(error)") }
        return response.int64(at: at + 6)
    }

    /// A v2 record batch holding one control record (key: version 0 and the kind; value: version 0
    /// and the coordinator epoch), transactional and control in its attributes.
    static func controlBatch(_ kind: Kind, producerID: Int64, epoch: Int16) -> [UInt8] {
        var key: [UInt8] = []
        key.appendInt16(0)
        key.appendInt16(kind.rawValue)
        var value: [UInt8] = []
        value.appendInt16(0)
        value.appendInt32(0)
        var record: [UInt8] = [0]  // attributes
        record.appendVarint(0)  // timestamp delta
        record.appendVarint(0)  // offset delta
        record.appendVarint(Int64(key.count))
        record += key
        record.appendVarint(Int64(value.count))
        record += value
        record.appendVarint(0)  // headers
        var sized: [UInt8] = []
        sized.appendVarint(Int64(record.count))
        sized += record

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var checked: [UInt8] = []  // what the CRC covers: attributes to the end
        checked.appendInt16(0x30)  // transactional | control
        checked.appendInt32(0)  // last offset delta
        checked.appendInt64(now)
        checked.appendInt64(now)
        checked.appendInt64(producerID)
        checked.appendInt16(epoch)
        checked.appendInt32(-1)  // base sequence
        checked.appendInt32(1)  // records
        checked += sized
        var batch: [UInt8] = []
        batch.appendInt64(0)  // base offset (the broker sets it)
        batch.appendInt32(Int32(4 + 1 + 4 + checked.count))  // partition leader epoch, magic, CRC, the rest
        batch.appendInt32(0)
        batch.append(2)  // magic
        batch.appendInt32(Int32(bitPattern: CRC32C.checksum(checked)))
        batch += checked
        return batch
    }

    /// Produce v3: no transactional id, acks -1, one topic with one partition.
    static func produceRequest(topic: String, partition: Int32, batch: [UInt8]) -> [UInt8] {
        var body: [UInt8] = []
        body.appendInt16(0)  // Produce
        body.appendInt16(3)
        body.appendInt32(1)  // correlation id
        body.appendString("orbit-test-marker")
        body.appendInt16(-1)  // transactional id: null
        body.appendInt16(-1)  // acks
        body.appendInt32(10_000)
        body.appendInt32(1)
        body.appendString(topic)
        body.appendInt32(1)
        body.appendInt32(partition)
        body.appendInt32(Int32(batch.count))
        body += batch
        var framed: [UInt8] = []
        framed.appendInt32(Int32(body.count))
        return framed + body
    }

    private static func read(_ fd: Int32, count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: max(1, count))
        while bytes.count < count {
            let n = Glibc.read(fd, &buffer, count - bytes.count)
            guard n > 0 else { throw TestFailure("the broker closed the connection after \(bytes.count) of \(count) bytes") }
            bytes += buffer[0..<n]
        }
        return bytes
    }
}

/// CRC-32C (Castagnoli), which a v2 record batch carries over its attributes and records.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 == 1 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { c, byte in table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
    }
}

private extension Array where Element == UInt8 {
    mutating func appendInt16(_ v: Int16) { append(contentsOf: Swift.withUnsafeBytes(of: v.bigEndian, Array.init)) }
    mutating func appendInt32(_ v: Int32) { append(contentsOf: Swift.withUnsafeBytes(of: v.bigEndian, Array.init)) }
    mutating func appendInt64(_ v: Int64) { append(contentsOf: Swift.withUnsafeBytes(of: v.bigEndian, Array.init)) }
    mutating func appendString(_ s: String) {
        appendInt16(Int16(s.utf8.count))
        append(contentsOf: s.utf8)
    }
    /// A zigzag varint, as record fields are written.
    mutating func appendVarint(_ v: Int64) {
        var z = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        while z >= 0x80 {
            append(UInt8(z & 0x7F) | 0x80)
            z >>= 7
        }
        append(UInt8(z))
    }
    func int16(at i: Int) -> Int16 { Int16(bitPattern: UInt16(self[i]) << 8 | UInt16(self[i + 1])) }
    func int32(at i: Int) -> Int32 { Int32(bitPattern: (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(self[i + $1]) }) }
    func int64(at i: Int) -> Int64 { Int64(bitPattern: (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(self[i + $1]) }) }
}
