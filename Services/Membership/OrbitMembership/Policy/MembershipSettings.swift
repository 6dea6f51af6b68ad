import Foundation
import OrbitContract
import OrbitRuntime

/// The `topics` and `membership` sections of `membership.yaml`.
public struct MembershipSettings: Sendable {
    /// Group, evaluation interval and clock, shared with every stateful stage.
    public var processor = ProcessorSettings(groupID: "orbit-members")
    public var groupID: String { get { processor.groupID } set { processor.groupID = newValue } }
    public var evaluationInterval: Duration { get { processor.evaluationInterval } set { processor.evaluationInterval = newValue } }
    public var eventsTopic = OrbitTopics.validEvents
    public var segmentChangesTopic = OrbitTopics.segmentChanges
    public var commandsTopic = OrbitTopics.memberCommands
    public var internalTopic = OrbitTopics.membersInternal
    public var inputsTopic = OrbitTopics.membersInputs
    public var ledgerTopic = OrbitTopics.pointsLedger
    public var accountsTopic = OrbitTopics.memberAccounts
    public var memberEventsTopic = OrbitTopics.memberEvents
    public var stateChangelogTopic = OrbitTopics.membersStateChangelog
    public var deadLettersTopic = OrbitTopics.membersDeadLetters
    public var tagsTopic = OrbitTopics.userTags
    public var rewardsTopic = OrbitTopics.rewards
    public var stockRequestsTopic = OrbitTopics.membersStockRequests
    public var stockChangelogTopic = OrbitTopics.membersStockChangelog
    public var fulfilmentTopic = OrbitTopics.rewardFulfilment
    public var couponsTopic = OrbitTopics.coupons
    public var couponRequestsTopic = OrbitTopics.membersCouponRequests
    public var couponsChangelogTopic = OrbitTopics.membersCouponsChangelog
    /// The coupon stage's consumer group (`<group_id>-coupons`).
    public var couponsGroupID: String { groupID + "-coupons" }
    /// The stock stage's consumer group (`<group_id>-stock`).
    public var stockGroupID: String { groupID + "-stock" }
    public var policy = MembershipPolicy()

    /// Every topic the service names, by its key in the `topics` section.
    public static var topicKeys: [String: WritableKeyPath<MembershipSettings, String>] { [
        "events": \.eventsTopic, "segment_changes": \.segmentChangesTopic, "commands": \.commandsTopic, "internal": \.internalTopic,
        "inputs": \.inputsTopic, "ledger": \.ledgerTopic, "accounts": \.accountsTopic, "member_events": \.memberEventsTopic,
        "state_changelog": \.stateChangelogTopic, "dead_letters": \.deadLettersTopic, "tags": \.tagsTopic, "rewards": \.rewardsTopic,
        "stock_requests": \.stockRequestsTopic, "stock_changelog": \.stockChangelogTopic, "fulfilment": \.fulfilmentTopic,
        "coupons": \.couponsTopic, "coupon_requests": \.couponRequestsTopic, "coupons_changelog": \.couponsChangelogTopic,
    ] }

    public init() {}

