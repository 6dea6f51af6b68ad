import OrbitContract

/// Why a redemption was refused; the reason a `command_result` carries (error codes of the
/// contract: never renamed or reused).
public enum RedemptionRejection: String, Sendable, CaseIterable, Error {
    /// No reward with that id in the catalogue (or its definition could not be used).
    case unknownReward = "unknown_reward"
    /// Retired, or outside its validity window.
    case notAvailable = "not_available"
    /// The member's level, paid plan, segments or tags do not allow it (or the member may not spend).
    case notEligible = "not_eligible"
    /// The member reached a limit per day, week, month or lifetime.
    case limitReached = "limit_reached"
    /// Fewer spendable points than the price.
    case insufficientPoints = "insufficient_points"
    /// The stock stage had none left.
    case outOfStock = "out_of_stock"
}

/// What the member is, for eligibility and member prices.
public struct Redeemer: Sendable, Equatable {
    public var level: String
    /// The paid plan, while it runs (nil: none).
    public var paidPlan: String?
    public var segments: Set<String>
    public var tags: Set<String>
    public var canSpend: Bool

    public init(level: String, paidPlan: String? = nil, segments: Set<String> = [], tags: Set<String> = [], canSpend: Bool = true) {
        self.level = level
        self.paidPlan = paidPlan
        self.segments = segments
        self.tags = tags
        self.canSpend = canSpend
    }
}

/// How much of each reward a member took, per calendar day, ISO week and month (UTC) and in all,
/// for the limits. A pending redemption counts (so two at once cannot both pass a limit of one);
/// a released one is taken back.
public struct RewardUsage: Sendable, Equatable {
    /// Day, week and month keys with the quantity in each (``CapUsage/periodKeys(_:)``).
    public var periods: [CapUsage.Period]
    public var lifetime: Int64

    public init(periods: [CapUsage.Period] = [], lifetime: Int64 = 0) {
        self.periods = periods
        self.lifetime = lifetime
    }

    /// The quantity already taken in `period` as of `time`.
    public func used(_ period: Reward.LimitPeriod, at time: Int64) -> Int64 {
        let current = CapUsage.rolled(periods, to: time)
        switch period {
        case .lifetime: return lifetime
        case .day: return current[0].used
        case .week: return current[1].used
        case .month: return current[2].used
        }
    }

    public mutating func add(_ quantity: Int64, at time: Int64) {
        periods = CapUsage.rolled(periods, to: time)
        for i in 0..<3 { periods[i].used += quantity }
        lifetime += quantity
    }

    /// Takes back a quantity added at `addedAt`: from the periods that are still those of that
    /// time (a day that has passed keeps its count, and no longer limits anything).
    public mutating func remove(_ quantity: Int64, addedAt: Int64) {
        let keys = CapUsage.periodKeys(addedAt)
        for i in periods.indices where i < 3 && periods[i].key == keys[i] { periods[i].used = max(0, periods[i].used - quantity) }
        lifetime = max(0, lifetime - quantity)
    }
}

extension Reward {
    /// The price of one for this member: the lowest of the list price, their level's and their
    /// paid plan's.
    public func unitPrice(for member: Redeemer) -> Int64 {
        var price = pricePoints
        if let levelPrice = levelPrices[member.level] { price = min(price, levelPrice) }
        if let plan = member.paidPlan, let planPrice = planPrices[plan] { price = min(price, planPrice) }
        return price
    }

    /// Whether `member` may redeem `quantity` now, and at what total price: every check but the
    /// points (the ledger's hold) and the stock (the stock stage's). In the order a member would
    /// want to hear them: the reward itself, then who they are, then how often.
    /// - Parameter levels: `membership.levels` names, lowest first.
    public func quote(quantity: Int64, for member: Redeemer, usage: RewardUsage?, levels: [String], at time: Int64) -> Result<Int64, RedemptionRejection> {
        if retired { return .failure(.notAvailable) }
        if let from = validFromMillis, time < from { return .failure(.notAvailable) }
        if let until = validUntilMillis, time >= until { return .failure(.notAvailable) }
        if case .limited(let n) = stock, n < quantity { return .failure(.outOfStock) }
        guard member.canSpend else { return .failure(.notEligible) }
        if let minimum = eligibility.minimumLevel {
            guard let need = levels.firstIndex(of: minimum), let have = levels.firstIndex(of: member.level), have >= need else { return .failure(.notEligible) }
        }
        if !eligibility.paidPlans.isEmpty { guard let plan = member.paidPlan, eligibility.paidPlans.contains(plan) else { return .failure(.notEligible) } }
        if !eligibility.segments.isEmpty, member.segments.isDisjoint(with: eligibility.segments) { return .failure(.notEligible) }
        if !eligibility.tags.isEmpty, member.tags.isDisjoint(with: eligibility.tags) { return .failure(.notEligible) }
        let usage = usage ?? RewardUsage()
        for (period, limit) in limits where usage.used(period, at: time) + quantity > limit { return .failure(.limitReached) }
        let (total, overflow) = unitPrice(for: member).multipliedReportingOverflow(by: quantity)
        guard !overflow, total <= Self.maxPoints else { return .failure(.insufficientPoints) }
        return .success(total)
    }
}

/// The catalogue as the membership service sees it: the usable rewards of `orbit.rewards`, and
/// why the others cannot be used.
public struct RewardCatalogue: Sendable {
    public private(set) var rewards: [String: Reward] = [:]
    public private(set) var unusable: [String: Reward.Unusable] = [:]

    public init() {}

    /// Reads every latest record (a null value: a deleted definition, gone from the catalogue).
    public init(records: [String: [UInt8]], levels: [String]) {
        for (key, value) in records {
            do throws(Reward.Unusable) {
                let reward = try Reward.decode(value, levels: levels)
                guard reward.id == key else { throw Reward.Unusable("id", "\(reward.id) is not the record's key \(key)") }
                rewards[key] = reward
            } catch {
                unusable[key] = error
            }
        }
    }

    public subscript(id: String) -> Reward? { rewards[id] }
}
