import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitNotify
import OrbitRuntime

struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Notifications: preview what a user would get, start and follow campaigns.",
        subcommands: [Preview.self, CampaignCommand.self]
    )

    /// The notification configuration (triggers, categories, templates), validated.
    static func settings(_ path: String) throws -> NotifySettings {
        do {
            return try NotifySettings(document: try ConfigDocument.load(path: path))
        } catch {
            throw CLIError("\(error)")
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render what a user would get from a trigger (or a campaign template) now, from live state.",
            discussion: "Joins the user's latest profile, account, contacts, preferences and tags from their topics; the user's latest record of the trigger's source is the template's `event`. Consent, contact and quiet hours are applied; caps and deduplication live in the service's state and are not."
        )
        @Argument(help: "A trigger id of notify.yaml, or a campaign template.") var trigger: String
        @Option(help: "The user id.") var user: String
        @Option(help: "Only this channel (email, sms, push, in_app).") var channel: String?
        @Option(help: "Render in this locale instead of the user's.") var locale: String?
        @Option(help: "The notification configuration.") var config = "deploy/config/notify.yaml"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let settings = try NotifyCommand.settings(config)
            let policy = settings.policy
            let chosen: Channel? = try channel.map {
                guard let c = Channel(rawValue: $0) else { throw ValidationError("unknown channel \($0) (email, sms, push, in_app)") }
                return c
            }
            if let locale, !policy.templates.locales.contains(locale) { throw ValidationError("no templates for locale \(locale) (\(policy.templates.locales.joined(separator: ", ")))") }
            let source = policy.trigger(named: trigger).map { t -> String in
                switch t.source {
                case .event: settings.eventsTopic
                case .segmentChange: settings.segmentChangesTopic
                case .memberEvent: settings.memberEventsTopic
                case .ledgerEntry: settings.ledgerTopic
                }
            }
            let topics = [settings.profilesTopic, settings.accountsTopic, settings.contactsTopic, settings.preferencesTopic, settings.tagsTopic] + (source.map { [$0] } ?? [])
            let reader = try TopicReader(kafka: try connection.configuration(), topics: Array(Set(topics)))
            try reader.readToEnd()
            let key = Array(user.utf8)
            func latest(_ topic: String, where match: (JSONObject) -> Bool = { _ in true }) -> [UInt8]? {
                reader.records[topic]?.last { $0.key == key && ($0.value.flatMap { try? JSONParser.parse($0).objectValue }.map(match) ?? false) }?.value
            }
            let event = source.flatMap { topic in latest(topic) { policy.trigger(named: trigger)!.matches($0) } ?? latest(topic) }
            let results = try NotificationPreview.preview(policy: policy, template: trigger, userID: user, profile: latest(settings.profilesTopic),
                                                          account: latest(settings.accountsTopic), contacts: latest(settings.contactsTopic),
                                                          preferences: latest(settings.preferencesTopic), tags: latest(settings.tagsTopic), event: event,
                                                          channel: chosen, locale: locale, now: Int64(Date().timeIntervalSince1970 * 1000))
            if event == nil, source != nil { Output.line("(no \(source!) record of \(user): `event` variables are empty)") }
            for result in results {
                Output.line("== \(trigger) · \(result.channel.rawValue) · \(result.locale) · to \(result.to ?? "(no address)") ==")
                Output.line("   now: " + (result.suppression.map { "suppressed: \($0)" } ?? "would be sent"))
                guard let content = result.content else { Output.line("   (no template)"); continue }
                for (part, text) in content.parts { Output.line("-- \(part.rawValue):\n\(text)") }
            }
        }
    }

    struct CampaignCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "campaign", abstract: "Start, cancel and follow campaigns.",
                                                        subcommands: [Start.self, Cancel.self, Status.self])

        struct Start: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Validate a campaign file and publish it to the command topic; every partition sends to its own audience.")
            @Argument(help: "The campaign file (YAML; see README \"Campaigns\").") var file: String
            @Option(help: "The notification configuration.") var config = "deploy/config/notify.yaml"
            @OptionGroup var connection: ConnectionOptions

            func run() async throws {
                let settings = try NotifyCommand.settings(config)
                let campaign: Campaign
                do { campaign = try Campaign.load(path: file, policy: settings.policy, nowMillis: Int64(Date().timeIntervalSince1970 * 1000)) } catch { throw CLIError("\(error)") }
                try NotifyCommand.publish(ProducerRecord(topic: settings.commandsTopic, key: Array(campaign.id.utf8), value: campaign.startCommand()), connection)
                Output.line("campaign \(campaign.id) published to \(settings.commandsTopic): \(campaign.channels.map(\.rawValue).joined(separator: ", ")) from \(RFC3339.format(millis: campaign.startMillis)) to \(RFC3339.format(millis: campaign.endMillis))")
            }
        }

        struct Cancel: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Cancel a campaign that has not run yet in some partitions.")
            @Argument(help: "The campaign id.") var id: String
            @Option(help: "The notification configuration.") var config = "deploy/config/notify.yaml"
            @OptionGroup var connection: ConnectionOptions

            func run() async throws {
                let settings = try NotifyCommand.settings(config)
                try NotifyCommand.publish(ProducerRecord(topic: settings.commandsTopic, key: Array(id.utf8), value: Campaign.cancelCommand(id: id)), connection)
                Output.line("cancel of \(id) published")
            }
        }

        struct Status: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print a campaign's progress, summed over partitions: matched, sent, suppressed by reason, converted.")
            @Argument(help: "The campaign id (all campaigns when omitted).") var id: String?
            @OptionGroup var connection: ConnectionOptions

            func run() async throws {
                let reader = try TopicReader(kafka: try connection.configuration(), topics: [OrbitTopics.campaignProgress])
                try reader.readToEnd()
                Output.line(CampaignSummary(progress: reader.records[OrbitTopics.campaignProgress] ?? []).text(only: id))
            }
        }
    }

    static func publish(_ record: ProducerRecord, _ connection: ConnectionOptions) throws {
        let producer = try KafkaProducer(configuration: try connection.configuration(), name: "orbit-notify-cli", logger: Logger(label: "orbit.notify"))
        defer { producer.close() }
        let batch = DeliveryBatch()
        try producer.send(record, in: batch)
        try batch.waitForAll()
    }
}

