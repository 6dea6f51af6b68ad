import Foundation

/// The Gamma-Gamma model of spend per transaction (Fader and Hardie): a customer's transaction values
/// vary around their own mean, and means vary across customers. It gives the expected average order
/// value of a customer from their repeat purchases' mean and count.
public struct GammaGammaModel: Sendable, Equatable, Codable {
    public var p: Double
    public var q: Double
    public var v: Double

    public init(p: Double, q: Double, v: Double) {
        self.p = p
        self.q = q
        self.v = v
    }

    /// Log-likelihood of a customer with `frequency` x > 0 repeat purchases of mean value m.
    public func logLikelihood(_ c: CustomerHistory) -> Double {
        let x = c.frequency, m = c.monetaryValue
        return lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * log(v)
            + (p * x - 1) * log(m) + p * x * log(x) - (p * x + q) * log(x * m + v)
    }

    public func logLikelihood(_ customers: [CustomerHistory]) -> Double {
        customers.reduce(0) { $0 + logLikelihood($1) }
    }

    /// E[mean transaction value | x, m]: a weighted average of the population mean and the
    /// customer's own, the weight moving to the customer's as they buy more.
    public func expectedAverageValue(_ c: CustomerHistory) -> Double {
        let x = c.frequency
        let populationMean = p * v / (q - 1)
        guard x > 0 else { return populationMean }
        return (p * (v + x * c.monetaryValue)) / (p * x + q - 1)
    }

    /// Maximum-likelihood fit over the customers with at least one repeat purchase and a positive value.
    public static func fit(_ customers: [CustomerHistory], start: GammaGammaModel = GammaGammaModel(p: 1, q: 1, v: 1)) -> (model: GammaGammaModel, logLikelihood: Double, customers: Int) {
        let fitted = fitReporting(customers, start: start)
        return (fitted.model, fitted.logLikelihood, fitted.customers)
    }

    /// The fit with whether the optimiser converged before its iteration limit.
    public static func fitReporting(_ customers: [CustomerHistory], start: GammaGammaModel = GammaGammaModel(p: 1, q: 1, v: 1),
                                    maxIterations: Int = 20_000) -> (model: GammaGammaModel, logLikelihood: Double, customers: Int, iterations: Int, converged: Bool) {
        let usable = customers.filter { $0.frequency > 0 && $0.monetaryValue > 0 }
        let result = NelderMead(maxIterations: maxIterations).minimize({ x in
            -GammaGammaModel(p: exp(x[0]), q: exp(x[1]), v: exp(x[2])).logLikelihood(usable)
        }, start: [log(start.p), log(start.q), log(start.v)])
        let model = GammaGammaModel(p: exp(result.point[0]), q: exp(result.point[1]), v: exp(result.point[2]))
        return (model, model.logLikelihood(usable), usable.count, result.iterations, result.converged)
    }
}

/// Customer lifetime value over a horizon: expected purchases (BG/NBD) times expected order value
/// (Gamma-Gamma) times margin, discounted monthly.
public struct LifetimeValue: Sendable {
    public let purchases: BGNBDModel
    public let spend: GammaGammaModel
    /// Share of revenue that is profit (1 when margins are unknown: CLV is then revenue).
    public let margin: Double
    /// Annual discount rate (0.1 = 10 %).
    public let annualDiscountRate: Double
    /// The monthly rate equivalent to the annual one.
    public let monthlyRate: Double
    /// (1 + monthly rate)^m for the first months, worked out once: a scorer values every user it
    /// evaluates over the same horizon, and these powers were a third of the model's `pow` calls.
    private let discounts: [Double]

    public init(purchases: BGNBDModel, spend: GammaGammaModel, margin: Double = 1, annualDiscountRate: Double = 0.1) {
        self.purchases = purchases
        self.spend = spend
        self.margin = margin
        self.annualDiscountRate = annualDiscountRate
        let monthlyRate = pow(1 + annualDiscountRate, 1.0 / 12) - 1
        self.monthlyRate = monthlyRate
        self.discounts = (1...Self.precomputedMonths).map { pow(1 + monthlyRate, Double($0)) }
    }

    /// Horizons up to this many months use the precomputed discounts (the shipped one is 12).
    static let precomputedMonths = 60

    /// The discount divisor of month `month` (1-based): the same `pow` as computed on the spot.
    func discount(month: Int) -> Double {
        month <= discounts.count ? discounts[month - 1] : pow(1 + monthlyRate, Double(month))
    }

    /// CLV over `months` months of `daysPerUnit`-sized model time units, month by month.
    public func value(_ c: CustomerHistory, months: Int, unitsPerMonth: Double) -> Double {
        let orderValue = spend.expectedAverageValue(c) * margin
        var total = 0.0
        var previous = 0.0
        for month in 1...max(1, months) {
            let cumulative = purchases.expectedPurchases(in: Double(month) * unitsPerMonth, c)
            total += (cumulative - previous) * orderValue / discount(month: month)
            previous = cumulative
        }
        return total
    }
}
