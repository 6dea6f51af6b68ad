/// Writes compact JSON into a byte buffer, in the order the caller gives.
///
/// Output records are deterministic byte for byte (same input, same bytes), which is what lets a
/// replay after a crash repeat a record only as an identical copy.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Whether the next value at the current level needs a comma before it; the outer levels'
    /// flags wait on a stack touched only when a level opens or closes, not per value. The first
    /// 64 levels are bits of one word (no allocation per record written); deeper ones, which no
    /// Orbit record has, go to an array.
    private var needsComma = false
    private var outerBits: UInt64 = 0
    private var depth = 0
    private var deeperNeedsComma: [Bool] = []

    public init(reservingCapacity capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); openLevel() }
    public mutating func endObject() { closeLevel(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); openLevel() }
    public mutating func endArray() { closeLevel(); bytes.append(UInt8(ascii: "]")) }

    private mutating func openLevel() {
        if depth < 64 {
            outerBits = outerBits << 1 | (needsComma ? 1 : 0)
        } else {
            deeperNeedsComma.append(needsComma)
        }
        depth += 1
        needsComma = false
    }

    private mutating func closeLevel() {
        precondition(depth > 0, "JSONWriter: an end without its begin")
        depth -= 1
        if depth < 64 {
            needsComma = outerBits & 1 == 1
            outerBits >>= 1
        } else {
            needsComma = deeperNeedsComma.removeLast()
        }
    }

    /// Writes a member name; the next value call writes its value.
    public mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A member name known at compile time (plain ASCII, nothing to escape): its bytes are copied
    /// as they are, without the escaping scan of `key`. For hot encoders.
    public mutating func field(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: String) { separate(); appendQuoted(value) }
    /// The date part (`YYYY-MM-DD`) of a day number (days since the epoch), as a string.
    public mutating func date(day: Int64) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        RFC3339.append(millis: day * 86_400_000, to: &bytes)
        bytes.removeLast(14)  // "THH:MM:SS.mmmZ"
        bytes.append(UInt8(ascii: "\""))
    }
    /// A number with exactly six decimals, as C's `%.6f` prints it, or null when not finite.
    /// Written digit by digit: no `String` in between.
    public mutating func fixed6(_ value: Double) {
        guard value.isFinite, abs(value) < 9e12 else {
            // Beyond 2^63 millionths (never a profile's figures): the shortest exact form.
            if value.isFinite { number(JSONNumber(lexeme: "\(value)")) } else { null() }
            return
        }
        separate()
        let millionths = Int64((value * 1_000_000).rounded())
        if millionths < 0 || (millionths == 0 && value.sign == .minus) { bytes.append(UInt8(ascii: "-")) }
        let magnitude = millionths.magnitude
        DecimalDigits.append(magnitude: magnitude / 1_000_000, to: &bytes)
        bytes.append(UInt8(ascii: "."))
        let fraction = magnitude % 1_000_000
        var divisor: UInt64 = 100_000
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
            divisor /= 10
        }
    }
    /// An RFC 3339 UTC timestamp string, written without an intermediate `String`.
    public mutating func timestamp(millis: Int64) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        RFC3339.append(millis: millis, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }
    public mutating func int(_ value: Int64) {
        separate()
        DecimalDigits.append(value, to: &bytes)
    }

    public mutating func int(_ value: Int) { int(Int64(value)) }
    public mutating func bool(_ value: Bool) { separate(); bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    public mutating func null() { separate(); bytes.append(contentsOf: "null".utf8) }
    /// A value that is already JSON (written by a JSONWriter: the caller vouches for it).
    public mutating func raw(_ json: [UInt8]) { separate(); bytes.append(contentsOf: json) }
    public mutating func number(_ value: JSONNumber) { separate(); bytes.append(contentsOf: value.lexeme.utf8) }

    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): number(n)
        case .string(let s): string(s)
        case .array(let elements):
            beginArray()
            for element in elements { self.value(element) }
            endArray()
        case .object(let object):
            beginObject()
            for member in object.members {
                key(member.key)
                self.value(member.value)
            }
            endObject()
        }
    }

    public static func encode(_ value: JSONValue) -> [UInt8] {
        var writer = JSONWriter()
        writer.value(value)
        return writer.bytes
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendQuoted(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        appendEscaped(string)
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ string: String) {
        var string = string
        let copied: Bool = string.withUTF8 { buffer in
            // Fast path: nothing to escape (the usual case), copied in one go.
            for byte in buffer where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return false }
            bytes.append(contentsOf: buffer)
            return true
        }
        if copied { return }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "\\"))
            case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
    }

    // MARK: Copies of source bytes already known to be canonical

    // For the one-pass event reader: it has checked that these bytes need no escaping (printable
    // ASCII without a quote or a backslash) or are a JSON number's lexeme, so they are copied as they are,
    // and the result is byte for byte what `string(_:)`, `key(_:)` and `number(_:)` write.

    /// A string value from source bytes that need no escaping.
    mutating func plainString(_ source: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[range]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// A member name from source bytes that need no escaping.
    mutating func plainKey(_ source: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        plainString(source, range)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A number from its source lexeme.
    mutating func numberLexeme(_ source: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        separate()
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[range]))
    }

    // MARK: A string value written in parts

    /// Opens a string value that the following `stringPart` calls fill and ``endString()`` closes:
    /// for values such as ids made of several fields, without building the `String` first.
    public mutating func beginString() { separate(); bytes.append(UInt8(ascii: "\"")) }
    /// Appends text to the open string value, escaped.
    public mutating func stringPart(_ text: String) { appendEscaped(text) }
    /// Appends an integer's decimal digits to the open string value.
    public mutating func stringPart(_ value: Int64) { DecimalDigits.append(value, to: &bytes) }
    /// Appends one ASCII character (a separator) to the open string value.
    public mutating func stringPart(ascii: Unicode.Scalar) { bytes.append(UInt8(ascii: ascii)) }
    public mutating func endString() { bytes.append(UInt8(ascii: "\"")) }
}
