import Foundation
import OrbitContract

/// What the engine needs to know about the member when an event arrives.
public struct MemberContext: Sendable, Equatable {
    public var level: String
    public var levelMultiplier: Double
    public var segments: Set<String>
    public var purchasesBefore: Int
    public var checkInStreak: Int
    public var referredBy: String?
    public var canEarn: Bool

    public init(level: String, levelMultiplier: Double = 1, segments: Set<String> = [], purchasesBefore: Int = 0, checkInStreak: Int = 0,
                referredBy: String? = nil, canEarn: Bool = true) {
        self.level = level
        self.levelMultiplier = levelMultiplier
        self.segments = segments
        self.purchasesBefore = purchasesBefore
        self.checkInStreak = checkInStreak
        self.referredBy = referredBy
        self.canEarn = canEarn
    }
}

/// Points already earned per rule in the current day, week and month, for caps.
public struct CapUsage: Sendable, Equatable, Codable {
    public struct Period: Sendable, Equatable, Codable {
        public var key: Int64
        public var used: Int64
    }
    public var byRule: [String: [Period]] = [:]  // [day, week, month]

    public init() {}

    static func periodKeys(_ millis: Int64) -> [Int64] {
        let day = (millis >= 0 ? millis : millis - 86_399_999) / 86_400_000
        let week = (day + 3) / 7  // ISO weeks start on Monday; 1970-01-01 was a Thursday
        let (y, m) = CivilCalendar.yearMonth(millis: millis)
        return [day, week, Int64(y * 12 + m)]
    }

    /// `periods` ([day, week, month]) as of `time`: a period that has ended starts again at 0.
    static func rolled(_ periods: [Period]?, to time: Int64) -> [Period] {
        let keys = periodKeys(time)
        guard var periods, periods.count == 3 else { return keys.map { Period(key: $0, used: 0) } }
        for i in 0..<3 where periods[i].key != keys[i] { periods[i] = Period(key: keys[i], used: 0) }
        return periods
    }

    /// How many of `points` fit under the caps now, and records them.
    mutating func grant(_ points: Int64, rule: EarningRule.Caps, ruleID: String, at time: Int64) -> Int64 {
        var periods = Self.rolled(byRule[ruleID], to: time)
        var allowed = points
        for (i, cap) in [rule.perDay, rule.perWeek, rule.perMonth].enumerated() {
            if let cap { allowed = min(allowed, max(0, cap - periods[i].used)) }
        }
        for i in 0..<3 { periods[i].used += allowed }
        byRule[ruleID] = periods
        return allowed
    }
}

/// Applies the earning rules to one event, in the configured order (documented in the README):
/// 1. rules in file order, each checked for its window, targeting and caps;
/// 2. purchase rules (spending, fixed) first produce base points, multipliers then add their extra
///    on the base points so far;
/// 3. the member's level multiplier applies last to the member's own purchase points;
/// 4. amounts are whole points, rounded down at each rule.
public struct EarningEngine: Sendable {
    public let rules: [EarningRule]
    /// Currency the spending rules count in, and the value of one unit of others in it.
    public let pointsCurrency: String
    public let exchangeRates: [String: Double]
    public let currencyDigits: [String: Int]

    public init(rules: [EarningRule], pointsCurrency: String = "USD", exchangeRates: [String: Double] = ["USD": 1], currencyDigits: [String: Int] = ["USD": 2]) {
        self.rules = rules
        self.pointsCurrency = pointsCurrency
        self.exchangeRates = exchangeRates
        self.currencyDigits = currencyDigits
    }

    /// True when an amount in `currency` can be counted in points (the currency table has a rate).
    public func canConvert(_ currency: String) -> Bool { units(0, currency) != nil }

    /// An amount in minor units of `currency`, in units of the points currency (nil: no rate).
    public func pointsCurrencyUnits(minor: Int64, currency: String) -> Double? { units(minor, currency) }