    public init(document: ConfigDocument) throws(ConfigError) {
        try document.section("topics").readStrings(Self.topicKeys, into: &self)

        let m = document.section("membership")
        try m.rejectUnknownKeys(["config_version", "group_id", "evaluation_interval_seconds", "fixed_now", "points_currency", "currencies_file",
                                 "lot_expiry", "lock_days", "expiring_soon_days", "allow_negative_balance",
                                 "refund_window_days", "paid_expiring_notice_days", "statuses", "default_status", "levels", "downgrade_grace_days", "rules", "paid_benefits", "checkout", "mall"])
        var p = MembershipPolicy()
        p.configVersion = try m.string("config_version", default: "unversioned")
        processor = try ProcessorSettings(section: m, defaultGroupID: processor.groupID)
        let currency = try m.string("points_currency", default: "USD")
        // The one currency table (deploy/config/currencies.yaml), converted to the points currency.
        let table = try CurrencyTable.load(from: m, configFile: document.file)
        let digits = table.digits
        guard digits[currency] != nil, let pointsRate = table.rates[currency] else { throw m.invalid("points_currency", "\(currency) has no rate in the currency table") }
        let rates = table.rates.mapValues { $0 / pointsRate }
        switch try m.string("lot_expiry", default: "after_days:365") {
        case "never": p.lotExpiry = .never
        case "end_of_month": p.lotExpiry = .endOfMonth
        case "end_of_year": p.lotExpiry = .endOfYear
        case let text where text.hasPrefix("after_days:"):
            guard let days = Int(text.dropFirst("after_days:".count)), days > 0 else { throw m.invalid("lot_expiry", "after_days:N needs N > 0") }
            p.lotExpiry = .afterDays(days)
        default: throw m.invalid("lot_expiry", "must be after_days:N, end_of_month, end_of_year or never")
        }
        p.lockDays = try m.int("lock_days", default: 0, range: 0...365)
        p.expiringSoonDays = try m.int("expiring_soon_days", default: 14, range: 0...365)
        p.paidExpiringNoticeDays = try m.int("paid_expiring_notice_days", default: 14, range: 0...365)
        p.allowNegativeBalance = try m.bool("allow_negative_balance", default: false)
        p.refundWindowDays = try m.int("refund_window_days", default: 400, range: 1...3650)
        let statuses = m.section("statuses")
        if statuses.exists {
            var table: [String: (earn: Bool, spend: Bool)] = [:]
            for name in try statuses.scalarsIfMapping().keys.sorted() {
                let entry = statuses.section(name)
                try entry.rejectUnknownKeys(["earn", "spend"])
                table[name] = (try entry.bool("earn", default: false), try entry.bool("spend", default: false))
            }
            p.statuses = table
        }
        p.defaultStatus = try m.string("default_status", default: "active")
        p.paidBenefits = try m.stringMap("paid_benefits")
        let mall = m.section("mall")
        try mall.rejectUnknownKeys(["cancel_window_hours", "coupon_expiring_days", "stock_low_percent", "stock_alert_recipient"])
        p.cancelWindowMillis = Int64(try mall.int("cancel_window_hours", default: 24, range: 0...8760)) * 3_600_000
        p.couponExpiringNoticeMillis = Int64(try mall.int("coupon_expiring_days", default: 3, range: 0...365)) * 86_400_000
        p.stockLowPercent = try mall.int("stock_low_percent", default: 10, range: 0...100)
        p.stockAlertRecipient = try mall.string("stock_alert_recipient", default: p.stockAlertRecipient)
        if let violation = IdentifierRules.violation(p.stockAlertRecipient) { throw mall.invalid("stock_alert_recipient", "the recipient's user id \(violation)") }
        let checkout = m.section("checkout")
        try checkout.rejectUnknownKeys(["points_per_unit", "max_share", "hold_minutes"])
        p.checkout = CheckoutPolicy(pointsPerUnit: Int64(try checkout.int("points_per_unit", default: 100, range: 1...1_000_000)),
                                    maxShare: try checkout.double("max_share", default: 0.5, range: 0.01...1),
                                    holdMillis: Int64(try checkout.int("hold_minutes", default: 30, range: 1...10_080)) * 60_000)
        guard p.statuses[p.defaultStatus] != nil else { throw m.invalid("default_status", "\(p.defaultStatus) is not among membership.statuses") }

        var levels: [MembershipLevel] = []
        for level in try m.sectionList("levels") {
            try level.rejectUnknownKeys(["name", "threshold", "points_multiplier", "benefits"])
            levels.append(MembershipLevel(name: try level.string("name"), threshold: Int64(try level.int("threshold", range: 0...Int(Int32.max))),
                                          pointsMultiplier: try level.double("points_multiplier", default: 1, range: 0.01...100),
                                          benefits: try level.stringMap("benefits")))
        }
        if !levels.isEmpty {
            guard levels.contains(where: { $0.threshold == 0 }) else { throw m.invalid("levels", "one level must have threshold 0 (where everyone starts)") }
            guard Set(levels.map(\.name)).count == levels.count else { throw m.invalid("levels", "level names must be unique") }
            p.levels = LevelPolicy(levels: levels, graceDays: try m.int("downgrade_grace_days", default: 30, range: 0...3650))
        }

        var rules: [EarningRule] = []
        for rule in try m.sectionList("rules") { rules.append(try Self.rule(rule, levels: Set(p.levels.levels.map(\.name)))) }
        guard Set(rules.map(\.id)).count == rules.count else { throw m.invalid("rules", "rule ids must be unique") }
        p.engine = EarningEngine(rules: rules, pointsCurrency: currency, exchangeRates: rates, currencyDigits: digits)
        policy = p
    }

    /// The keys each rule kind reads, beside the ones every rule has.
    static let keysByKind: [String: Set<String>] = [
        "spending": ["points_per_unit", "minimum_amount", "exclude_skus", "exclude_categories"],
        "fixed": ["points", "skus", "categories"],
        "multiplier": ["factor", "categories"],
        "event": ["event", "points"],
        "streak": ["day", "points"],
        "referral": ["on", "pays", "points"],
        "segment_entry": ["dimension", "value", "points"],
    ]

