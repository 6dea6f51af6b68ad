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

/// What the lifecycle decision reads about a user. Every fact comes from the user's own events
/// (applied in their order), never from when an earlier evaluation happened to run, so the stage
/// is the same however the input was batched, partitioned or replayed.
public struct LifecycleFacts: Sendable, Equatable {
    public var signupDay: Int32?
    public var firstSeenDay: Int32
    public var lastActivityDay: Int32
    /// The day activity resumed after a quiet spell of at least `atRiskDays` (or first began).
    public var activeSinceDay: Int32
    /// The day activity resumed after a quiet spell of at least `churnedDays`, if it ever did.
    public var reactivatedDay: Int32?
    public var purchases: Int
    public var probabilityAlive: Double?

    public init(signupDay: Int32?, firstSeenDay: Int32, lastActivityDay: Int32, activeSinceDay: Int32? = nil,
                reactivatedDay: Int32? = nil, purchases: Int, probabilityAlive: Double?) {
        self.signupDay = signupDay
        self.firstSeenDay = firstSeenDay
        self.lastActivityDay = lastActivityDay
        self.activeSinceDay = activeSinceDay ?? firstSeenDay
        self.reactivatedDay = reactivatedDay
        self.purchases = purchases
        self.probabilityAlive = probabilityAlive
    }
}

/// A stage with the reason it was decided, for people ("why is this user at risk?").
public struct LifecycleDecision: Sendable, Equatable {
    public let stage: LifecycleStage
    public let reason: String
    /// Day the current stage started.
    public let since: Int32
}

extension LifecyclePolicy {
    /// Decides the stage on `today` (days since the epoch).
    public func evaluate(_ facts: LifecycleFacts, today: Int32) -> LifecycleDecision {
        let quietDays = Int(today - facts.lastActivityDay)
        let start = facts.signupDay ?? facts.firstSeenDay
        if quietDays >= churnedDays {
            return LifecycleDecision(stage: .churned, reason: "no activity for \(quietDays) days (churned after \(churnedDays))",
                                     since: facts.lastActivityDay + Int32(churnedDays))
        }
        if quietDays >= atRiskDays {
            return LifecycleDecision(stage: .atRisk, reason: "no activity for \(quietDays) days (at risk after \(atRiskDays))",
                                     since: facts.lastActivityDay + Int32(atRiskDays))
        }
        if let back = facts.reactivatedDay, Int(today - back) < reactivatedDays {
            return LifecycleDecision(stage: .reactivated, reason: "active again after being churned", since: back)
        }
        if facts.purchases > 0, let alive = facts.probabilityAlive, alive < atRiskProbabilityAlive {
            return LifecycleDecision(stage: .atRisk, reason: "probability alive \(Int((alive * 100).rounded())) % is below \(Int((atRiskProbabilityAlive * 100).rounded())) %",
                                     since: facts.lastActivityDay)
        }
        if facts.purchases == 0, Int(today - start) < newDays {
            return LifecycleDecision(stage: .new, reason: "signed up \(Int(today - start)) days ago, no purchase yet", since: start)
        }
        var since = facts.activeSinceDay
        if let back = facts.reactivatedDay { since = max(since, back + Int32(reactivatedDays)) }
        if facts.purchases == 0 { since = max(since, start + Int32(newDays)) }
        return LifecycleDecision(stage: .active, reason: facts.purchases == 0 ? "active \(quietDays) days ago, no purchase yet" : "active \(quietDays) days ago",
                                 since: min(since, today))
    }
}
