/// A user's value tier: S (the few who matter most), A, B.
public enum ValueTier: String, Sendable, CaseIterable, Codable, Comparable {
    case s = "S"
    case a = "A"
    case b = "B"

    public static func < (lhs: ValueTier, rhs: ValueTier) -> Bool {
        let order: [ValueTier] = [.b, .a, .s]
        return order.firstIndex(of: lhs)! < order.firstIndex(of: rhs)!
    }
}

/// The variables of the dynamic evaluation score. Plus variables raise it, minus variables lower it.
public struct EvaluationInputs: Sendable, Equatable {
    /// Net spend in the window, major units of the reporting currency.
    public var spend: Double
    /// Margin on that spend when known, major units (0 when not given).
    public var margin: Double
    /// Distinct product categories bought.
    public var variety: Double
    /// Years since sign-up (or first sight).
    public var tenureYears: Double
    /// Referred users who made a first purchase.
    public var convertedReferrals: Double
    /// What referred users spent, major units.
    public var referralSpend: Double
    /// Community actions (posts, comments, likes, shares) in the last 30 days.
    public var engagement: Double
    /// Payment-overdue events.
    public var overduePayments: Double
    /// Refunded share of gross spend, 0...1.
    public var refundRatio: Double
    /// Complaints filed.
    public var complaints: Double

    public init(spend: Double = 0, margin: Double = 0, variety: Double = 0, tenureYears: Double = 0, convertedReferrals: Double = 0,
                referralSpend: Double = 0, engagement: Double = 0, overduePayments: Double = 0, refundRatio: Double = 0, complaints: Double = 0) {
        self.spend = spend
        self.margin = margin
        self.variety = variety
        self.tenureYears = tenureYears
        self.convertedReferrals = convertedReferrals
        self.referralSpend = referralSpend
        self.engagement = engagement
        self.overduePayments = overduePayments
        self.refundRatio = refundRatio
        self.complaints = complaints
    }
}

/// Weights and cut-offs of the evaluation score, from configuration.
///
/// score = Σ weight × transform(variable), where money and counts enter as log(1 + x) (so one
/// enormous order cannot outweigh everything else) and ratios and years enter as they are. Minus
/// variables have their weights subtracted. Tier S at or above `sCutoff`, A at or above `aCutoff`.
public struct TierPolicy: Sendable, Equatable {
    public var weights: [String: Double] = TierPolicy.defaultWeights
    public var sCutoff: Double = 12
    public var aCutoff: Double = 6

    public static let plusVariables = ["spend", "margin", "variety", "tenure", "referrals", "referral_spend", "engagement"]
    public static let minusVariables = ["overdue", "refund_ratio", "complaints"]
    public static let defaultWeights: [String: Double] = [
        "spend": 1.5, "margin": 0.5, "variety": 0.8, "tenure": 1.0, "referrals": 1.0, "referral_spend": 0.3,
        "engagement": 0.6, "overdue": 2.0, "refund_ratio": 4.0, "complaints": 1.0,
    ]

    public init() {}

    public func score(_ inputs: EvaluationInputs) -> Double {
        func w(_ name: String) -> Double { weights[name] ?? 0 }
        func log1p(_ x: Double) -> Double { x > 0 ? Foundation.log1p(x) : 0 }
        let plus = w("spend") * log1p(inputs.spend) + w("margin") * log1p(inputs.margin) + w("variety") * log1p(inputs.variety)
            + w("tenure") * inputs.tenureYears + w("referrals") * log1p(inputs.convertedReferrals)
            + w("referral_spend") * log1p(inputs.referralSpend) + w("engagement") * log1p(inputs.engagement)
        let minus = w("overdue") * log1p(inputs.overduePayments) + w("refund_ratio") * min(max(inputs.refundRatio, 0), 1)
            + w("complaints") * log1p(inputs.complaints)
        return ((plus - minus) * 1000).rounded() / 1000
    }

    public func tier(forScore score: Double) -> ValueTier {
        score >= sCutoff ? .s : score >= aCutoff ? .a : .b
    }
}

import Foundation
