/// Where a user is in their life with the product.
public enum LifecycleStage: String, Sendable, CaseIterable, Codable {
    /// Signed up recently and has not bought yet.
    case new
    /// Active recently.
    case active
    /// Quiet for a while, or unlikely to still be a customer (P(alive) low).
    case atRisk = "at_risk"
    /// Quiet for long enough to count as gone.
    case churned
    /// Came back after churning; becomes `active` after `reactivatedDays`.
    case reactivated
}

/// The thresholds of the lifecycle, from configuration.
public struct LifecyclePolicy: Sendable, Equatable {
    public var newDays: Int = 30
    public var atRiskDays: Int = 60
    public var churnedDays: Int = 180
    public var reactivatedDays: Int = 30
    /// Below this P(alive), a user who has bought is at risk even if recently active.
    public var atRiskProbabilityAlive: Double = 0.3

    public init() {}
}

/// What the lifecycle decision reads about a user.
public struct LifecycleFacts: Sendable, Equatable {
    public var signupDay: Int32?
    public var firstSeenDay: Int32
    public var lastActivityDay: Int32
    public var purchases: Int
    public var probabilityAlive: Double?

    public init(signupDay: Int32?, firstSeenDay: Int32, lastActivityDay: Int32, purchases: Int, probabilityAlive: Double?) {
        self.signupDay = signupDay
        self.firstSeenDay = firstSeenDay
        self.lastActivityDay = lastActivityDay
        self.purchases = purchases
        self.probabilityAlive = probabilityAlive
    }
}

/// A stage with the reason it was decided, for people ("why is this user at risk?").
public struct LifecycleDecision: Sendable, Equatable {
    public let stage: LifecycleStage
    public let reason: String
    /// Day the current stage started (kept across evaluations while the stage does not change).
    public let since: Int32
}

extension LifecyclePolicy {
    /// Decides the stage on `today` (days since the epoch). `previous` is the last decision: it
    /// tells a comeback (churned -> reactivated) from ordinary activity.
    public func evaluate(_ facts: LifecycleFacts, today: Int32, previous: LifecycleDecision?) -> LifecycleDecision {
        let quietDays = Int(today - facts.lastActivityDay)
        let sinceStart = Int(today - (facts.signupDay ?? facts.firstSeenDay))
        func decide(_ stage: LifecycleStage, _ reason: String) -> LifecycleDecision {
            let since = previous?.stage == stage ? previous!.since : today
            return LifecycleDecision(stage: stage, reason: reason, since: since)
        }
        if quietDays >= churnedDays {
            return decide(.churned, "no activity for \(quietDays) days (churned after \(churnedDays))")
        }
        if quietDays >= atRiskDays {
            return decide(.atRisk, "no activity for \(quietDays) days (at risk after \(atRiskDays))")
        }
        if previous?.stage == .churned {
            return decide(.reactivated, "active again after being churned")
        }
        if previous?.stage == .reactivated, Int(today - previous!.since) < reactivatedDays {
            return decide(.reactivated, previous!.reason)
        }
        if facts.purchases > 0, let alive = facts.probabilityAlive, alive < atRiskProbabilityAlive {
            return decide(.atRisk, "probability alive \(Int((alive * 100).rounded())) % is below \(Int((atRiskProbabilityAlive * 100).rounded())) %")
        }
        if facts.purchases == 0, sinceStart < newDays {
            return decide(.new, "signed up \(sinceStart) days ago, no purchase yet")
        }
        return decide(.active, facts.purchases == 0 ? "active \(quietDays) days ago, no purchase yet" : "active \(quietDays) days ago")
    }
}
