import OrbitContract

/// One earning rule, from configuration. Rules apply in their configured order; each has an
/// active window, targeting (by level or scorer segment) and caps per user per day, week, month.
public struct EarningRule: Sendable, Equatable {
    public enum Trigger: Sendable, Equatable {
        case event(EventType)
        case firstPurchase
    }

    public enum ReferralMoment: String, Sendable, CaseIterable { case signup, firstPurchase = "first_purchase", everyPurchase = "every_purchase" }
    public enum Payee: String, Sendable, CaseIterable { case referrer, referee, both }

    public enum Kind: Sendable, Equatable {
        /// Points per unit of the points currency spent, on items not excluded, for orders worth at
        /// least `minimumAmount` units of the points currency (the order's own currency converted).
        case spending(pointsPerUnit: Double, minimumAmount: Double, excludedSKUs: Set<String>, excludedCategories: Set<String>)
        /// Fixed points per unit bought of these products or categories.
        case fixed(points: Int64, skus: Set<String>, categories: Set<String>)
        /// Multiplies the purchase points (spending and fixed) earned so far on the event, for
        /// items of these categories (all when empty). Extra points = (factor - 1) × those points.
        case multiplier(factor: Double, categories: Set<String>)
        /// Points for an event (signup, login, check-in, post...) or the first purchase.
        case event(Trigger, points: Int64)
        /// Points on day `day` of a check-in streak.
        case streak(day: Int, points: Int64)
        /// Points when a referred user signs up / buys for the first time / buys.
        case referral(on: ReferralMoment, points: Int64, pays: Payee)
        /// Points when the scorer puts the user in a segment (dimension `segment`, `tier`, `lifecycle`, `super_user`).
        case segmentEntry(dimension: String, value: String, points: Int64)
    }

    public struct Caps: Sendable, Equatable {
        public var perDay: Int64?
        public var perWeek: Int64?
        public var perMonth: Int64?
        public init(perDay: Int64? = nil, perWeek: Int64? = nil, perMonth: Int64? = nil) {
            self.perDay = perDay
            self.perWeek = perWeek
            self.perMonth = perMonth
        }
    }

    public let id: String
    public let kind: Kind
    public var activeFromMillis: Int64?
    public var activeUntilMillis: Int64?
    /// Only members at these levels (nil: everyone).
    public var levels: Set<String>?
    /// Only members in these scorer segments, written `dimension:value` such as `tier:S` (nil: everyone).
    public var segments: Set<String>?
    public var caps = Caps()

    public init(id: String, kind: Kind, activeFromMillis: Int64? = nil, activeUntilMillis: Int64? = nil, levels: Set<String>? = nil,
                segments: Set<String>? = nil, caps: Caps = Caps()) {
        self.id = id
        self.kind = kind
        self.activeFromMillis = activeFromMillis
        self.activeUntilMillis = activeUntilMillis
        self.levels = levels
        self.segments = segments
        self.caps = caps
    }

    public func isActive(at time: Int64) -> Bool {
        (activeFromMillis.map { time >= $0 } ?? true) && (activeUntilMillis.map { time < $0 } ?? true)
    }

    public func targets(level: String, segments member: Set<String>) -> Bool {
        (levels.map { $0.contains(level) } ?? true) && (segments.map { !$0.isDisjoint(with: member) } ?? true)
    }
}

/// Points awarded by one rule for one cause, to the member or (referrals) to another user.
public struct PointsAward: Sendable, Equatable {
    public enum Recipient: Sendable, Equatable { case member, other(String) }
    public let ruleID: String
    public let points: Int64
    public let reason: String
    public let recipient: Recipient
}
