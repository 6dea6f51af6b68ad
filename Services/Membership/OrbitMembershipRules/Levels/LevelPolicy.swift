/// A membership level: reached at a growth value, with benefits (as data for other systems;
/// `points_multiplier` is applied by Orbit itself).
public struct MembershipLevel: Sendable, Equatable {
    public let name: String
    public let threshold: Int64
    public let pointsMultiplier: Double
    public let benefits: [String: String]

    public init(name: String, threshold: Int64, pointsMultiplier: Double = 1, benefits: [String: String] = [:]) {
        self.name = name
        self.threshold = threshold
        self.pointsMultiplier = pointsMultiplier
        self.benefits = benefits
    }
}

/// Levels by growth value: the points earned over a rolling 12 months (earned, not the spendable
/// balance, so redeeming never costs a level). Upgrades happen at once; downgrades only on an
/// evaluation date (the first of each month, UTC), after the member has stayed below their level
/// for `graceDays`.
public struct LevelPolicy: Sendable, Equatable {
    public let levels: [MembershipLevel]
    public let graceDays: Int

    public init(levels: [MembershipLevel], graceDays: Int = 30) {
        precondition(!levels.isEmpty)
        self.levels = levels.sorted { $0.threshold < $1.threshold }
        self.graceDays = graceDays
    }

    public func level(named name: String) -> MembershipLevel? { levels.first { $0.name == name } }

    public func level(forGrowth value: Int64) -> MembershipLevel {
        levels.last { $0.threshold <= value } ?? levels[0]
    }
}

/// A member's level and the growth behind it.
public struct LevelState: Sendable, Equatable, Codable {
    public struct Month: Sendable, Equatable, Codable {
        public var index: Int64
        public var value: Int64
    }
    public internal(set) var level: String
    public internal(set) var months: [Month] = []
    /// When the member first fell below their level; nil while they hold it.
    public internal(set) var belowSinceMillis: Int64?
    /// The last evaluation date handled (a month index), so each is handled once.
    public internal(set) var lastEvaluatedMonth: Int64 = .min

    public init(level: String) { self.level = level }

    static func monthIndex(_ millis: Int64) -> Int64 {
        let (y, m) = CivilCalendar.yearMonth(millis: millis)
        return Int64(y * 12 + m - 1)
    }

    public mutating func addGrowth(_ points: Int64, at time: Int64) {
        let index = Self.monthIndex(time)
        if let i = months.firstIndex(where: { $0.index == index }) { months[i].value += points } else {
            months.append(Month(index: index, value: points))
            months.sort { $0.index < $1.index }
            if months.count > 13 { months.removeFirst(months.count - 13) }
        }
    }

    /// Growth over the 12 months ending with the month of `now`.
    public func growthValue(at now: Int64) -> Int64 {
        let current = Self.monthIndex(now)
        return max(0, months.filter { $0.index > current - 12 && $0.index <= current }.reduce(0) { $0 + $1.value })
    }

    public struct Change: Sendable, Equatable {
        public let from: String
        public let to: String
        public let reason: String
    }

    /// Re-evaluates the level at `now`; returns the change, if any.
    public mutating func evaluate(at now: Int64, policy: LevelPolicy) -> Change? {
        let growth = growthValue(at: now)
        let target = policy.level(forGrowth: growth)
        let currentLevel = policy.level(named: level) ?? policy.levels[0]
        if target.threshold > currentLevel.threshold {
            let from = level
            level = target.name
            belowSinceMillis = nil
            return Change(from: from, to: target.name, reason: "growth value \(growth) reached \(target.name) (\(target.threshold))")
        }
        if target.threshold == currentLevel.threshold {
            belowSinceMillis = nil
            return nil
        }
        if belowSinceMillis == nil { belowSinceMillis = now }
        let month = Self.monthIndex(now)
        // Only on an evaluation date (the first evaluation of a month), and only after the grace period.
        guard month > lastEvaluatedMonth else { return nil }
        lastEvaluatedMonth = month
        guard now - belowSinceMillis! >= Int64(policy.graceDays) * 86_400_000 else { return nil }
        let from = level
        level = target.name
        belowSinceMillis = nil
        return Change(from: from, to: target.name, reason: "growth value \(growth) below \(currentLevel.name) (\(currentLevel.threshold)) for \(policy.graceDays)+ days, at the \(RFC3339Day.format(CivilCalendar.startOfMonth(year: Int(month / 12), month: Int(month % 12) + 1))) evaluation")
    }

    /// Marks the current month evaluated (an upgrade or the start of membership).
    public mutating func noteEvaluated(at now: Int64) { lastEvaluatedMonth = max(lastEvaluatedMonth, Self.monthIndex(now) - 1) }
}
