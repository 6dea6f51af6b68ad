import Foundation

/// The special functions the churn models need, in log space where values overflow.
enum SpecialFunctions {
    static func logGamma(_ x: Double) -> Double { lgamma(x) }

    static func logBeta(_ a: Double, _ b: Double) -> Double { lgamma(a) + lgamma(b) - lgamma(a + b) }

    /// ln(e^x + e^y) without overflow.
    static func logSumExp(_ x: Double, _ y: Double) -> Double {
        let m = max(x, y)
        guard m.isFinite else { return m }
        return m + log(exp(x - m) + exp(y - m))
    }

    /// Gauss's hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1, by its power series
    /// (converges for |z| < 1; the BG/NBD conditional expectation uses z = t / (alpha + T + t)).
    static func hypergeometric2F1(_ a: Double, _ b: Double, _ c: Double, _ z: Double) -> Double {
        var term = 1.0
        var sum = 1.0
        var n = 0.0
        while n < 100_000 {
            term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
            sum += term
            if abs(term) < 1e-14 * abs(sum) { break }
            n += 1
        }
        return sum
    }
}
