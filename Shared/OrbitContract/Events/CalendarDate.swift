/// `YYYY-MM-DD` dates, as attributes and profiles (`evaluated_on`) carry them.
public enum CalendarDate {
    /// Days since 1970-01-01, for a valid date from 1900 to 2199.
    public static func day(_ text: String) -> Int32? {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == 0x2D, b[7] == 0x2D else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var n = 0
            for i in range { guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }; n = n * 10 + Int(b[i] - 0x30) }
            return n
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              (1900...2199).contains(year), (1...12).contains(month), day >= 1, day <= RFC3339.daysInMonth(year: year, month: month) else { return nil }
        return Int32(RFC3339.daysFromCivil(year: year, month: month, day: day))
    }
}