    func units(_ minor: Int64, _ currency: String) -> Double? {
        guard let digits = currencyDigits[currency], let rate = currency == pointsCurrency ? 1 : exchangeRates[currency] else { return nil }
        return Double(minor) / pow(10, Double(digits)) * rate
    }

    /// An award this member earned through another member's event (the referrer's share of a
    /// referral), as it arrives: the points that fit under the rule's caps in this member's own
    /// usage (recorded), and the reason to write. A rule no longer configured caps nothing.
    public func arriving(_ points: Int64, ruleID: String?, reason: String, at time: Int64, caps: inout CapUsage) -> (points: Int64, reason: String) {
        guard let rule = rules.first(where: { $0.id == ruleID }) else { return (points, reason) }
        let granted = caps.grant(points, rule: rule.caps, ruleID: rule.id, at: time)
        return (granted, granted < points ? "\(reason) (capped at \(granted) of \(points))" : reason)
    }

    /// The awards for `event` by `member` (whose context is `context`); caps are consumed in `caps`.
    public func awards(for event: UserEvent, context: MemberContext, caps: inout CapUsage) -> [PointsAward] {
        var awards: [PointsAward] = []
        let time = event.timeMillis
        let isPurchase = event.type == .purchase
        let currency = event.properties["currency"]?.stringValue ?? pointsCurrency
        let items: [(sku: String, category: String, quantity: Int64, minor: Int64)] = (event.properties["items"]?.arrayValue ?? []).compactMap {
            guard let o = $0.objectValue else { return nil }
            let quantity = o["quantity"]?.numberValue?.int64Value ?? 1
            return (o["sku"]?.stringValue ?? "", o["category"]?.stringValue ?? "", quantity, (o["price_minor"]?.numberValue?.int64Value ?? 0) * quantity)
        }
        let orderMinor = event.properties["amount_minor"]?.numberValue?.int64Value ?? 0
        // Base purchase points so far, per category ("" for the order as a whole), for multipliers.
        var basePoints: [String: Double] = [:]

        func give(_ rule: EarningRule, _ points: Double, _ reason: String, to recipient: PointsAward.Recipient = .member) {
            let whole = Int64(points.rounded(.down))
            guard whole > 0 else { return }
            let granted = caps.grant(whole, rule: rule.caps, ruleID: rule.id, at: time)
            guard granted > 0 else { return }
            awards.append(PointsAward(ruleID: rule.id, points: granted, reason: granted < whole ? "\(reason) (capped at \(granted) of \(whole))" : reason, recipient: recipient))
        }

        for rule in rules where rule.isActive(at: time) && rule.targets(level: context.level, segments: context.segments) {
            switch rule.kind {
            case .spending(let perUnit, let minimum, let excludedSKUs, let excludedCategories):
                guard isPurchase, context.canEarn, let orderUnits = units(orderMinor, currency), orderUnits >= minimum else { continue }
                if items.isEmpty {
                    guard let spent = units(orderMinor, currency) else { continue }
                    basePoints["", default: 0] += spent * perUnit
                    give(rule, spent * perUnit, "\(perUnit.clean) points per \(pointsCurrency) on order \(event.properties["order_id"]?.stringValue ?? event.id)")
                } else {
                    var total = 0.0
                    for item in items where !excludedSKUs.contains(item.sku) && !excludedCategories.contains(item.category) {
                        guard let spent = units(item.minor, currency) else { continue }
                        basePoints[item.category, default: 0] += spent * perUnit
                        total += spent * perUnit
                    }
                    give(rule, total, "\(perUnit.clean) points per \(pointsCurrency) on order \(event.properties["order_id"]?.stringValue ?? event.id)")
                }
            case .fixed(let points, let skus, let categories):
                guard isPurchase, context.canEarn else { continue }
                var total = 0.0
                for item in items where skus.contains(item.sku) || categories.contains(item.category) {
                    basePoints[item.category, default: 0] += Double(points * item.quantity)
                    total += Double(points * item.quantity)
                }
                give(rule, total, "\(points) points per item of \((skus.union(categories)).sorted().joined(separator: ", "))")
            case .multiplier(let factor, let categories):
                guard isPurchase, context.canEarn else { continue }
                let base = categories.isEmpty ? basePoints.values.reduce(0, +) : categories.reduce(0) { $0 + (basePoints[$1] ?? 0) }
                give(rule, base * (factor - 1), "x\(factor.clean) \(categories.isEmpty ? "on this purchase" : "on " + categories.sorted().joined(separator: ", "))")
            case .event(let trigger, let points):
                guard context.canEarn else { continue }
                switch trigger {
                case .firstPurchase where isPurchase && context.purchasesBefore == 0:
                    give(rule, Double(points), "first purchase")
                case .event(let type) where type == event.type:
                    give(rule, Double(points), "\(Self.spaced(type.name))")
                default: break
                }
            case .streak(let day, let points):
                guard context.canEarn, event.type == .checkIn, context.checkInStreak == day else { continue }
                give(rule, Double(points), "day \(day) of a check-in streak")
            case .referral(let moment, let points, let pays):
                guard let referrer = context.referredBy else { continue }
                let happens: Bool = switch moment {
                case .signup: event.type == .signup
                case .firstPurchase: isPurchase && context.purchasesBefore == 0
                case .everyPurchase: isPurchase
                }
                guard happens else { continue }
                if pays != .referrer, context.canEarn { give(rule, Double(points), "referred by \(referrer): \(Self.spaced(moment.rawValue))") }
                if pays != .referee {
                    // The referrer's caps are theirs to check when the award arrives (`arriving`).
                    awards.append(PointsAward(ruleID: rule.id, points: points, reason: "referral of \(event.userID): \(Self.spaced(moment.rawValue))", recipient: .other(referrer)))
                }
            case .segmentEntry:
                continue  // from segment changes, not events (see `awards(forSegment:)`)
            }
        }
        // The level multiplier: on the member's own purchase points, after every rule.
        if context.levelMultiplier != 1, isPurchase, context.canEarn {
            let own = awards.filter { $0.recipient == .member }.reduce(0) { $0 + $1.points }
            let extra = Int64((Double(own) * (context.levelMultiplier - 1)).rounded(.down))
            if extra > 0 {
                awards.append(PointsAward(ruleID: "level:\(context.level)", points: extra, reason: "\(context.level) level x\(context.levelMultiplier.clean)", recipient: .member))
            }
        }
        return awards
    }

