import Foundation
import OrbitContract

/// The one currency table every service reads (`deploy/config/currencies.yaml`): each currency's
/// minor-unit digits (ingestion validates amounts with them) and its value in a common base
/// (scoring and membership convert with it). One file, so a currency cannot be known to one service
/// and silently worth nothing to another.
public struct CurrencyTable: Sendable, Equatable {
    /// Rates are the value of one unit of a currency in this one.
    public var base: String
    public var digits: [String: Int]
    /// Value of one unit in `base`; a currency without a rate can be validated but not converted.
    public var rates: [String: Double]

    public init(base: String = "USD", digits: [String: Int], rates: [String: Double]) {
        self.base = base
        self.digits = digits
        self.rates = rates
    }

    /// The built-in table, used when a service names no file: ISO digits, no conversions but
    /// the base to itself.
    public static let builtIn = CurrencyTable(base: "USD", digits: CurrencyCatalog.standard.digitsByCode, rates: ["USD": 1])

    public var catalog: CurrencyCatalog { CurrencyCatalog(digits) }

    /// `minor` units of `from` in minor units of `to`, rounded; nil when either has no rate.
    public func convert(_ minor: Int64, from: String, to: String) -> Int64? {
        if from == to { return minor }
        guard let value = units(minor, from), let toRate = rates[to], let toDigits = digits[to] else { return nil }
        return Int64((value / toRate * Self.pow10(toDigits)).rounded())
    }

    /// `minor` units of `currency` as major units of `base`; nil without a rate.
    public func units(_ minor: Int64, _ currency: String) -> Double? {
        guard let rate = rates[currency], let d = digits[currency] else { return nil }
        return Double(minor) / Self.pow10(d) * rate
    }

    static func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { v, _ in v * 10 } }

    /// Reads the table named by `key` (a path relative to the configuration file) in `section`,
    /// or the built-in table when the key is absent. Errors name the table's file, line and field.
    public static func load(from section: ConfigSection, key: String = "currencies_file", configFile: String) throws(ConfigError) -> CurrencyTable {
        guard let name = try section.optionalString(key) else { return .builtIn }
        let base = URL(fileURLWithPath: configFile).deletingLastPathComponent()
        let path = name.hasPrefix("/") ? name : base.appendingPathComponent(name).path
        let document = try ConfigDocument.load(path: path, environment: [:])
        let top = document.top
        try top.rejectUnknownKeys(["base", "currencies"])
        let baseCode = try top.string("base", default: "USD")
        let list = top.section("currencies")
        var digits: [String: Int] = [:]
        var rates: [String: Double] = [:]
        for code in try list.scalarsIfMapping().keys.sorted() {
            guard code.count == 3, code.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                throw list.invalid(code, "currency codes are three upper-case letters (ISO 4217)")
            }
            let entry = list.section(code)
            try entry.rejectUnknownKeys(["digits", "rate"])
            digits[code] = try entry.int("digits", range: 0...4)
            if try entry.optionalString("rate") != nil { rates[code] = try entry.double("rate", range: 1e-9...1e9) }
        }
        guard digits[baseCode] != nil else { throw top.invalid("base", "\(baseCode) is not among the currencies") }
        guard rates[baseCode] == 1 || rates[baseCode] == nil else { throw list.section(baseCode).invalid("rate", "the base currency's rate is 1") }
        rates[baseCode] = 1
        return CurrencyTable(base: baseCode, digits: digits, rates: rates)
    }
}
