/// BG/NBD checked against what happened: split each customer's purchases at a cut-off, fit nothing,
/// predict the holdout period's purchases from the calibration period, and compare with the
/// purchases that came, per calibration frequency (repeat purchases). The lifetimes library calls
/// the plot of this `plot_calibration_purchases_vs_holdout_purchases`.
public struct ModelCalibration: Sendable, Equatable {
    public struct Bucket: Sendable, Equatable {
        /// Repeat purchases in the calibration period; the last bucket holds this many or more.
        public var frequency: Int
        public var customers: Int
        public var predicted: Double
        public var actual: Double
    }

    public var buckets: [Bucket]
    public var customers: Int
    public var holdoutDays: Double

    /// - Parameters:
    ///   - purchaseDays: each customer's purchase times, in days (any origin, fractional allowed).
    ///   - cutOffDay: the end of the calibration period; the holdout runs from it to `endDay`.
    ///   - unitDays: days per time unit of `model`.
    public init(purchaseDays: [[Double]], cutOffDay: Double, endDay: Double, model: BGNBDModel, unitDays: Double, maxFrequency: Int = 6) {
        holdoutDays = endDay - cutOffDay
        var sums: [Int: (customers: Int, predicted: Double, actual: Double)] = [:]
        var count = 0
        for days in purchaseDays {
            let before = days.filter { $0 <= cutOffDay }.sorted()
            guard let first = before.first, let last = before.last else { continue }  // customers of the calibration period only
            let after = days.filter { $0 > cutOffDay && $0 <= endDay }.count
            let history = CustomerHistory(frequency: Double(before.count - 1), recency: (last - first) / unitDays, age: (cutOffDay - first) / unitDays)
            let predicted = model.expectedPurchases(in: holdoutDays / unitDays, history)
            let bucket = min(before.count - 1, maxFrequency)
            var sum = sums[bucket] ?? (0, 0, 0)
            sum.customers += 1
            sum.predicted += predicted
            sum.actual += Double(after)
            sums[bucket] = sum
            count += 1
        }
        customers = count
        buckets = sums.keys.sorted().map { key in
            let sum = sums[key]!
            return Bucket(frequency: key, customers: sum.customers, predicted: sum.predicted / Double(sum.customers), actual: sum.actual / Double(sum.customers))
        }
    }
}
