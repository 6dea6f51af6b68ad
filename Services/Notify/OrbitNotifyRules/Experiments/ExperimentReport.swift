import Foundation

/// The experiment report: per variant, users assigned and sent to, conversions, the conversion
/// rate, and the uplift against the holdout with a 95% interval (difference of two proportions,
/// normal approximation); plus the sample size per group needed to detect a stated effect.
public struct ExperimentReport: Sendable {
    public struct Row: Sendable, Equatable {
        public var variant: String
        public var assigned: Int
        public var sentTo: Int
        public var converted: Int
        public var rate: Double { assigned == 0 ? 0 : Double(converted) / Double(assigned) }
        /// Against the holdout: rate difference and its 95% interval; nil for the holdout itself or without one.
        public var uplift: Double?
        public var interval: (low: Double, high: Double)?

        public static func == (a: Row, b: Row) -> Bool {
            a.variant == b.variant && a.assigned == b.assigned && a.sentTo == b.sentTo && a.converted == b.converted
        }
    }

    public var experiment: String
    public var rows: [Row]

    /// - Parameters:
    ///   - assignments: user → variant (from `assigned` outcomes).
    ///   - conversions: users who converted (from `converted` outcomes).
    ///   - sentTo: users with at least one message sent, per variant.
    public init(experiment: String, assignments: [String: String], conversions: Set<String>, sentTo: [String: Set<String>]) {
        self.experiment = experiment
        var rows: [String: Row] = [:]
        for (user, variant) in assignments {
            var row = rows[variant] ?? Row(variant: variant, assigned: 0, sentTo: 0, converted: 0)
            row.assigned += 1
            if conversions.contains(user) { row.converted += 1 }
            rows[variant] = row
        }
        for (variant, users) in sentTo { rows[variant]?.sentTo = users.count }
        let holdout = rows[Experiment.holdout]
        for (variant, row) in rows where variant != Experiment.holdout {
            guard let holdout, holdout.assigned > 0, row.assigned > 0 else { continue }
            let (p1, n1, p0, n0) = (row.rate, Double(row.assigned), holdout.rate, Double(holdout.assigned))
            let difference = p1 - p0
            let standardError = (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0).squareRoot()
            rows[variant]!.uplift = difference
            rows[variant]!.interval = (difference - 1.96 * standardError, difference + 1.96 * standardError)
        }
        self.rows = rows.values.sorted { ($0.variant == Experiment.holdout ? 1 : 0, $0.variant) < ($1.variant == Experiment.holdout ? 1 : 0, $1.variant) }
    }

    /// Users per group to detect an absolute change `minimumEffect` from `baseline` with a
    /// two-sided test at 5% significance and 80% power.
    public static func sampleSizePerGroup(baseline: Double, minimumEffect: Double) -> Int {
        guard minimumEffect > 0 else { return 0 }
        let p1 = min(max(baseline, 0.0001), 0.9999)
        let p2 = min(max(baseline + minimumEffect, 0.0001), 0.9999)
        let zAlpha = 1.959964, zBeta = 0.841621
        let pooled = (p1 + p2) / 2
        let numerator = zAlpha * (2 * pooled * (1 - pooled)).squareRoot() + zBeta * (p1 * (1 - p1) + p2 * (1 - p2)).squareRoot()
        return Int((numerator * numerator / ((p2 - p1) * (p2 - p1))).rounded(.up))
    }

    public func text(minimumEffect: Double) -> String {
        func pct(_ x: Double) -> String { String(format: "%.2f%%", x * 100) }
        var lines = ["experiment \(experiment)", "  variant          assigned   sent to  converted      rate   uplift vs holdout (95% interval)"]
        for row in rows {
            var line = "  " + row.variant.padding(toLength: 15, withPad: " ", startingAt: 0)
            let rate = pct(row.rate)
            line += String(format: " %9d %9d %10d ", row.assigned, row.sentTo, row.converted) + String(repeating: " ", count: max(0, 9 - rate.count)) + rate
            if let uplift = row.uplift, let interval = row.interval {
                line += "   \(uplift >= 0 ? "+" : "")\(pct(uplift)) (\(pct(interval.low)) to \(pct(interval.high)))"
                line += interval.low > 0 ? " significant" : interval.high < 0 ? " significantly worse" : " not significant"
            } else if row.variant == Experiment.holdout {
                line += "   (control)"
            }
            lines.append(line)
        }
        let baseline = rows.first { $0.variant == Experiment.holdout }?.rate ?? rows.first?.rate ?? 0
        lines.append("  sample size to detect \(pct(minimumEffect)) absolute uplift from \(pct(baseline)): \(Self.sampleSizePerGroup(baseline: baseline, minimumEffect: minimumEffect)) users per group")
        return lines.joined(separator: "\n")
    }
}
