/// The kind of a user event. The built-in kinds have typed properties; deployments may declare
/// further kinds in configuration, whose properties are passed through as given.
public struct EventType: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }

    public static let signup = EventType("signup")
    public static let login = EventType("login")
    public static let purchase = EventType("purchase")
    public static let refund = EventType("refund")
    public static let referral = EventType("referral")
    public static let checkIn = EventType("check_in")
    public static let post = EventType("post")
    public static let comment = EventType("comment")
    public static let like = EventType("like")
    public static let share = EventType("share")
    public static let subscriptionStarted = EventType("subscription_started")
    public static let subscriptionRenewed = EventType("subscription_renewed")
    public static let subscriptionCancelled = EventType("subscription_cancelled")
    public static let paymentOverdue = EventType("payment_overdue")
    public static let complaint = EventType("complaint")
    /// The shop took a points-mall coupon on an order (`code`, `order_id`).
    public static let couponUsed = EventType("coupon_used")

    public static let builtIn: [EventType] = [
        .signup, .login, .purchase, .refund, .referral, .checkIn, .post, .comment, .like, .share,
        .subscriptionStarted, .subscriptionRenewed, .subscriptionCancelled, .paymentOverdue, .complaint,
        .couponUsed,
    ]

    public static let builtInSet = Set(builtIn)

    /// Community activity: the kinds scored as engagement.
    public static let community: Set<EventType> = [.post, .comment, .like, .share]
    public static let subscription: Set<EventType> = [.subscriptionStarted, .subscriptionRenewed, .subscriptionCancelled]
}
