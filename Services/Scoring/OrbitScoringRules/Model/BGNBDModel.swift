import Foundation

/// The BG/NBD model (Fader, Hardie and Lee 2005): while alive, a customer buys as a Poisson process
/// with a gamma-distributed rate (r, alpha); after each purchase they drop out with a
/// beta-distributed probability (a, b). From a customer's frequency, recency and age it gives the
/// probability they are still alive and their expected purchases in a coming period.
public struct BGNBDModel: Sendable, Equatable, Codable {
    public var r: Double
    public var alpha: Double
    public var a: Double
    public var b: Double

    public init(r: Double, alpha: Double, a: Double, b: Double) {
        self.r = r
        self.alpha = alpha
        self.a = a
        self.b = b
    }

    /// The individual log-likelihood (equation 6 of the paper, in log space).
    public func logLikelihood(_ c: CustomerHistory) -> Double {
        let x = c.frequency
        let base = lgamma(r + x) - lgamma(r) + r * log(alpha)
        let stillAlive = SpecialFunctions.logBeta(a, b + x) - SpecialFunctions.logBeta(a, b) - (r + x) * log(alpha + c.age)
        guard x > 0 else { return base + stillAlive }
        let droppedOut = SpecialFunctions.logBeta(a + 1, b + x - 1) - SpecialFunctions.logBeta(a, b) - (r + x) * log(alpha + c.recency)
        return base + SpecialFunctions.logSumExp(stillAlive, droppedOut)
    }

    public func logLikelihood(_ customers: [CustomerHistory]) -> Double {
        customers.reduce(0) { $0 + logLikelihood($1) }
    }

    /// P(alive | frequency, recency, age). A customer with no repeat purchase is alive by the model's
    /// assumption (dropping out happens only right after a purchase).
    public func probabilityAlive(_ c: CustomerHistory) -> Double {
        guard c.frequency > 0 else { return 1 }
        let x = c.frequency
        let logRatio = log(a) - log(b + x - 1) + (r + x) * (log(alpha + c.age) - log(alpha + c.recency))
        return 1 / (1 + exp(logRatio))
    }

    /// Expected purchases in the next `t` time units (equation 10 of the paper).
    public func expectedPurchases(in t: Double, _ c: CustomerHistory) -> Double {
        guard t > 0 else { return 0 }
        let x = c.frequency
        let z = t / (alpha + c.age + t)
        let hyp = SpecialFunctions.hypergeometric2F1(r + x, b + x, a + b + x - 1, z)
        let numerator = (a + b + x - 1) / (a - 1) * (1 - pow((alpha + c.age) / (alpha + c.age + t), r + x) * hyp)
        let denominator = x > 0 ? 1 + a / (b + x - 1) * pow((alpha + c.age) / (alpha + c.recency), r + x) : 1
        return numerator / denominator
    }

    /// Maximum-likelihood fit. Parameters are optimised on a log scale, so they stay positive.
    public static func fit(_ customers: [CustomerHistory], start: BGNBDModel = BGNBDModel(r: 1, alpha: 1, a: 1, b: 1)) -> (model: BGNBDModel, logLikelihood: Double) {
        let fitted = fitReporting(customers, start: start)
        return (fitted.model, fitted.logLikelihood)
    }

    /// The fit with what the optimiser did: iterations, and whether it converged before its
    /// iteration limit (a refit that did not is refused, ``ChurnModelFit``).
    public static func fitReporting(_ customers: [CustomerHistory], start: BGNBDModel = BGNBDModel(r: 1, alpha: 1, a: 1, b: 1),
                                    maxIterations: Int = 20_000) -> (model: BGNBDModel, logLikelihood: Double, iterations: Int, converged: Bool) {
        let result = NelderMead(maxIterations: maxIterations).minimize({ p in
            -BGNBDModel(r: exp(p[0]), alpha: exp(p[1]), a: exp(p[2]), b: exp(p[3])).logLikelihood(customers)
        }, start: [log(start.r), log(start.alpha), log(start.a), log(start.b)])
        let p = result.point
        let model = BGNBDModel(r: exp(p[0]), alpha: exp(p[1]), a: exp(p[2]), b: exp(p[3]))
        return (model, model.logLikelihood(customers), result.iterations, result.converged)
    }
}
