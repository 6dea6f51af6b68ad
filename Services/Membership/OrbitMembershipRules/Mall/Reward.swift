import OrbitContract

/// A reward of the points mall, as an operator defines it (`orbit rewards apply`) and as it lies on
/// the compacted catalogue topic `orbit.rewards` (key: the reward id): what it costs, how many
/// there are, who may have it and how often, when, and what redeeming it issues.
///
/// Prices always come from here, never from the member's command.
public struct Reward: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case coupon, goods, benefit }

    /// How many can be issued in all; `unlimited` needs no stock stage decision beyond counting.
    public enum Stock: Sendable, Equatable {
        case limited(Int64)
        case unlimited
    }

    /// A period of a per-member limit: calendar day, ISO week and month in UTC (as earning caps), or ever.
    public enum LimitPeriod: String, Sendable, CaseIterable { case day, week, month, lifetime }

    /// What redeeming the reward issues.
    public enum Issue: Sendable, Equatable {
        /// A coupon worth `valueMinor` (minor units of `currency`), usable for `validityDays`.
        case coupon(valueMinor: Int64, currency: String, validityDays: Int)
        /// Goods the shop's order system sends out.
        case goods(sku: String)
        /// A named benefit on the member's account for `durationDays`.
        case benefit(name: String, durationDays: Int)

        var kind: Kind {
            switch self {
            case .coupon: .coupon
            case .goods: .goods
            case .benefit: .benefit
            }
        }

        /// `coupon`, `goods` or `benefit`.
        public var kindName: String { kind.rawValue }
    }

    /// Who may redeem it: every condition given must hold.
    public struct Eligibility: Sendable, Equatable {
        /// The member's level must be this one or above (in `membership.levels` order).
        public var minimumLevel: String?
        /// The member must hold one of these paid plans (none given: anyone).
        public var paidPlans: [String] = []
        /// The member must be in one of these segments, as `dimension:value` (`tier:S`, `segment:champions`).
        public var segments: [String] = []
        /// The member must carry one of these tags (`orbit.user-tags`).
        public var tags: [String] = []

        public init(minimumLevel: String? = nil, paidPlans: [String] = [], segments: [String] = [], tags: [String] = []) {
            self.minimumLevel = minimumLevel
            self.paidPlans = paidPlans
            self.segments = segments
            self.tags = tags
        }
    }

    public var id: String
    public var kind: Kind { issue.kind }
    /// Display names by locale (`en`, `zh-CN`), for notifications and the report.
    public var names: [String: String]
    public var pricePoints: Int64
    /// Member prices: a level's or a paid plan's own price. A member pays the lowest that applies.
    public var levelPrices: [String: Int64]
    public var planPrices: [String: Int64]
    public var stock: Stock
    public var limits: [LimitPeriod: Int64]
    public var eligibility: Eligibility
    public var validFromMillis: Int64?
    public var validUntilMillis: Int64?
    public var issue: Issue
    /// Retired rewards stay on the topic (so a redemption for one is `not_available`, not `unknown_reward`).
    public var retired: Bool

    public init(id: String, names: [String: String], pricePoints: Int64, levelPrices: [String: Int64] = [:], planPrices: [String: Int64] = [:],
                stock: Stock, limits: [LimitPeriod: Int64] = [:], eligibility: Eligibility = Eligibility(),
                validFromMillis: Int64? = nil, validUntilMillis: Int64? = nil, issue: Issue, retired: Bool = false) {
        self.id = id
        self.names = names
        self.pricePoints = pricePoints
        self.levelPrices = levelPrices
        self.planPrices = planPrices
        self.stock = stock
        self.limits = limits
        self.eligibility = eligibility
        self.validFromMillis = validFromMillis
        self.validUntilMillis = validUntilMillis
        self.issue = issue
        self.retired = retired
    }

    // MARK: Rules every reward obeys

    /// The largest price, stock and quantity Orbit accepts (points are at most 10^9 per command).
    public static let maxPoints: Int64 = 1_000_000_000
    public static let maxStock: Int64 = 1_000_000_000
    public static let locales = ["en", "zh-CN"]

    /// What is wrong with this reward, as (field, message) pairs, the field a dotted path within
    /// the reward's definition. Used on an applied file (with its lines) and again on every record
    /// read from the topic, where a bad one is dead-lettered and the others keep working.
    /// - Parameter levels: `membership.levels` names, lowest first.
    public func problems(levels: [String]) -> [(field: String, message: String)] {
        var problems: [(String, String)] = []
        if !Self.isIdentifier(id) { problems.append(("id", "use 1-64 letters, digits, '_', '-' and '.'")) }
        for locale in Self.locales where (names[locale] ?? "").isEmpty { problems.append(("names.\(locale)", "a name in \(locale) is required")) }
        for (locale, name) in names {
            if !Self.locales.contains(locale) { problems.append(("names.\(locale)", "names are given in \(Self.locales.joined(separator: " and "))")) }
            if name.utf8.count > 200 || name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                problems.append(("names.\(locale)", "at most 200 bytes, without control characters"))
            }
        }
        if !(1...Self.maxPoints).contains(pricePoints) { problems.append(("price_points", "must be a whole number from 1 to \(Self.maxPoints)")) }
        for (level, price) in levelPrices {
            if !levels.contains(level) { problems.append(("prices.levels.\(level)", "\(level) is not a level of membership.yaml (\(levels.joined(separator: ", ")))")) }
            if !(1...Self.maxPoints).contains(price) { problems.append(("prices.levels.\(level)", "must be a whole number from 1 to \(Self.maxPoints)")) }
        }
        for (plan, price) in planPrices {
            if !Self.isIdentifier(plan) { problems.append(("prices.plans", "\(plan) is not a plan id")) }
            if !(1...Self.maxPoints).contains(price) { problems.append(("prices.plans.\(plan)", "must be a whole number from 1 to \(Self.maxPoints)")) }
        }
        if case .limited(let n) = stock, !(0...Self.maxStock).contains(n) { problems.append(("stock", "must be a whole number from 0 to \(Self.maxStock), or unlimited")) }
        for (period, n) in limits where !(1...1_000_000).contains(n) { problems.append(("limits.\(period.rawValue)", "must be a whole number from 1 to 1000000")) }
        if let level = eligibility.minimumLevel, !levels.contains(level) {
            problems.append(("eligibility.min_level", "\(level) is not a level of membership.yaml (\(levels.joined(separator: ", ")))"))
        }
        for (field, list) in [("paid_plans", eligibility.paidPlans), ("segments", eligibility.segments), ("tags", eligibility.tags)] {
            if list.count > 100 { problems.append(("eligibility.\(field)", "at most 100 entries")) }
            for value in list where value.isEmpty || value.utf8.count > 128 { problems.append(("eligibility.\(field)", "entries are 1-128 bytes")) }
        }
        for segment in eligibility.segments where !segment.contains(":") {
            problems.append(("eligibility.segments", "\(segment) is not dimension:value (tier:S, segment:champions, lifecycle:active)"))
        }
        if let from = validFromMillis, let until = validUntilMillis, until <= from { problems.append(("valid_until", "must be after valid_from")) }
        switch issue {
        case .coupon(let value, let currency, let days):
            if !(1...Self.maxPoints).contains(value) { problems.append(("issues.coupon.value_minor", "must be a whole number from 1 to \(Self.maxPoints)")) }
            if currency.utf8.count != 3 || !currency.utf8.allSatisfy({ (65...90).contains($0) }) { problems.append(("issues.coupon.currency", "must be an ISO 4217 code (USD, CNY)")) }
            if !(1...3650).contains(days) { problems.append(("issues.coupon.validity_days", "must be a whole number from 1 to 3650")) }
        case .goods(let sku):
            if !Self.isIdentifier(sku) { problems.append(("issues.goods.sku", "use 1-64 letters, digits, '_', '-' and '.'")) }
        case .benefit(let name, let days):
            if !Self.isIdentifier(name) { problems.append(("issues.benefit.name", "use 1-64 letters, digits, '_', '-' and '.'")) }
            if !(1...3650).contains(days) { problems.append(("issues.benefit.duration_days", "must be a whole number from 1 to 3650")) }
        }
        return problems
    }

    /// Reward ids, SKUs and benefit names: short, plain, safe in keys, logs and file names.
    public static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { byte in
            (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
    }
}
