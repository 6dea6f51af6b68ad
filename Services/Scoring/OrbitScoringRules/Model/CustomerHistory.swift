/// One customer's purchase history in the form the churn models read (the usual RFM summary):
/// - `frequency`: repeat purchases (all purchases minus the first);
/// - `recency`: time from the first purchase to the last;
/// - `age` (T): time from the first purchase to the end of observation;
/// - `monetaryValue`: mean value of the repeat purchases (Gamma-Gamma only; 0 when none).
/// Times are in any one unit (Orbit uses days; the CDNOW reference uses weeks).
public struct CustomerHistory: Sendable, Equatable {
    public let frequency: Double
    public let recency: Double
    public let age: Double
    public let monetaryValue: Double

    public init(frequency: Double, recency: Double, age: Double, monetaryValue: Double = 0) {
        self.frequency = frequency
        self.recency = recency
        self.age = age
        self.monetaryValue = monetaryValue
    }
}

/// Reads `frequency,recency,T[,monetary_value]` CSV (a header line, then one customer a line).
/// Column names follow the usual RFM-summary conventions; `x,t_x,T,zbar` are accepted too.
public enum CustomerHistoryCSV {
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> [CustomerHistory] {
        try parseRows(text).map(\.history)
    }

    /// The same, with each row's customer id when the file has one (`id`, `customer_id` or
    /// `user_id`, any case), so scores can be joined back to customers.
    public static func parseRows(_ text: String) throws(ParseError) -> [(id: String?, history: CustomerHistory)] {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        while lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
        guard let header = lines.first else { throw ParseError(line: 1, message: "empty file") }
        let names = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        func column(_ candidates: [String]) -> Int? { candidates.lazy.compactMap { names.firstIndex(of: $0) }.first }
        guard let f = column(["frequency", "x"]), let r = column(["recency", "t_x"]), let t = column(["t", "age"]) else {
            throw ParseError(line: 1, message: "the header needs frequency, recency and T columns (or x, t_x, T), found: \(header)")
        }
        let m = column(["monetary_value", "zbar", "monetary"])
        let idColumn = column(["id", "customer_id", "user_id"])
        var result: [(id: String?, history: CustomerHistory)] = []
        for (index, line) in lines.enumerated().dropFirst() {
            let lineNumber = index + 1
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            func number(_ column: Int, _ name: String) throws(ParseError) -> Double {
                guard column < fields.count, let value = Double(fields[column]), value.isFinite, value >= 0 else {
                    throw ParseError(line: lineNumber, message: "\(name) must be a number >= 0")
                }
                return value
            }
            let history = CustomerHistory(
                frequency: try number(f, "frequency"), recency: try number(r, "recency"), age: try number(t, "T"),
                monetaryValue: try m.map { c throws(ParseError) in try number(c, "monetary_value") } ?? 0)
            guard history.frequency.rounded() == history.frequency else { throw ParseError(line: lineNumber, message: "frequency must be a whole number") }
            guard history.recency <= history.age else { throw ParseError(line: lineNumber, message: "recency cannot exceed T") }
            guard history.frequency > 0 || history.recency == 0 else { throw ParseError(line: lineNumber, message: "recency must be 0 without repeat purchases") }
            result.append((idColumn.flatMap { $0 < fields.count ? fields[$0] : nil }, history))
        }
        guard !result.isEmpty else { throw ParseError(line: 2, message: "no customers") }
        return result
    }
}