/// Campaign progress summed over partitions (the latest record of each).
struct CampaignSummary {
    var campaigns: [String: (state: Set<String>, matched: Int, sent: Int, converted: Int, suppressed: [String: Int])] = [:]

    init(progress: [ConsumerRecord]) {
        var latest: [String: JSONObject] = [:]
        for record in progress {
            guard let key = record.key, let o = try? JSONParser.parse(record.value ?? []).objectValue else { continue }
            latest[String(decoding: key, as: UTF8.self)] = o
        }
        for o in latest.values {
            guard let id = o["campaign"]?.stringValue else { continue }
            var c = campaigns[id] ?? ([], 0, 0, 0, [:])
            c.state.insert(o["state"]?.stringValue ?? "?")
            c.matched += Int(o["matched"]?.numberValue?.int64Value ?? 0)
            c.sent += Int(o["sent"]?.numberValue?.int64Value ?? 0)
            c.converted += Int(o["converted"]?.numberValue?.int64Value ?? 0)
            for m in o["suppressed"]?.objectValue?.members ?? [] { c.suppressed[m.key, default: 0] += Int(m.value.numberValue?.int64Value ?? 0) }
            campaigns[id] = c
        }
    }

    func text(only: String? = nil) -> String {
        let ids = campaigns.keys.sorted().filter { only == nil || $0 == only }
        guard !ids.isEmpty else { return only.map { "no progress recorded for campaign \($0)" } ?? "no campaigns" }
        return ids.map { id in
            let c = campaigns[id]!
            let suppressed = c.suppressed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return "campaign \(id) (\(c.state.sorted().joined(separator: "/"))): matched \(c.matched), sent \(c.sent), suppressed \(suppressed.isEmpty ? "0" : suppressed), converted \(c.converted)"
        }.joined(separator: "\n")
    }
}
