/// The words of notification rules: channels, categories, priorities. Kinds are enums; their raw
/// values are what `notify.yaml` and the topics write.

/// Where a message goes. SMS and push reach their gateways through the webhook sender; WeCom
/// (enterprise WeChat) private messages through their own webhook (its own payload, signature and
/// rate limit); in-app messages are records of the user's inbox topic.
public enum Channel: String, CaseIterable, Sendable, Comparable {
    case email, sms, push
    case inApp = "in_app"
    /// A WeCom (enterprise WeChat) private message to the user's WeCom id (`wecom_id` in contacts).
    case wecom

    public static func < (lhs: Channel, rhs: Channel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// How a category is treated by consent and policies.
public enum CategoryKind: String, CaseIterable, Sendable {
    /// Needs the user's opt-in to the category; capped; waits for quiet hours to end.
    case marketing
    /// Sent unless the user opted out of the channel; capped; waits for quiet hours to end.
    case transactional
    /// Sent unless the user opted out of the channel; bypasses caps and quiet hours.
    case critical
}

/// A message category (`marketing`, `lifecycle`, `account`, ...), with its frequency caps.
public struct MessageCategory: Sendable, Equatable {
    public var name: String
    public var kind: CategoryKind
    /// At most this many messages of the category per user per calendar day (user's time zone); nil: no cap.
    public var perDay: Int?
    /// At most this many per rolling 7 days; nil: no cap.
    public var perWeek: Int?

    public init(name: String, kind: CategoryKind, perDay: Int? = nil, perWeek: Int? = nil) {
        self.name = name
        self.kind = kind
        self.perDay = perDay
        self.perWeek = perWeek
    }

    /// Critical and transactional messages bypass caps; critical ones bypass quiet hours too.
    public var bypassesCaps: Bool { kind != .marketing }
    public var bypassesQuietHours: Bool { kind == .critical }
}

/// Why a message was not sent (now). The raw values are the `reason` of a `suppressed` delivery
/// record on `orbit.notification-deliveries` (docs/CONTRACT.md).
public enum SuppressionReason: String, CaseIterable, Sendable {
    case optedOut = "opted_out"
    case quietHoursDeferred = "quiet_hours_deferred"
    case capped
    case duplicate
    case noContact = "no_contact"
    case holdout
    case outsideWindow = "outside_window"
    case digested
    /// The user withdrew consent to marketing (`consents.marketing: false`).
    case noConsent = "no_consent"
    /// A journey's message waiting for quiet hours when the user left the journey (converted, say).
    case journeyEnded = "journey_ended"
}
