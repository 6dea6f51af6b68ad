/// A refit of the churn models (BG/NBD purchases, Gamma-Gamma spend) from a deployment's own
/// customers, or the reason it is refused. A refused fit changes nothing: the deployed model stays.
///
/// Refused when there are too few customers to fit four parameters with any confidence, when the
/// optimiser ran out of iterations before it converged, or when a parameter came out where the
/// models' formulas stop meaning anything (not finite, or beyond 1e-6...1e6).
public struct ChurnModelFit: Sendable, Equatable {
    public struct Requirements: Sendable, Equatable {
        /// Customers with at least one purchase.
        public var minCustomers = 200
        /// Customers with at least one repeat purchase: they carry the information about rates
        /// and dropping out.
        public var minRepeatCustomers = 50
        public var maxIterations = 20_000

        public init(minCustomers: Int = 200, minRepeatCustomers: Int = 50, maxIterations: Int = 20_000) {
            self.minCustomers = minCustomers
            self.minRepeatCustomers = minRepeatCustomers
            self.maxIterations = maxIterations
        }
    }

    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case tooFewCustomers(Int, minimum: Int)
        case tooFewRepeatCustomers(Int, minimum: Int)
        case notConverged(model: String, iterations: Int)
        case implausible(parameter: String, value: Double)

        /// A stable code for the attempt record and metrics.
        public var code: String {
            switch self {
            case .tooFewCustomers: "too_few_customers"
            case .tooFewRepeatCustomers: "too_few_repeat_customers"
            case .notConverged: "not_converged"
            case .implausible: "implausible_parameter"
            }
        }

        public var description: String {
            switch self {
            case .tooFewCustomers(let n, let minimum): "\(n) customers with a purchase, fewer than the \(minimum) a fit needs"
            case .tooFewRepeatCustomers(let n, let minimum): "\(n) customers with a repeat purchase, fewer than the \(minimum) a fit needs"
            case .notConverged(let model, let iterations): "the \(model) fit did not converge in \(iterations) iterations"
            case .implausible(let parameter, let value): "the fitted \(parameter) = \(value) is not usable (parameters must be finite, within 1e-6...1e6)"
            }
        }
    }

    public var timeUnitDays: Double
    public var purchases: BGNBDModel
    /// Nil when fewer than `minRepeatCustomers` customers have a repeat purchase with a value:
    /// the spend model in use stays.
    public var spend: GammaGammaModel?
    public var customers: Int
    public var repeatCustomers: Int
    public var logLikelihood: Double
    public var iterations: Int
    public var spendCustomers: Int
    public var spendLogLikelihood: Double?

    public init(timeUnitDays: Double, purchases: BGNBDModel, spend: GammaGammaModel?, customers: Int, repeatCustomers: Int,
                logLikelihood: Double, iterations: Int, spendCustomers: Int, spendLogLikelihood: Double?) {
        self.timeUnitDays = timeUnitDays
        self.purchases = purchases
        self.spend = spend
        self.customers = customers
        self.repeatCustomers = repeatCustomers
        self.logLikelihood = logLikelihood
        self.iterations = iterations
        self.spendCustomers = spendCustomers
        self.spendLogLikelihood = spendLogLikelihood
    }

    /// Fits both models to `customers` (histories in units of `timeUnitDays`).
    public static func fit(_ customers: [CustomerHistory], timeUnitDays: Double,
                           requirements: Requirements = Requirements()) -> Result<ChurnModelFit, Refusal> {
        let repeatCustomers = customers.filter { $0.frequency > 0 }.count
        guard customers.count >= requirements.minCustomers else { return .failure(.tooFewCustomers(customers.count, minimum: requirements.minCustomers)) }
        guard repeatCustomers >= requirements.minRepeatCustomers else {
            return .failure(.tooFewRepeatCustomers(repeatCustomers, minimum: requirements.minRepeatCustomers))
        }
        let purchases = BGNBDModel.fitReporting(customers, maxIterations: requirements.maxIterations)
        guard purchases.converged else { return .failure(.notConverged(model: "BG/NBD", iterations: purchases.iterations)) }
        guard purchases.logLikelihood.isFinite else { return .failure(.implausible(parameter: "bgnbd log-likelihood", value: purchases.logLikelihood)) }
        let m = purchases.model
        for (name, value) in [("bgnbd.r", m.r), ("bgnbd.alpha", m.alpha), ("bgnbd.a", m.a), ("bgnbd.b", m.b)] where !plausible(value) {
            return .failure(.implausible(parameter: name, value: value))
        }
        var spend: GammaGammaModel?
        var spendCustomers = 0
        var spendLogLikelihood: Double?
        // The spend model from as many customers with a valued repeat purchase as BG/NBD needs
        // with a repeat purchase; fewer, and the spend model in use stays.
        if customers.count(where: { $0.frequency > 0 && $0.monetaryValue > 0 }) >= requirements.minRepeatCustomers {
            let fitted = GammaGammaModel.fitReporting(customers, maxIterations: requirements.maxIterations)
            guard fitted.converged else { return .failure(.notConverged(model: "Gamma-Gamma", iterations: fitted.iterations)) }
            guard fitted.logLikelihood.isFinite else { return .failure(.implausible(parameter: "gamma_gamma log-likelihood", value: fitted.logLikelihood)) }
            let g = fitted.model
            for (name, value) in [("gamma_gamma.p", g.p), ("gamma_gamma.q", g.q), ("gamma_gamma.v", g.v)] where !plausible(value) {
                return .failure(.implausible(parameter: name, value: value))
            }
            // The expected order value divides by q - 1: a spend model with q <= 1 has no mean.
            guard g.q > 1.000001 else { return .failure(.implausible(parameter: "gamma_gamma.q", value: g.q)) }
            spend = g
            spendCustomers = fitted.customers
            spendLogLikelihood = fitted.logLikelihood
        }
        return .success(ChurnModelFit(timeUnitDays: timeUnitDays, purchases: m, spend: spend, customers: customers.count, repeatCustomers: repeatCustomers,
                                      logLikelihood: purchases.logLikelihood, iterations: purchases.iterations,
                                      spendCustomers: spendCustomers, spendLogLikelihood: spendLogLikelihood))
    }

    private static func plausible(_ value: Double) -> Bool { value.isFinite && value >= 1e-6 && value <= 1e6 }
}
