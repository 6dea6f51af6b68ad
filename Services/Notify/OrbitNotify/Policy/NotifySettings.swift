import Foundation
import OrbitContract
import OrbitRuntime

/// The `topics`, `notify` and `delivery` sections of `notify.yaml`.
public struct NotifySettings: Sendable {
    public var processor = ProcessorSettings(groupID: "orbit-notify")
    public var groupID: String { processor.groupID }
    public var eventsTopic = OrbitTopics.validEvents
    public var segmentChangesTopic = OrbitTopics.segmentChanges
    public var memberEventsTopic = OrbitTopics.memberEvents
    public var ledgerTopic = OrbitTopics.pointsLedger
    public var profilesTopic = OrbitTopics.userProfiles
    public var accountsTopic = OrbitTopics.memberAccounts
    public var contactsTopic = OrbitTopics.userContacts
    public var preferencesTopic = OrbitTopics.userPreferences
    public var tagsTopic = OrbitTopics.userTags
    public var commandsTopic = OrbitTopics.notifyCommands
    public var inputsTopic = OrbitTopics.notifyInputs
    public var notificationsTopic = OrbitTopics.notifications
    public var deliveriesTopic = OrbitTopics.notificationDeliveries
    public var inboxTopic = OrbitTopics.userInbox
    public var outcomesTopic = OrbitTopics.experimentOutcomes
    public var progressTopic = OrbitTopics.campaignProgress
    public var recipientsChangelogTopic = OrbitTopics.notifyRecipientsChangelog
    public var campaignsChangelogTopic = OrbitTopics.notifyCampaignsChangelog
    public var retriesChangelogTopic = OrbitTopics.notifyRetriesChangelog
    public var deadLettersTopic = OrbitTopics.notifyDeadLetters
    public var journeysTopic = OrbitTopics.journeys
    public var journeyProgressTopic = OrbitTopics.journeyProgress
    public var journeysChangelogTopic = OrbitTopics.notifyJourneysChangelog
    /// Where a journey's `grant` steps send their member commands.
    public var memberCommandsTopic = OrbitTopics.memberCommands
    public var policy: NotifyPolicy
    public var delivery: DeliverySettings

    /// Every topic the service names, by its key in the `topics` section.
    public static var topicKeys: [String: WritableKeyPath<NotifySettings, String>] { [
        "events": \.eventsTopic, "segment_changes": \.segmentChangesTopic, "member_events": \.memberEventsTopic, "ledger": \.ledgerTopic,
        "profiles": \.profilesTopic, "accounts": \.accountsTopic, "contacts": \.contactsTopic, "preferences": \.preferencesTopic, "tags": \.tagsTopic,
        "commands": \.commandsTopic, "inputs": \.inputsTopic, "notifications": \.notificationsTopic, "deliveries": \.deliveriesTopic,
        "inbox": \.inboxTopic, "outcomes": \.outcomesTopic, "progress": \.progressTopic, "recipients_changelog": \.recipientsChangelogTopic,
        "campaigns_changelog": \.campaignsChangelogTopic, "retries_changelog": \.retriesChangelogTopic, "dead_letters": \.deadLettersTopic,
        "journeys": \.journeysTopic, "journey_progress": \.journeyProgressTopic, "journeys_changelog": \.journeysChangelogTopic,
        "member_commands": \.memberCommandsTopic,
    ] }

    public init(document: ConfigDocument) throws(ConfigError) {
        let topics = document.section("topics")
        // A misspelt topic is reported before the other sections' errors; the names are read last.
        try topics.rejectUnknownKeys(Set(Self.topicKeys.keys))
        let n = document.section("notify")
        try n.rejectUnknownKeys(Set(ProcessorSettings.keys + ["config_version", "state_days", "categories", "quiet_hours", "default_time_zone", "locales",
                                                             "default_locale", "templates_dir", "triggers"]))
        policy = try NotifyPolicy(section: n, configFile: document.file)
        processor = try ProcessorSettings(section: n, defaultGroupID: "orbit-notify", streamClock: true)
        delivery = try DeliverySettings(section: document.section("delivery"))
        try topics.readStrings(Self.topicKeys, into: &self)
    }

    /// The topics the service reads, by kind of input.
    public var sources: [String: NotifyInput] {
        [eventsTopic: .event, segmentChangesTopic: .segmentChange, memberEventsTopic: .memberEvent, ledgerTopic: .ledgerEntry,
         profilesTopic: .profile, accountsTopic: .account, contactsTopic: .contacts, preferencesTopic: .preferences, tagsTopic: .tags,
         commandsTopic: .campaign, journeysTopic: .journey]
    }
}
