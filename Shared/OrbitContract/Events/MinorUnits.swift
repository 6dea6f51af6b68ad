/// Money as an integer count of a currency's minor units (cents for USD, yen for JPY, fils for KWD).
public enum MinorUnits {
    public enum ParseError: Error, Sendable, Equatable {
        case notADecimal
        case negative
        case tooManyDecimals(allowed: Int)
        case tooLarge
    }

    /// The largest amount accepted: 10^15 minor units (ten trillion dollars). Anything above is a bug
    /// or an attack, and staying far from Int64's limit keeps sums over many events safe.
    public static let maximum: Int64 = 1_000_000_000_000_000

    /// The decimal text of `minor` units in a currency with `digits` minor digits: 500 with 2 is
    /// `5.00`, 500 with 0 is `500` (for people: notifications, reports).
    public static func format(_ minor: Int64, digits: Int) -> String {
        guard digits > 0 else { return String(minor) }
        let sign = minor < 0 ? "-" : ""
        let magnitude = minor.magnitude
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        let fraction = String(magnitude % scale)
        return "\(sign)\(magnitude / scale).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
    }

    /// Converts a decimal lexeme (`"19.99"`, `"1e3"`, `"20.500"`) exactly into minor units.
    ///
    /// Trailing zeros beyond the currency's digits are accepted (`"20.500"` USD is 2050) because the
    /// value is exact; a non-zero digit beyond them is rejected rather than rounded.
    public static func parse(_ lexeme: String, digits: Int) throws(ParseError) -> Int64 {
        let b = Array(lexeme.utf8)
        var i = 0
        if i < b.count, b[i] == UInt8(ascii: "-") {
            // Zero written with a sign ("-0", "-0.00") is zero; anything else below zero is refused.
            // One sign only: this used to recurse once per leading "-", copying the rest each time,
            // so a 64 KiB string of dashes was a deep recursion and gigabytes of copying (a poison
            // pill); "--0" was accepted as zero. Now the rest must be an unsigned decimal.
            guard b.count > 1, b[1] != UInt8(ascii: "-"), b[1] != UInt8(ascii: "+") else { throw .notADecimal }
            let rest = String(decoding: b[1...], as: UTF8.self)
            if (try? parse(rest, digits: digits)) == 0 { return 0 }
            throw .negative
        }
        if i < b.count, b[i] == UInt8(ascii: "+") { throw .notADecimal }
        var integerDigits: [UInt8] = []
        var fractionDigits: [UInt8] = []
        while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { integerDigits.append(b[i] - 0x30); i += 1 }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { fractionDigits.append(b[i] - 0x30); i += 1 }
            guard !fractionDigits.isEmpty else { throw .notADecimal }
        }
        guard !integerDigits.isEmpty else { throw .notADecimal }
        var exponent = 0
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            var sign = 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
            }
            var e = 0
            var any = false
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                any = true
                e = min(e * 10 + Int(b[i] - 0x30), 10_000)
                i += 1
            }
            guard any else { throw .notADecimal }
            exponent = sign * e
        }
        guard i == b.count else { throw .notADecimal }
        // value = 0.digits * 10^shift; we need value * 10^digits as an integer.
        var all = integerDigits + fractionDigits
        var scale = digits + exponent - fractionDigits.count   // power of ten applied to `all`
        // Leading zeros dropped at once (one at a time was quadratic in a string of 64 KiB of them).
        if let firstNonZero = all.firstIndex(where: { $0 != 0 }) { all.removeFirst(firstNonZero) } else { all = [0] }
        if scale < 0 {
            let drop = -scale
            if drop >= all.count {
                guard all.allSatisfy({ $0 == 0 }) else { throw .tooManyDecimals(allowed: digits) }
                return 0
            }
            guard all.suffix(drop).allSatisfy({ $0 == 0 }) else { throw .tooManyDecimals(allowed: digits) }
            all.removeLast(drop)
            scale = 0
        }
        if all == [0] { return 0 }
        guard all.count + scale <= 16 else { throw .tooLarge }
        var value: Int64 = 0
        for d in all { value = value * 10 + Int64(d) }
        for _ in 0..<scale { value *= 10 }
        guard value <= maximum else { throw .tooLarge }
        return value
    }
}

/// The currencies events may use and how many minor-unit digits each has (ISO 4217).
public struct CurrencyCatalog: Sendable, Equatable {
    public let digitsByCode: [String: Int]

    public init(_ digitsByCode: [String: Int]) { self.digitsByCode = digitsByCode }

    public static let standard = CurrencyCatalog([
        "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CNY": 2, "KRW": 0, "INR": 2, "BRL": 2,
        "CAD": 2, "AUD": 2, "CHF": 2, "SEK": 2, "SGD": 2, "HKD": 2, "MXN": 2, "KWD": 3, "BHD": 3,
    ])

    public func digits(for code: String) -> Int? { digitsByCode[code] }
}
