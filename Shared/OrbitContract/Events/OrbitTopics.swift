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
    /// The scorer's dead letters: records of its inputs it could not use, with the reason.
    public static let scorerDeadLetters = "orbit-scorer.dlq"
    /// The membership service's dead letters: records of its inputs it could not use, with the reason.
    public static let membersDeadLetters = "orbit-members.dlq"
    /// Ingestion's deduplication memory (internal): event ids, partitioned like the input.
    public static let ingestDedupChangelog = "orbit-ingest.dedup-changelog"
}
