/// A record of `orbit.user-events.dlq`: why an input record was rejected, where it came from, and
/// the original value untouched (as text when it is UTF-8, base64 otherwise).
public struct DeadLetter: Sendable, Equatable {
    public static let schemaVersion = 1

    public struct Source: Sendable, Equatable {
        public let topic: String
        public let partition: Int32
        public let offset: Int64
        public let timestampMillis: Int64?
        public init(topic: String, partition: Int32, offset: Int64, timestampMillis: Int64?) {
            self.topic = topic
            self.partition = partition
            self.offset = offset
            self.timestampMillis = timestampMillis
        }
    }

    public let rejection: EventRejection
    public let source: Source
    public let key: [UInt8]?
    public let payload: [UInt8]?
    /// Payloads larger than this are cut in the dead letter (the size and a flag say so), so a
    /// hostile multi-megabyte value cannot make the dead letter itself unproducible.
    public let maxPayloadBytes: Int

    public init(rejection: EventRejection, source: Source, key: [UInt8]?, payload: [UInt8]?, maxPayloadBytes: Int = 512 * 1024) {
        self.rejection = rejection
        self.source = source
        self.key = key
        self.payload = payload
        self.maxPayloadBytes = maxPayloadBytes
    }

    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 256 + (payload?.count ?? 0))
        w.beginObject()
        w.key("schema_version"); w.int(Self.schemaVersion)
        w.key("error")
        w.beginObject()
        w.key("code"); w.string(rejection.code.rawValue)
        w.key("field"); if let field = rejection.field { w.string(field) } else { w.null() }
        w.key("message"); w.string(rejection.message)
        w.endObject()
        w.key("source")
        w.beginObject()
        w.key("topic"); w.string(source.topic)
        w.key("partition"); w.int(Int64(source.partition))
        w.key("offset"); w.int(source.offset)
        w.key("timestamp"); if let ts = source.timestampMillis { w.string(RFC3339.format(millis: ts)) } else { w.null() }
        w.endObject()
        Self.writeBytes(&w, name: "key", key, limit: 4096)
        Self.writeBytes(&w, name: "payload", payload, limit: maxPayloadBytes)
        w.endObject()
        return w.bytes
    }

    /// Writes `name` (text or base64), `name_encoding`, and when cut, `name_size` and `name_truncated`.
    private static func writeBytes(_ w: inout JSONWriter, name: String, _ bytes: [UInt8]?, limit: Int) {
        guard let bytes else {
            w.key(name); w.null()
            return
        }
        let kept = bytes.count > limit ? Array(bytes.prefix(limit)) : bytes
        if let text = String(validating: kept, as: UTF8.self) {
            w.key(name); w.string(text)
            w.key("\(name)_encoding"); w.string("utf8")
        } else {
            w.key(name); w.string(Base64.encode(kept))
            w.key("\(name)_encoding"); w.string("base64")
        }
        if kept.count != bytes.count {
            w.key("\(name)_size"); w.int(bytes.count)
            w.key("\(name)_truncated"); w.bool(true)
        }
    }
}

/// Standard base64 (RFC 4648), without line breaks.
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(UInt8(ascii: "=")); out.append(UInt8(ascii: "="))
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded standard base64; nil for anything else (wrong length, foreign characters,
    /// misplaced padding).
    public static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        func value(_ c: UInt8) -> UInt32? {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): 62
            case UInt8(ascii: "/"): 63
            default: nil
            }
        }
        var i = 0
        while i < input.count {
            let last = i + 4 == input.count
            let pad = last ? (input[i + 3] == UInt8(ascii: "=") ? (input[i + 2] == UInt8(ascii: "=") ? 2 : 1) : 0) : 0
            guard let a = value(input[i]), let b = value(input[i + 1]) else { return nil }
            let c = pad >= 2 ? 0 : value(input[i + 2])
            let d = pad >= 1 ? 0 : value(input[i + 3])
            guard let c, let d else { return nil }
            let n = a << 18 | b << 12 | c << 6 | d
            out.append(UInt8(n >> 16 & 255))
            if pad < 2 { out.append(UInt8(n >> 8 & 255)) }
            if pad < 1 { out.append(UInt8(n & 255)) }
            i += 4
        }
        return out
    }
}
