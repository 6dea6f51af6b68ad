/// BG/NBD checked against what happened: split each customer's purchases at a cut-off, predict the
/// holdout period's purchases from the calibration period, and compare with the purchases that
/// came, per calibration frequency (repeat purchases). The lifetimes library calls the plot of this
/// `plot_calibration_purchases_vs_holdout_purchases`.
///
/// Two predictions: the deployed model's (which may have seen the holdout, if it was fitted after
/// it), and, when asked, a model fitted on the calibration period alone, as lifetimes does: the
/// honest test of whether the model's form suits these customers.
public struct ModelCalibration: Sendable, Equatable {
    public struct Bucket: Sendable, Equatable {
        /// Repeat purchases in the calibration period; the last bucket holds this many or more.
        public var frequency: Int
        public var customers: Int
        public var predicted: Double
        public var actual: Double
        /// The prediction of the model fitted on the calibration period alone.
        public var predictedByCalibrationFit: Double?
    }

    public var buckets: [Bucket]
    /// The last bucket's frequency: it holds the customers with this many repeat purchases or more.
    public var maxFrequency: Int
    public var customers: Int
    public var holdoutDays: Double
    /// The model fitted on the calibration period alone (nil: not asked, or the fit was refused).
    public var calibrationFit: BGNBDModel?
    /// Why the calibration-period fit was refused, when it was.
    public var calibrationFitRefusal: ChurnModelFit.Refusal?

    /// - Parameters:
    ///   - purchaseDays: each customer's purchase times, in days (any origin, fractional allowed).
    ///   - cutOffDay: the end of the calibration period; the holdout runs from it to `endDay`.
    ///   - unitDays: days per time unit of `model`.
    ///   - fitCalibrationPeriod: also fit a model on the calibration period's histories alone
    ///     (refused, like any refit, with too few customers or without convergence).
    public init(purchaseDays: [[Double]], cutOffDay: Double, endDay: Double, model: BGNBDModel, unitDays: Double, maxFrequency: Int = 6,
                fitCalibrationPeriod: Bool = false, requirements: ChurnModelFit.Requirements = ChurnModelFit.Requirements()) {
        holdoutDays = endDay - cutOffDay
        self.maxFrequency = maxFrequency
        var rows: [(history: CustomerHistory, actual: Int)] = []
        for days in purchaseDays {
            let before = days.filter { $0 <= cutOffDay }.sorted()
            guard let first = before.first, let last = before.last else { continue }  // customers of the calibration period only
            let after = days.filter { $0 > cutOffDay && $0 <= endDay }.count
            rows.append((CustomerHistory(frequency: Double(before.count - 1), recency: (last - first) / unitDays, age: (cutOffDay - first) / unitDays), after))
        }
        if fitCalibrationPeriod {
            switch ChurnModelFit.fit(rows.map(\.history), timeUnitDays: unitDays, requirements: requirements) {
            case .success(let fit): calibrationFit = fit.purchases
            case .failure(let refusal): calibrationFitRefusal = refusal
            }
        }
        var sums: [Int: (customers: Int, predicted: Double, actual: Double, fitted: Double)] = [:]
        let horizon = holdoutDays / unitDays
        for row in rows {
            let bucket = min(Int(row.history.frequency), maxFrequency)
            var sum = sums[bucket] ?? (0, 0, 0, 0)
            sum.customers += 1
            sum.predicted += model.expectedPurchases(in: horizon, row.history)
            sum.actual += Double(row.actual)
            if let calibrationFit { sum.fitted += calibrationFit.expectedPurchases(in: horizon, row.history) }
            sums[bucket] = sum
        }
        customers = rows.count
        let fitted = calibrationFit != nil
        buckets = sums.keys.sorted().map { key in
            let sum = sums[key]!
            let n = Double(sum.customers)
            return Bucket(frequency: key, customers: sum.customers, predicted: sum.predicted / n, actual: sum.actual / n,
                          predictedByCalibrationFit: fitted ? sum.fitted / n : nil)
        }
    }

    /// How people read a bucket: its number of repeat purchases, `6+` for the last one.
    public func label(_ bucket: Bucket) -> String {
        bucket.frequency >= maxFrequency ? "\(bucket.frequency)+" : String(bucket.frequency)
    }
}