    /// Awards for entering a scorer segment (`dimension` = segment, tier, lifecycle or super_user).
    public func awards(forSegment dimension: String, value: String, at time: Int64, context: MemberContext, caps: inout CapUsage) -> [PointsAward] {
        guard context.canEarn else { return [] }
        var awards: [PointsAward] = []
        for rule in rules where rule.isActive(at: time) && rule.targets(level: context.level, segments: context.segments) {
            guard case .segmentEntry(let d, let v, let points) = rule.kind, d == dimension, v == value else { continue }
            let granted = caps.grant(points, rule: rule.caps, ruleID: rule.id, at: time)
            if granted > 0 { awards.append(PointsAward(ruleID: rule.id, points: granted, reason: "entered \(dimension) \(value)", recipient: .member)) }
        }
        return awards
    }

    /// `check_in` → `check in`, for reasons people read. Foundation's `replacingOccurrences` was
    /// two fifths of the earning rules' CPU in a profile of `orbit bench members`.
    static func spaced(_ name: String) -> String {
        guard name.utf8.contains(UInt8(ascii: "_")) else { return name }
        return String(decoding: name.utf8.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }
}

extension Double {
    /// 2 rather than 2.0, 1.5 as 1.5.
    var clean: String { self == rounded() ? String(Int64(self)) : String(self) }
}