    static func rule(_ r: ConfigSection, levels: Set<String>) throws(ConfigError) -> EarningRule {
        try r.rejectUnknownKeys(["id", "kind", "points", "points_per_unit", "minimum_amount", "exclude_skus", "exclude_categories", "skus", "categories",
                                 "factor", "event", "day", "on", "pays", "dimension", "value", "active_from", "active_until", "levels", "segments", "caps"])
        let id = try r.string("id")
        func points() throws(ConfigError) -> Int64 { Int64(try r.int("points", range: 1...10_000_000)) }
        // A key of another kind would be read by nobody (a multiplier's `skus`, say, would leave
        // it applying to the whole order): said, not dropped.
        let kindName = try r.string("kind")
        if let ownKeys = Self.keysByKind[kindName] {
            let ownAndCommon = ownKeys.union(["id", "kind", "active_from", "active_until", "levels", "segments", "caps"])
            for key in Self.keysByKind.values.reduce(Set(), { $0.union($1) }).subtracting(ownAndCommon).sorted() where r.section(key).exists {
                let kinds = Self.keysByKind.filter { $0.value.contains(key) }.keys.sorted().joined(separator: ", ")
                throw r.invalid(key, "\(key) belongs to \(kinds) rules, not to a \(kindName) rule")
            }
        }
        let kind: EarningRule.Kind
        switch kindName {
        case "spending":
            kind = .spending(pointsPerUnit: try r.double("points_per_unit", range: 0...10_000), minimumAmount: try r.double("minimum_amount", default: 0, range: 0...1e12),
                             excludedSKUs: Set(try r.stringList("exclude_skus")), excludedCategories: Set(try r.stringList("exclude_categories")))
        case "fixed":
            kind = .fixed(points: try points(), skus: Set(try r.stringList("skus")), categories: Set(try r.stringList("categories")))
        case "multiplier":
            kind = .multiplier(factor: try r.double("factor", range: 1...100), categories: Set(try r.stringList("categories")))
        case "event":
            let name = try r.string("event")
            kind = .event(name == "first_purchase" ? .firstPurchase : .event(EventType(name)), points: try points())
            guard name == "first_purchase" || EventType.builtInSet.contains(EventType(name)) else { throw r.invalid("event", "unknown event type \(name)") }
        case "streak":
            kind = .streak(day: try r.int("day", range: 2...3650), points: try points())
        case "referral":
            let moment = try r.choice("on", default: EarningRule.ReferralMoment.firstPurchase)
            kind = .referral(on: moment, points: try points(), pays: try r.choice("pays", default: EarningRule.Payee.referrer))
        case "segment_entry":
            kind = .segmentEntry(dimension: try r.string("dimension"), value: try r.string("value"), points: try points())
        case let other:
            throw r.invalid("kind", "\(other) is not a rule kind (spending, fixed, multiplier, event, streak, referral, segment_entry)")
        }
        var rule = EarningRule(id: id, kind: kind)
        do {
            rule.activeFromMillis = try r.optionalString("active_from").map { try RFC3339.parse($0) }
            rule.activeUntilMillis = try r.optionalString("active_until").map { try RFC3339.parse($0) }
        } catch let error as RFC3339.ParseError {
            throw r.invalid("active_from", "active_from/active_until must be RFC 3339 date-times: \(error.message)")
        } catch let error as ConfigError {
            throw error
        } catch {
            throw r.invalid("active_from", "\(error)")
        }
        let ruleLevels = try r.stringList("levels")
        for level in ruleLevels where !levels.contains(level) { throw r.invalid("levels", "\(level) is not a configured level") }
        rule.levels = ruleLevels.isEmpty ? nil : Set(ruleLevels)
        let segments = try r.stringList("segments")
        rule.segments = segments.isEmpty ? nil : Set(segments)
        let caps = r.section("caps")
        try caps.rejectUnknownKeys(["day", "week", "month"])
        rule.caps = .init(perDay: try caps.optionalString("day").map { _ throws(ConfigError) in Int64(try caps.int("day", range: 1...Int(Int32.max))) },
                          perWeek: try caps.optionalString("week").map { _ throws(ConfigError) in Int64(try caps.int("week", range: 1...Int(Int32.max))) },
                          perMonth: try caps.optionalString("month").map { _ throws(ConfigError) in Int64(try caps.int("month", range: 1...Int(Int32.max))) })
        return rule
    }
}
