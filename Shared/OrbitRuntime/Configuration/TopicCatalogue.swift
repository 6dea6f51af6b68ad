import OrbitContract
import OrbitKafka

/// Orbit's topics with their partition counts and configs: what `orbit broker` creates locally and
/// `orbit topics create` creates on a real cluster. A changelog has as many partitions as the
/// input it shadows, because partition N of one is the memory of partition N of the other.
public enum TopicCatalogue {
    public static let defaultPartitions = 8
    public static let dedupRetention = 7 * 24 * 3600 * 1000

    public static func orbitTopics(partitions: Int = defaultPartitions) -> [TopicSpec] {
        [
            TopicSpec(name: OrbitTopics.userEvents, partitions: partitions),
            TopicSpec(name: OrbitTopics.validEvents, partitions: partitions),
            TopicSpec(name: OrbitTopics.deadLetters, partitions: max(1, partitions / 4)),
            TopicSpec(name: OrbitTopics.userProfiles, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.segmentChanges, partitions: partitions),
            TopicSpec(name: OrbitTopics.scorerReferralCredits, partitions: partitions),
            TopicSpec(name: OrbitTopics.scorerSketches, partitions: 1, configs: ["cleanup.policy": "compact"]),
            // Operators' segments: a small table every scorer reads whole; sizes over time (90 days).
            TopicSpec(name: OrbitTopics.segmentDefinitions, partitions: 1, configs: ["cleanup.policy": "compact"]),
            // The churn models a refit deployed: one small record every scorer reads whole.
            TopicSpec(name: OrbitTopics.models, partitions: 1, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.segmentCensus, partitions: 1, configs: ["cleanup.policy": "delete", "retention.ms": String(90 * 24 * 3600 * 1000)]),
            TopicSpec(name: OrbitTopics.scorerStateChangelog, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.scorerDeadLetters, partitions: max(1, partitions / 4)),
            TopicSpec(name: OrbitTopics.memberCommands, partitions: partitions),
            TopicSpec(name: OrbitTopics.pointsLedger, partitions: partitions),
            TopicSpec(name: OrbitTopics.memberAccounts, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.memberEvents, partitions: partitions),
            TopicSpec(name: OrbitTopics.membersInternal, partitions: partitions),
            TopicSpec(name: OrbitTopics.membersInputs, partitions: partitions),
            TopicSpec(name: OrbitTopics.membersDeadLetters, partitions: max(1, partitions / 4)),
            TopicSpec(name: OrbitTopics.membersStateChangelog, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            // The points mall: a small catalogue every instance reads whole, stock decided per reward.
            TopicSpec(name: OrbitTopics.rewards, partitions: 1, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.membersStockRequests, partitions: partitions),
            TopicSpec(name: OrbitTopics.rewardFulfilment, partitions: partitions),
            TopicSpec(name: OrbitTopics.membersStockChangelog, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            // Coupons: decided per code, each in its latest state on a compacted topic.
            TopicSpec(name: OrbitTopics.coupons, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.membersCouponRequests, partitions: partitions),
            TopicSpec(name: OrbitTopics.membersCouponsChangelog, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            // Notification: inputs other systems publish, the outbox, outcomes, internal topics.
            TopicSpec(name: OrbitTopics.userContacts, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.userPreferences, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.userTags, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.userAttributes, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.notifyCommands, partitions: 1),
            TopicSpec(name: OrbitTopics.notifications, partitions: partitions),
            TopicSpec(name: OrbitTopics.notificationDeliveries, partitions: partitions),
            TopicSpec(name: OrbitTopics.userInbox, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.experimentOutcomes, partitions: partitions),
            TopicSpec(name: OrbitTopics.campaignProgress, partitions: 1, configs: ["cleanup.policy": "compact"]),
            // Journeys: a small table of definitions (copied to every partition by the router), funnels per partition.
            TopicSpec(name: OrbitTopics.journeys, partitions: 1, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.journeyProgress, partitions: 1, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.notifyJourneysChangelog, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.notifyInputs, partitions: partitions),
            TopicSpec(name: OrbitTopics.notifyRecipientsChangelog, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.notifyCampaignsChangelog, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.notifyRetriesChangelog, partitions: partitions, configs: ["cleanup.policy": "compact"]),
            TopicSpec(name: OrbitTopics.notifyDeadLetters, partitions: max(1, partitions / 4)),
            // Queries: where each instance answers, read whole by every instance.
            TopicSpec(name: OrbitTopics.instances, partitions: 1, configs: ["cleanup.policy": "compact"]),
            // Privacy: requests keyed by user (placed like every user-keyed input), receipts by request.
            TopicSpec(name: OrbitTopics.privacyRequests, partitions: partitions),
            TopicSpec(name: OrbitTopics.privacyReceipts, partitions: max(1, partitions / 4)),
            // One record per batch (see DedupChangelog); time retention expires ids with the window.
            TopicSpec(name: OrbitTopics.ingestDedupChangelog, partitions: partitions, configs: [
                "cleanup.policy": "delete",
                "retention.ms": String(dedupRetention),
            ]),
        ]
    }
}
