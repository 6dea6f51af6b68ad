/// Every membership rule as plain values, read from `membership.yaml` by ``MembershipSettings``.
public struct MembershipPolicy: Sendable {
    public var configVersion = "default"
    public var engine = EarningEngine(rules: [])
    public var levels = LevelPolicy(levels: [MembershipLevel(name: "member", threshold: 0)])
    public var lotExpiry = LotExpiry.afterDays(365)
    public var lockDays = 0
    public var expiringSoonDays = 14
    /// A paid plan that will end (not cancelled, not yet renewed) is announced this many days
    /// before, as a `paid_membership` member event with change `expiring` (0: never).
    public var paidExpiringNoticeDays = 14
    public var allowNegativeBalance = false
    /// How long an order's points stay reversible (refund window), in days.
    public var refundWindowDays = 400
    /// Which statuses may earn and spend. Unknown statuses may do neither.
    public var statuses: [String: (earn: Bool, spend: Bool)] = ["active": (true, true), "blocked": (false, false), "frozen": (true, false)]
    public var defaultStatus = "active"
    /// Benefits of paid membership (data for other systems), on top of the level's.
    public var paidBenefits: [String: String] = [:]
    /// Points as payment at checkout.
    public var checkout = CheckoutPolicy()
    /// How long after a redemption by reward it may be cancelled (`mall.cancel_window_hours`).
    public var cancelWindowMillis: Int64 = 24 * 3_600_000
    /// How long before a coupon expires its owner hears of it (`mall.coupon_expiring_days`; 0: never).
    public var couponExpiringNoticeMillis: Int64 = 3 * 86_400_000
    /// A reward's operators are told when its stock left falls to this share of its stock
    /// (`mall.stock_low_percent`, at least one unit; 0: never).
    public var stockLowPercent = 10
    /// Who they are: the recipient orbit-notify sends `reward_stock_low` to (`mall.stock_alert_recipient`).
    public var stockAlertRecipient = "orbit-operators"

    public init() {}

    public func canEarn(_ status: String) -> Bool { statuses[status]?.earn ?? false }
    public func canSpend(_ status: String) -> Bool { statuses[status]?.spend ?? false }
}
