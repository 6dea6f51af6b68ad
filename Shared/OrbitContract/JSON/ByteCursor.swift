// Reading JSON in place, for the one-pass readers of events (`OnePassEventReader`,
// `UserEvent.decode(_:)`): a cursor over a record's bytes that takes only the plain forms Orbit's
// own records use, and throws `NotOnePass` for anything else, so the caller hands the record to
// the full `JSONParser` or `EventValidator`.

/// Not for a one-pass reader: the full parser or validator decides.
struct NotOnePass: Error {}

/// A position in an event's bytes, with the few JSON productions the reader accepts. Each
/// either reads exactly what RFC 8259 allows (restricted to printable ASCII without escapes in
/// strings) or throws ``NotOnePass``.
struct ByteCursor {
    /// Deeper nesting is left to the full parser (whose limit is 32).
    static let maxDepth = 16

    let bytes: UnsafeBufferPointer<UInt8>
    private(set) var index: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The next byte after white space, not consumed.
    mutating func peek() throws(NotOnePass) -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw NotOnePass() }
        return bytes[index]
    }

    /// Consumes `byte` if it comes next (after white space).
    mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    mutating func expect(_ byte: UInt8) throws(NotOnePass) {
        guard consume(byte) else { throw NotOnePass() }
    }

    mutating func literal(_ text: StaticString) throws(NotOnePass) {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count, bytes[index..<(index + count)].equals(text) else { throw NotOnePass() }
        index += count
    }

    /// A string of printable ASCII without escapes; returns where its content is.
    mutating func plainString() throws(NotOnePass) -> Range<Int> {
        try expect(.quote)
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == .quote {
                index += 1
                return start..<(index - 1)
            }
            guard byte >= 0x20, byte < 0x7F, byte != .backslash else { throw NotOnePass() }
            index += 1
        }
        throw NotOnePass()
    }

    /// A number as RFC 8259's grammar has it; returns its lexeme.
    mutating func number() throws(NotOnePass) -> Range<Int> {
        skipWhitespace()
        let start = index
        if index < bytes.count, bytes[index] == .minus { index += 1 }
        guard isDigit(at: index) else { throw NotOnePass() }
        if bytes[index] == .digitZero {
            index += 1
            guard !isDigit(at: index) else { throw NotOnePass() }
        } else {
            while isDigit(at: index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == .dot {
            index += 1
            guard isDigit(at: index) else { throw NotOnePass() }
            while isDigit(at: index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == .letterE || bytes[index] == .capitalLetterE {
            index += 1
            if index < bytes.count, bytes[index] == .plus || bytes[index] == .minus { index += 1 }
            guard isDigit(at: index) else { throw NotOnePass() }
            while isDigit(at: index) { index += 1 }
        }
        return start..<index
    }

    private func isDigit(at position: Int) -> Bool {
        position < bytes.count && bytes[position] >= .digitZero && bytes[position] <= .digitNine
    }

    /// Any JSON value, written to `sink` in the canonical form `JSONWriter.value` gives the
    /// parsed value (no white space; strings, numbers and literals as in the source). An object
    /// with a repeated key, or anything this reader does not take, throws.
    mutating func copyValue<Sink: CanonicalSink>(to sink: inout Sink, depth: Int) throws(NotOnePass) {
        guard depth <= Self.maxDepth else { throw NotOnePass() }
        switch try peek() {
        case .quote: sink.plainString(bytes, try plainString())
        case .openBrace:
            index += 1
            sink.beginObject()
            if !consume(.closeBrace) {
                var keys = KeyList()
                repeat {
                    let key = try plainString()
                    try keys.add(key, in: bytes)
                    try expect(.colon)
                    sink.plainKey(bytes, key)
                    try copyValue(to: &sink, depth: depth + 1)
                } while consume(.comma)
                try expect(.closeBrace)
            }
            sink.endObject()
        case .openBracket:
            index += 1
            sink.beginArray()
            if !consume(.closeBracket) {
                repeat { try copyValue(to: &sink, depth: depth + 1) } while consume(.comma)
                try expect(.closeBracket)
            }
            sink.endArray()
        case .letterT: try literal("true"); sink.bool(true)
        case .letterF: try literal("false"); sink.bool(false)
        case .letterN: try literal("null"); sink.null()
        case .minus, .digitZero ... .digitNine: sink.numberLexeme(bytes, try number())
        default: throw NotOnePass()
        }
    }
}

/// An object's keys so far, to refuse a repeated one; kept inline (no allocation per object).
/// An object with more members than it holds is left to the full validator.
struct KeyList {
    private var keys = InlineArray<16, Range<Int>>(repeating: 0..<0)
    private var count = 0

    mutating func add(_ key: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) throws(NotOnePass) {
        guard count < keys.count else { throw NotOnePass() }
        for index in 0..<count where keys[index].count == key.count && bytes[keys[index]].elementsEqual(bytes[key]) {
            throw NotOnePass()
        }
        keys[count] = key
        count += 1
    }
}

extension Slice<UnsafeBufferPointer<UInt8>> {
    /// Whether these bytes are `text`'s.
    func equals(_ text: StaticString) -> Bool {
        count == text.utf8CodeUnitCount && elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}

/// Where ``ByteCursor/copyValue(to:depth:)`` writes: a `JSONWriter`, or nothing (a check only).
protocol CanonicalSink {
    mutating func beginObject()
    mutating func endObject()
    mutating func beginArray()
    mutating func endArray()
    mutating func plainKey(_ source: UnsafeBufferPointer<UInt8>, _ range: Range<Int>)
    mutating func plainString(_ source: UnsafeBufferPointer<UInt8>, _ range: Range<Int>)
    mutating func numberLexeme(_ source: UnsafeBufferPointer<UInt8>, _ range: Range<Int>)
    mutating func bool(_ value: Bool)
    mutating func null()
}

extension JSONWriter: CanonicalSink {}

struct DiscardingSink: CanonicalSink {
    mutating func beginObject() {}
    mutating func endObject() {}
    mutating func beginArray() {}
    mutating func endArray() {}
    mutating func plainKey(_ source: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {}
    mutating func plainString(_ source: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {}
    mutating func numberLexeme(_ source: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {}
    mutating func bool(_ value: Bool) {}
    mutating func null() {}
}

/// The ASCII bytes of JSON's grammar.
extension UInt8 {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let digitZero = UInt8(ascii: "0")
    static let digitNine = UInt8(ascii: "9")
    static let letterE = UInt8(ascii: "e")
    static let capitalLetterE = UInt8(ascii: "E")
    static let letterT = UInt8(ascii: "t")
    static let letterF = UInt8(ascii: "f")
    static let letterN = UInt8(ascii: "n")
}
