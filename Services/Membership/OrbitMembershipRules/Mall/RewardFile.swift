import Foundation
import OrbitContract
import OrbitCore

/// A file of reward definitions (YAML) for `orbit rewards apply`, checked as every configuration
/// is: every error names the file, line and field, and a file with any error publishes nothing.
///
/// ```yaml
/// rewards:
///   - id: coffee-coupon
///     kind: coupon                                  # coupon, goods or benefit
///     names: {en: Coffee coupon, zh-CN: 咖啡券}
///     price_points: 500
///     prices: {levels: {gold: 400}, plans: {plus: 350}}   # member prices: the lowest applies
///     stock: 150                                    # or unlimited
///     limits: {day: 1, lifetime: 5}                 # per member: day, week, month, lifetime
///     eligibility: {min_level: silver, paid_plans: [plus], segments: ["tier:S"], tags: [vip]}
///     valid_from: 2026-12-01T00:00:00Z
///     valid_until: 2027-01-01T00:00:00Z
///     issues: {coupon: {value_minor: 500, currency: USD, validity_days: 30}}
/// ```
public enum RewardFile {
    /// At most this many rewards per file (the catalogue is read whole by every instance).
    public static let maxRewards = 10_000

    /// - Parameter levels: `membership.levels` names, lowest first.
    public static func load(path: String, levels: [String]) throws(ConfigError) -> [Reward] {
        try read(try ConfigDocument.load(path: path, environment: [:]), levels: levels)
    }

    public static func read(_ document: ConfigDocument, levels: [String]) throws(ConfigError) -> [Reward] {
        try document.top.rejectUnknownKeys(["rewards"])
        let sections = try document.top.sectionList("rewards")
        guard !sections.isEmpty else { throw document.top.invalid("rewards", "list at least one reward") }
        guard sections.count <= maxRewards else { throw document.top.invalid("rewards", "at most \(maxRewards) rewards per file") }
        var rewards: [Reward] = []
        var seen: Set<String> = []
        for section in sections {
            let reward = try reward(section, levels: levels)
            guard seen.insert(reward.id).inserted else { throw section.invalid("id", "\(reward.id) is defined twice in this file") }
            rewards.append(reward)
        }
        return rewards
    }

    static func reward(_ r: ConfigSection, levels: [String]) throws(ConfigError) -> Reward {
        try r.rejectUnknownKeys(["id", "kind", "names", "price_points", "prices", "stock", "limits", "eligibility", "valid_from", "valid_until", "issues"])
        let id = try r.string("id")
        guard try r.optionalString("kind") != nil else { throw r.invalid("kind", "is required (coupon, goods or benefit)") }
        let kind = try r.choice("kind", default: Reward.Kind.coupon)
        let names = r.section("names")
        try names.rejectUnknownKeys(Set(Reward.locales))
        var localized: [String: String] = [:]
        for locale in Reward.locales { localized[locale] = try names.string(locale) }
        let prices = r.section("prices")
        try prices.rejectUnknownKeys(["levels", "plans"])
        let stock: Reward.Stock
        if try r.optionalString("stock") == "unlimited" { stock = .unlimited } else { stock = .limited(Int64(try r.int("stock", range: 0...Int(Reward.maxStock)))) }
        let l = r.section("limits")
        try l.rejectUnknownKeys(Set(Reward.LimitPeriod.allCases.map(\.rawValue)))
        var limits: [Reward.LimitPeriod: Int64] = [:]
        for period in Reward.LimitPeriod.allCases where try l.optionalString(period.rawValue) != nil {
            limits[period] = Int64(try l.int(period.rawValue, range: 1...1_000_000))
        }
        let e = r.section("eligibility")
        try e.rejectUnknownKeys(["min_level", "paid_plans", "segments", "tags"])
        let eligibility = Reward.Eligibility(minimumLevel: try e.optionalString("min_level"), paidPlans: try e.stringList("paid_plans"),
                                             segments: try e.stringList("segments"), tags: try e.stringList("tags"))
        func time(_ key: String) throws(ConfigError) -> Int64? {
            guard let text = try r.optionalString(key) else { return nil }
            do { return try RFC3339.parse(text) } catch { throw r.invalid(key, "must be an RFC 3339 date-time (2026-12-01T00:00:00Z)") }
        }
        let issues = r.section("issues")
        try issues.rejectUnknownKeys([kind.rawValue])
        let details = issues.section(kind.rawValue)
        guard details.exists else { throw r.invalid("issues", "a \(kind.rawValue) reward says what it issues under issues.\(kind.rawValue)") }
        let issue: Reward.Issue
        switch kind {
        case .coupon:
            try details.rejectUnknownKeys(["value_minor", "currency", "validity_days"])
            issue = .coupon(valueMinor: Int64(try details.int("value_minor", range: 1...Int(Reward.maxPoints))), currency: try details.string("currency"),
                            validityDays: try details.int("validity_days", range: 1...3650))
        case .goods:
            try details.rejectUnknownKeys(["sku"])
            issue = .goods(sku: try details.string("sku"))
        case .benefit:
            try details.rejectUnknownKeys(["name", "duration_days"])
            issue = .benefit(name: try details.string("name"), durationDays: try details.int("duration_days", range: 1...3650))
        }
        let reward = Reward(id: id, names: localized, pricePoints: Int64(try r.int("price_points", range: 1...Int(Reward.maxPoints))),
                            levelPrices: try priceMap(prices, "levels"), planPrices: try priceMap(prices, "plans"), stock: stock, limits: limits,
                            eligibility: eligibility, validFromMillis: try time("valid_from"), validUntilMillis: try time("valid_until"), issue: issue)
        if let problem = reward.problems(levels: levels).first {
            // The problem's field is a dotted path within the reward: its line is that key's.
            var section = r
            let path = problem.field.split(separator: ".").map(String.init)
            for component in path.dropLast() where section.section(component).exists { section = section.section(component) }
            throw section.invalid(path.last ?? problem.field, problem.message)
        }
        return reward
    }

    private static func priceMap(_ prices: ConfigSection, _ key: String) throws(ConfigError) -> [String: Int64] {
        (try prices.intMap(key, range: 1...Int(Reward.maxPoints)) ?? [:]).mapValues(Int64.init)
    }
}
