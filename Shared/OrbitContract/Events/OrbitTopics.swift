/// Orbit's Kafka topic names: part of the public message contract (docs/CONTRACT.md).
public enum OrbitTopics {
    /// Input: user events published by other systems. Key: the user id.
    public static let userEvents = "orbit.user-events"
    /// Validated, normalised user events. Key: the user id.
    public static let validEvents = "orbit.user-events.valid"
    /// Rejected input with the reason. Key: the input record's key.
    public static let deadLetters = "orbit.user-events.dlq"
    /// The whole current profile of each user (compacted). Key: the user id.
    public static let userProfiles = "orbit.user-profiles"
    /// One record per change of segment, lifecycle stage, tier or super-user flag. Key: the user id.
    public static let segmentChanges = "orbit.segment-changes"
    /// Scorer internal: credits for referrers, keyed by the referrer (a repartition topic).
    public static let scorerReferralCredits = "orbit-scorer.referral-credits"
    /// Scorer internal: each partition's quantile sketches, shared by every scorer instance.
    public static let scorerSketches = "orbit-scorer.sketches"
    /// Scorer internal: user state, the changelog of the scorer's state store (compacted).
    public static let scorerStateChangelog = "orbit-scorer.user-state-changelog"
    /// Commands to the membership service (redeem, adjust, transfer, bulk grant, paid membership). Key: the user id.
    public static let memberCommands = "orbit.member-commands"
    /// Every points ledger entry. Key: the user id.
    public static let pointsLedger = "orbit.points-ledger"
    /// Each member's account (compacted). Key: the user id.
    public static let memberAccounts = "orbit.member-accounts"
    /// Command results, level changes, expiring-soon notices, paid membership changes. Key: the user id.
    public static let memberEvents = "orbit.member-events"
    /// Membership internal: awards, transfers and grants for other users (a repartition topic).
    public static let membersInternal = "orbit-members.internal"
    /// Membership internal: every input of a member merged into one ordered stream.
    public static let membersInputs = "orbit-members.inputs"
    /// Membership internal: the state store's changelog (compacted).
    public static let membersStateChangelog = "orbit-members.state-changelog"
    /// Operators' segment definitions (compacted, `orbit segments apply`; a tombstone retires one). Key: the segment id.
    public static let segmentDefinitions = "orbit.segment-definitions"
    /// Segment sizes over time: one record per scorer partition and evaluation (time retention). Key: `partition-<n>`.
    public static let segmentCensus = "orbit.segment-census"
    /// Where each service instance answers queries and which input partitions it holds
    /// (compacted; a tombstone when it stops). Key: `<service> <advertised url>`.
    public static let instances = "orbit.instances"
    /// The points mall's reward catalogue (compacted, `orbit rewards apply`). Key: the reward id.
    public static let rewards = "orbit.rewards"
    /// Goods redeemed in the points mall, for the shop's order system. Key: the redemption id.
    public static let rewardFulfilment = "orbit.reward-fulfilment"
    /// The points mall's coupons, each in its latest state: issued, used, expired, voided (compacted). Key: the coupon code.
    public static let coupons = "orbit.coupons"
    /// Membership internal: the ledger's coupon issues, uses, voids and forgets. Key: the coupon code.
    public static let membersCouponRequests = "orbit-members.coupon-requests"
    /// Membership internal: the coupon stage's changelog (compacted). Key: the coupon code.
    public static let membersCouponsChangelog = "orbit-members.coupons-changelog"
    /// Membership internal: the ledger's stock reservations and returns. Key: the reward id.
    public static let membersStockRequests = "orbit-members.stock-requests"
    /// Membership internal: the stock stage's changelog (compacted). Key: the reward id.
    public static let membersStockChangelog = "orbit-members.stock-changelog"
    /// The scorer's dead letters: records of its inputs it could not use, with the reason.
    public static let scorerDeadLetters = "orbit-scorer.dlq"
    /// The membership service's dead letters: records of its inputs it could not use, with the reason.
    public static let membersDeadLetters = "orbit-members.dlq"
    /// Ingestion's deduplication memory (internal): event ids, partitioned like the input.
    public static let ingestDedupChangelog = "orbit-ingest.dedup-changelog"
    /// Input, compacted, published by other systems: each user's e-mail, phone, push token, locale and time zone. Key: the user id; a null value erases them.
    public static let userContacts = "orbit.user-contacts"
    /// Input, compacted, published by other systems: each user's channel and category opt-ins and opt-outs and quiet hours. Key: the user id.
    public static let userPreferences = "orbit.user-preferences"
    /// Input, compacted, published by other systems: each user's declared attributes (gender, region, company size...), the whole set per record. Key: the user id; a null value clears them.
    public static let userAttributes = "orbit.user-attributes"
    /// Input, compacted, published by other systems: each user's tags (for campaign audiences). Key: the user id.
    public static let userTags = "orbit.user-tags"
    /// Campaign commands (`orbit notify campaign start FILE`). Key: the campaign id.
    public static let notifyCommands = "orbit.notify-commands"
    /// The outbox: every rendered notification, with a deterministic id. Key: the user id.
    public static let notifications = "orbit.notifications"
    /// The outcome of every delivery attempt, or why there was none. Key: the user id.
    public static let notificationDeliveries = "orbit.notification-deliveries"
    /// In-app messages: each user's inbox (compacted by notification). Key: `<user id>/<notification id>`.
    public static let userInbox = "orbit.user-inbox"
    /// Experiment assignments and conversions. Key: the user id.
    public static let experimentOutcomes = "orbit.experiment-outcomes"
    /// Each campaign's progress per partition (compacted). Key: `<campaign id>/<partition>`.
    public static let campaignProgress = "orbit.campaign-progress"
    /// The deployed churn models (BG/NBD, Gamma-Gamma) with their fit statistics, and the latest
    /// fit attempt (compacted; `orbit model fit --apply`; every scorer reads it as a global table).
    /// Keys: `churn`, `churn.last-fit`.
    public static let models = "orbit.models"
    /// Journey definitions (compacted; key: journey id), applied by `orbit journeys apply`.
    public static let journeys = "orbit.journeys"
    /// Each journey's funnel per partition (compacted; key `<journey>/<partition>`).
    public static let journeyProgress = "orbit.journey-progress"
    /// orbit-notify's journeys per partition (definitions in use and funnels).
    public static let notifyJourneysChangelog = "orbit-notify.journeys-changelog"
    /// Notification internal: every input of a user merged into one ordered stream.
    public static let notifyInputs = "orbit-notify.inputs"
    /// Notification internal: the recipients store's changelog (compacted).
    public static let notifyRecipientsChangelog = "orbit-notify.recipients-changelog"
    /// Notification internal: each partition's campaigns (compacted).
    public static let notifyCampaignsChangelog = "orbit-notify.campaigns-changelog"
    /// Notification internal: the delivery stage's retry schedule (compacted).
    public static let notifyRetriesChangelog = "orbit-notify.retries-changelog"
    /// The notification service's dead letters.
    public static let notifyDeadLetters = "orbit-notify.dlq"
    /// Data-protection requests (`orbit forget`), keyed by the user id: every service acts on them.
    public static let privacyRequests = "orbit.privacy-requests"
    /// One receipt per service per request, keyed by the request id.
    public static let privacyReceipts = "orbit.privacy-receipts"
}
