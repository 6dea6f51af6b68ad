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

    public init(spend: Double = 0, variety: Double = 0, tenureYears: Double = 0, convertedReferrals: Double = 0,
                referralSpend: Double = 0, engagement: Double = 0, overduePayments: Double = 0, refundRatio: Double = 0, complaints: Double = 0) {
        self.spend = spend
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

/// A variable of the evaluation score, by its name in `scoring.yaml` (`tier.weights`).
public enum TierVariable: String, Sendable, CaseIterable {
    // Plus variables: they raise the score.
    case spend, variety, tenure, referrals
    case referralSpend = "referral_spend"
    case engagement
    // Minus variables: their weighted values are subtracted.
    case overdue
    case refundRatio = "refund_ratio"
    case complaints
}

/// The weight of each evaluation-score variable, as named fields.
///
/// Named fields rather than a dictionary keyed by name: the score reads ten weights for every user
/// it evaluates, and hashing ten strings per evaluation was 1.5 % of orbit-scorer's CPU in a
/// profile of the peer comparison. Configuration still names them (``TierVariable``).
public struct TierWeights: Sendable, Equatable {
    public var spend, variety, tenure, referrals, referralSpend, engagement: Double
    public var overdue, refundRatio, complaints: Double

    /// Every weight left out is 0 (the variable does not count).
    public init(spend: Double = 0, variety: Double = 0, tenure: Double = 0, referrals: Double = 0,
                referralSpend: Double = 0, engagement: Double = 0, overdue: Double = 0, refundRatio: Double = 0, complaints: Double = 0) {
        self.spend = spend
        self.variety = variety
        self.tenure = tenure
        self.referrals = referrals
        self.referralSpend = referralSpend
        self.engagement = engagement
        self.overdue = overdue
        self.refundRatio = refundRatio
        self.complaints = complaints
    }

    /// The shipped weights (`deploy/config/scoring.yaml` repeats them).
    public static let defaults = TierWeights(spend: 1.5, variety: 0.8, tenure: 1.0, referrals: 1.0, referralSpend: 0.3,
                                             engagement: 0.6, overdue: 2.0, refundRatio: 4.0, complaints: 1.0)

    public subscript(variable: TierVariable) -> Double {
        get {
            switch variable {
            case .spend: spend
            case .variety: variety
            case .tenure: tenure
            case .referrals: referrals
            case .referralSpend: referralSpend
            case .engagement: engagement
            case .overdue: overdue
            case .refundRatio: refundRatio
            case .complaints: complaints
            }
        }
        set {
            switch variable {
            case .spend: spend = newValue
            case .variety: variety = newValue
            case .tenure: tenure = newValue
            case .referrals: referrals = newValue
            case .referralSpend: referralSpend = newValue
            case .engagement: engagement = newValue
            case .overdue: overdue = newValue
            case .refundRatio: refundRatio = newValue
            case .complaints: complaints = newValue
            }
        }
    }
}

/// Weights and cut-offs of the evaluation score, from configuration.
///
/// score = Σ weight × transform(variable), where money and counts enter as log(1 + x) (so one
/// enormous order cannot outweigh everything else) and ratios and years enter as they are. Minus
/// variables have their weights subtracted. Tier S at or above `sCutoff`, A at or above `aCutoff`.
public struct TierPolicy: Sendable, Equatable {
    public var weights = TierWeights.defaults
    public var sCutoff: Double = 12
    public var aCutoff: Double = 6

    public init() {}

    public func score(_ inputs: EvaluationInputs) -> Double {
        func log1p(_ x: Double) -> Double { x > 0 ? Foundation.log1p(x) : 0 }
        let w = weights
        let plus = w.spend * log1p(inputs.spend) + w.variety * log1p(inputs.variety)
            + w.tenure * inputs.tenureYears + w.referrals * log1p(inputs.convertedReferrals)
            + w.referralSpend * log1p(inputs.referralSpend) + w.engagement * log1p(inputs.engagement)
        let minus = w.overdue * log1p(inputs.overduePayments) + w.refundRatio * min(max(inputs.refundRatio, 0), 1)
            + w.complaints * log1p(inputs.complaints)
        return ((plus - minus) * 1000).rounded() / 1000
    }

    public func tier(forScore score: Double) -> ValueTier {
        score >= sCutoff ? .s : score >= aCutoff ? .a : .b
    }
}

import Foundation
