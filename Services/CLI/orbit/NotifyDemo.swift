import Foundation
import OrbitLocalPeers
import Logging
import OrbitContract
import OrbitDemoData
import OrbitKafka
import OrbitNotify
import OrbitRuntime

/// The notification part of `orbit demo`: contacts and preferences as another system would publish
/// them, a campaign to loyal high-value users, and a report of what arrived where: at the local
/// SMTP server, at the local gateway, in the inbox, per trigger, channel, locale and status.
struct NotifyDemo {
    let kafka: KafkaConfiguration
    /// The local SMTP server and gateway the stack delivers to; nil: arrival is not checked there.
    let mail: LocalPeer?
    let gateway: LocalPeer?

    static let groups: [(group: String, topics: [String])] = [
        ("orbit-notify-router", [OrbitTopics.validEvents, OrbitTopics.segmentChanges, OrbitTopics.memberEvents, OrbitTopics.pointsLedger, OrbitTopics.userProfiles,
                                 OrbitTopics.memberAccounts, OrbitTopics.userContacts, OrbitTopics.userPreferences, OrbitTopics.userTags, OrbitTopics.notifyCommands]),
        ("orbit-notify", [OrbitTopics.notifyInputs]),
        ("orbit-notify-delivery", [OrbitTopics.notifications]),
    ]

    /// Until the three stages have worked through everything and their messages stop coming.
    func caughtUp(timeout: TimeInterval) -> Bool {
        waitUntilCaughtUp(kafka: kafka, groups: Self.groups, outputs: [OrbitTopics.notifications, OrbitTopics.notificationDeliveries, OrbitTopics.userInbox], timeout: timeout)
    }

    /// What a CRM would have published before users act (``DemoContacts``).
    func publishContacts(users: [String], now: Int64) throws {
        let producer = try KafkaProducer(configuration: kafka, name: "orbit-demo-contacts", logger: Logger(label: "orbit.demo"))
        defer { producer.close() }
        let batch = DeliveryBatch()
        for record in DemoContacts.records(users: users, now: now) {
            try producer.send(ProducerRecord(topic: record.topic, key: record.key, value: record.value), in: batch)
        }
        try batch.waitForAll()
    }

    func startCampaign() throws -> Campaign {
        var audience = AudienceFilter()
        audience.tags = ["loyal"]
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let campaign = Campaign(id: "demo-loyal-double-points", category: "marketing", channels: [.email, .sms], template: "loyal_winback",
                                startMillis: now, endMillis: now + 86_400_000, audience: audience,
                                experiment: Experiment(id: "campaign:demo-loyal-double-points", variants: [("all", 1)], holdoutPercent: 20,
                                                       conversionEvent: "purchase", conversionWindowMillis: 7 * 86_400_000))
        let producer = try KafkaProducer(configuration: kafka, name: "orbit-demo-campaign", logger: Logger(label: "orbit.demo"))
        defer { producer.close() }
        let batch = DeliveryBatch()
        try producer.send(ProducerRecord(topic: OrbitTopics.notifyCommands, key: campaign.id, value: campaign.startCommand()), in: batch)
        try batch.waitForAll()
        return campaign
    }

    /// Reads what happened and checks it: every notification on the outbox has a final status, and
    /// every one `sent` is at its receiver (mail server, gateway or inbox) under its id.
    func report() throws -> [String] {
        let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.notifications, OrbitTopics.notificationDeliveries, OrbitTopics.userInbox,
                                                            OrbitTopics.experimentOutcomes, OrbitTopics.campaignProgress])
        try reader.readToEnd()
        var outbox: [String: OutboxNotification] = [:]
        for record in reader.records[OrbitTopics.notifications] ?? [] {
            if let n = try? OutboxNotification.decode(record.value ?? []) { outbox[n.id] = n }
        }
        var latest: [String: DeliveryRecord] = [:]
        var table: [String: Int] = [:]
        for d in (reader.records[OrbitTopics.notificationDeliveries] ?? []).compactMap({ $0.value.flatMap(DeliveryRecord.decode) }) {
            latest[d.notificationID] = d
        }
        for d in latest.values {
            let locale = outbox[d.notificationID]?.locale ?? "-"
            table["\(d.trigger)\t\(d.channel.rawValue)\t\(locale)\t\(d.status.rawValue)\(d.reason.map { " \($0)" } ?? "")", default: 0] += 1
        }
        print("== orbit-notify: \(OrbitTopics.notifications), \(OrbitTopics.notificationDeliveries) ==")
        print("  \(outbox.count) notifications on the outbox; latest status of \(latest.count) ids")
        print("  " + "trigger".padding(toLength: 36, withPad: " ", startingAt: 0) + "channel  locale  status                           count")
        for (key, count) in table.sorted(by: { $0.key < $1.key }) {
            let f = key.split(separator: "\t").map(String.init)
            print("  " + f[0].padding(toLength: 36, withPad: " ", startingAt: 0) + f[1].padding(toLength: 9, withPad: " ", startingAt: 0)
                  + f[2].padding(toLength: 8, withPad: " ", startingAt: 0) + f[3].padding(toLength: 33, withPad: " ", startingAt: 0) + String(count))
        }
        let mailed = Set((mail?.received() ?? []).compactMap { $0["notification"] as? String })
        let hooks = Set((gateway?.received() ?? []).compactMap { $0["idempotency_key"] as? String })
        let inbox = Set((reader.records[OrbitTopics.userInbox] ?? []).compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } })
        print("  arrived: \(mailed.count) e-mails at the local SMTP server, \(hooks.count) webhooks at the local gateway, \(inbox.count) in-app messages in \(OrbitTopics.userInbox)")
        print("  " + CampaignSummary(progress: reader.records[OrbitTopics.campaignProgress] ?? []).text())
        for experiment in ExperimentReports.from(outcomes: reader.records[OrbitTopics.experimentOutcomes] ?? [], outbox: reader.records[OrbitTopics.notifications] ?? [],
                                                 deliveries: reader.records[OrbitTopics.notificationDeliveries] ?? []) {
            print(experiment.text(minimumEffect: 0.05).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        print("")
        fflush(nil)

        var problems: [String] = []
        if outbox.isEmpty { problems.append("no notification reached \(OrbitTopics.notifications)") }
        let unresolved = outbox.keys.filter { latest[$0].map { $0.status != .sent && $0.status != .failed } ?? true }
        if !unresolved.isEmpty { problems.append("\(unresolved.count) notifications without a final delivery status, e.g. \(unresolved.sorted()[0])") }
        for (id, n) in outbox where latest[id]?.status == .sent {
            let arrived: Bool
            switch n.channel {
            case .email: arrived = mail == nil || mailed.contains(id)
            case .sms, .push, .wecom: arrived = gateway == nil || hooks.contains(id)
            case .inApp: arrived = inbox.contains("\(n.userID)/\(id)")
            }
            if !arrived { problems.append("\(id) is recorded sent but did not arrive"); break }
        }
        return problems
    }
}
