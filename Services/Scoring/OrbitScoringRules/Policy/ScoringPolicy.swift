/// Every scoring rule, as plain values: what the pure core reads. Built from `scoring.yaml`
/// (see ``ScoringSettings``); the profile records `configVersion` so a change of rules is visible.
public struct ScoringPolicy: Sendable, Equatable {
    public var configVersion = "default"
    public var reportingCurrency = "USD"
    /// Value of one unit of a currency in the reporting currency (the reporting currency is 1).
    public var exchangeRates: [String: Double] = ["USD": 1]
    /// Minor-unit digits per currency (from the contract's catalogue).
    public var currencyDigits: [String: Int] = ["USD": 2]

    public enum ThresholdMode: String, Sendable, CaseIterable { case quantiles, thresholds }
    public var rfmWindowDays = 365
    public var rfmMode = ThresholdMode.quantiles
    public var rfmHighFrom = 3
    /// Used in `thresholds` mode, and in `quantiles` mode until the population is known.
    public var rfmThresholds = RFMThresholds(recencyDays: [14, 30, 90, 180], frequency: [2, 3, 5, 10], monetaryMinor: [5_000, 20_000, 50_000, 200_000])

    public var lifecycle = LifecyclePolicy()
    public var tier = TierPolicy()
    public var superUser = SuperUserPolicy()

    public var purchaseModel = BGNBDModel(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
    public var spendModel = GammaGammaModel(p: 6.25, q: 3.74, v: 15.44)
    /// Time unit the models' parameters were fitted in (CDNOW: weeks).
    public var modelTimeUnitDays = 7.0
    public var clvMonths = 12
    public var clvMargin = 1.0
    public var clvAnnualDiscountRate = 0.1

    public var engagementWindowDays = 30
    /// The derived tags' bounds (`tags:`).
    public var tags = TagPolicy()
    /// The attributes other systems may publish (`attributes:`).
    public var attributes = AttributeSchema()

    public init() {}

    /// Converts an amount to minor units of the reporting currency; nil for a currency without a rate.
    public func reportingMinor(_ minor: Int64, currency: String) -> Int64? {
        if currency == reportingCurrency { return minor }
        guard let rate = exchangeRates[currency], let digits = currencyDigits[currency] else { return nil }
        let reportingDigits = currencyDigits[reportingCurrency] ?? 2
        let major = Double(minor) / pow10(digits)
        return Int64((major * rate * pow10(reportingDigits)).rounded())
    }

    private func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { v, _ in v * 10 } }
}
