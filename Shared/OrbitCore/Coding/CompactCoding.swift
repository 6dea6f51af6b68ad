/// A small binary format for state-store values (shared by every stateful service): variable-length integers (zig-zag for signed),
/// length-prefixed strings. Compact (a typical user state is about 100 bytes) and stable: fields
/// are only ever appended, and a reader stops at the end of the bytes, so older values still read.
public struct CompactWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

    public mutating func unsigned(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func signed(_ value: Int64) {
        unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func int(_ value: Int) { signed(Int64(value)) }
    public mutating func int32(_ value: Int32) { signed(Int64(value)) }

    public mutating func fixed64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    public mutating func string(_ value: String?) {
        guard var value else { unsigned(0); return }
        // Copied straight from the string's storage: no array per string.
        value.withUTF8 { utf8 in
            unsigned(UInt64(utf8.count + 1))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func double(_ value: Double) { fixed64(value.bitPattern) }

    public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// A signed integer that may be absent: a presence byte, then the value.
    public mutating func optionalSigned(_ value: Int64?) {
        guard let value else { bytes.append(0); return }
        bytes.append(1)
        signed(value)
    }

    /// Bytes kept as they are (an encoded record), length-prefixed.
    public mutating func blob(_ value: [UInt8]) {
        unsigned(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// How many elements follow; the reader checks it against the bytes left.
    public mutating func count(_ value: Int) { unsigned(UInt64(value)) }
}

public struct CompactReader {
    public enum Failure: Error { case truncated, malformed }

    private let bytes: [UInt8]
    private var index = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var atEnd: Bool { index >= bytes.count }

    public mutating func unsigned() throws(Failure) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < bytes.count else { throw .truncated }
            let byte = bytes[index]
            index += 1
            guard shift < 64 else { throw .malformed }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    public mutating func signed() throws(Failure) -> Int64 {
        let raw = try unsigned()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func int() throws(Failure) -> Int { Int(truncatingIfNeeded: try signed()) }
    public mutating func int32() throws(Failure) -> Int32 { Int32(truncatingIfNeeded: try signed()) }

    public mutating func fixed64() throws(Failure) -> UInt64 {
        guard index + 8 <= bytes.count else { throw .truncated }
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 8) {
            value |= UInt64(bytes[index]) << UInt64(shift)
            index += 1
        }
        return value
    }

    public mutating func string() throws(Failure) -> String? {
        let length = try unsigned()
        guard length > 0 else { return nil }
        // Compared as UInt64 first: a hostile length beyond Int.max must throw, not trap.
        guard length - 1 <= UInt64(bytes.count - index) else { throw .truncated }
        let count = Int(length - 1)
        defer { index += count }
        return String(decoding: bytes[index..<(index + count)], as: UTF8.self)
    }

    public mutating func double() throws(Failure) -> Double { Double(bitPattern: try fixed64()) }

    public mutating func bool() throws(Failure) -> Bool {
        switch try unsigned() {
        case 0: return false
        case 1: return true
        default: throw .malformed
        }
    }

    public mutating func optionalSigned() throws(Failure) -> Int64? {
        try bool() ? try signed() : nil
    }

    /// A string that must be present (`string()` reads an absent one as nil).
    public mutating func requiredString() throws(Failure) -> String {
        guard let value = try string() else { throw .malformed }
        return value
    }

    public mutating func blob() throws(Failure) -> [UInt8] {
        let length = try unsigned()
        guard length <= UInt64(bytes.count - index) else { throw .truncated }
        let count = Int(length)
        defer { index += count }
        return Array(bytes[index..<(index + count)])
    }

    /// An element count written by ``CompactWriter/count(_:)``. Every element takes at least one
    /// byte, so a count beyond the bytes left is malformed: hostile bytes cannot make a reader
    /// reserve memory they do not hold.
    public mutating func count() throws(Failure) -> Int {
        let value = try unsigned()
        guard value <= UInt64(bytes.count - index) else { throw .malformed }
        return Int(value)
    }
}

/// FNV-1a, 64 bits: a stable hash (Swift's `Hasher` is seeded per process, so it cannot be stored).
public enum StableHash {
    public static func fnv1a(_ text: String) -> UInt64 {
        var text = text
        return text.withUTF8 { fnv1a(bytes: $0) }
    }

    public static func fnv1a(bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// A 64-bit hash of a whole byte array, eight bytes per step (MurmurHash3's mixing on one lane):
    /// for telling whether an encoded output changed. FNV-1a's multiply per byte was 4 % of the
    /// scorer's CPU on 700-byte profiles. Stable across processes and versions of Swift (no seed);
    /// the words are read little-endian on every platform.
    public static func content(_ bytes: [UInt8]) -> UInt64 {
        let c1: UInt64 = 0x87c3_7b91_1142_53d5, c2: UInt64 = 0x4cf5_ad43_2745_937f
        var hash: UInt64 = 0x9e37_79b9_7f4a_7c15 ^ UInt64(bytes.count)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                var word: UInt64
                if raw.count - offset >= 8 {
                    word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                } else {
                    word = 0
                    for i in offset..<raw.count { word |= UInt64(raw[i]) << (8 * UInt64(i - offset)) }
                }
                offset += 8
                word = (word &* c1).rotated(31) &* c2
                hash = ((hash ^ word).rotated(27) &* 5) &+ 0x52dc_e729
            }
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash = hash &* 0xc4ce_b9fe_1a85_ec53
        return hash ^ (hash >> 33)
    }
}

extension UInt64 {
    @inline(__always) fileprivate func rotated(_ bits: UInt64) -> UInt64 { (self << bits) | (self >> (64 - bits)) }
}
