/// Strict RFC 3339 timestamps, converted to and from milliseconds since the Unix epoch.
///
/// Events must say which offset their clock was in (`Z` or `±HH:MM`): a local time without an offset
/// cannot be placed on the timeline, so it is rejected rather than guessed. Fractions beyond
/// milliseconds are truncated; output is always UTC with exactly three fraction digits.
public enum RFC3339 {
    public enum ParseError: Error, Sendable, Equatable {
        case syntax(String)
        case outOfRange(String)

        public var message: String {
            switch self {
            case .syntax(let m), .outOfRange(let m): m
            }
        }
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` and returns epoch milliseconds.
    public static func parse(_ text: String) throws(ParseError) -> Int64 {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(ParseError) in try parse(utf8: buffer) }
        }.get()
    }

    /// The same over the text's UTF-8 bytes (ingestion reads `time` in place, without a `String`).
    public static func parse(utf8 b: UnsafeBufferPointer<UInt8>) throws(ParseError) -> Int64 {
        var i = 0
        func digits(_ count: Int) throws(ParseError) -> Int {
            guard i + count <= b.count else { throw .syntax("expected RFC 3339 date-time such as 2026-01-31T09:30:00Z") }
            var value = 0
            for _ in 0..<count {
                let c = b[i]
                guard c >= 0x30, c <= 0x39 else { throw .syntax("expected a digit at position \(i + 1)") }
                value = value * 10 + Int(c - 0x30)
                i += 1
            }
            return value
        }
        func expect(_ chars: String) throws(ParseError) {
            guard i < b.count, chars.utf8.contains(b[i]) else {
                throw .syntax("expected '\(chars.first.map(String.init) ?? "")' at position \(i + 1)")
            }
            i += 1
        }
        let year = try digits(4); try expect("-")
        let month = try digits(2); try expect("-")
        let day = try digits(2); try expect("Tt")
        let hour = try digits(2); try expect(":")
        let minute = try digits(2); try expect(":")
        let second = try digits(2)
        var millis = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var n = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if n < 3 { millis = millis * 10 + Int(b[i] - 0x30) }
                n += 1
                i += 1
            }
            guard n > 0 else { throw .syntax("empty fraction of a second") }
            guard n <= 9 else { throw .syntax("more than 9 fraction digits") }
            if n < 3 { for _ in n..<3 { millis *= 10 } }
        }
        guard i < b.count else { throw .syntax("missing UTC offset (Z or ±HH:MM)") }
        var offsetMinutes = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            let oh = try digits(2); try expect(":")
            let om = try digits(2)
            guard oh <= 23, om <= 59 else { throw .outOfRange("UTC offset out of range") }
            offsetMinutes = sign * (oh * 60 + om)
        default:
            throw .syntax("missing UTC offset (Z or ±HH:MM)")
        }
        guard i == b.count else { throw .syntax("unexpected characters after the UTC offset") }
        guard year >= 1970 else { throw .outOfRange("year before 1970") }
        guard (1...12).contains(month) else { throw .outOfRange("month \(month) out of range") }
        guard (1...daysInMonth(year: year, month: month)).contains(day) else { throw .outOfRange("day \(day) does not exist in \(year)-\(month)") }
        guard hour <= 23, minute <= 59 else { throw .outOfRange("time of day out of range") }
        guard second <= 59 else { throw .outOfRange("second \(second) out of range (leap seconds are not accepted)") }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(millis)
    }

    /// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func format(millis: Int64) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        append(millis: millis, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` to a byte buffer (the hot path of every output record).
    public static func append(millis: Int64, to bytes: inout [UInt8]) {
        let totalSeconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let ms = Int(millis - totalSeconds * 1000)
        let days = totalSeconds >= 0 ? totalSeconds / 86_400 : (totalSeconds - 86_399) / 86_400
        let secondOfDay = Int(totalSeconds - days * 86_400)
        let (y, m, d) = civilFromDays(Int(days))
        // Written into 24 bytes on the stack and appended once: one capacity check instead of 24
        // (this runs for every record ingestion writes and every profile).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { out in
            func digits(_ value: Int, _ width: Int, at start: Int) {
                var divisor = 1
                for _ in 1..<width { divisor *= 10 }
                var v = max(0, value)
                if v >= divisor * 10 { v %= divisor * 10 }
                var i = start
                while divisor > 0 {
                    out[i] = UInt8(48 + v / divisor)
                    v %= divisor
                    divisor /= 10
                    i += 1
                }
            }
            digits(y, 4, at: 0); out[4] = 0x2D; digits(m, 2, at: 5); out[7] = 0x2D; digits(d, 2, at: 8); out[10] = 0x54
            digits(secondOfDay / 3600, 2, at: 11); out[13] = 0x3A; digits(secondOfDay / 60 % 60, 2, at: 14); out[16] = 0x3A
            digits(secondOfDay % 60, 2, at: 17); out[19] = 0x2E; digits(ms, 3, at: 20); out[23] = 0x5A
            bytes.append(contentsOf: UnsafeBufferPointer(out))
        }
    }

    public static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The Gregorian (year, month, day) of a day count since 1970-01-01.
    public static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
