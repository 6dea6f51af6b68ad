import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitLocalPeers
import OrbitNotify
import OrbitRuntime
import OrbitTestSupport
import XCTest

/// orbit-notify as a real process against the local broker, delivering to a real SMTP server and
/// a real webhook receiver, killed with SIGKILL while it works.
final class NotifyServiceTests: XCTestCase {
    let logger = Logger(label: "test.notify")
    let secret = "service-test-secret"

    func notify(_ broker: LocalBroker, smtp: LocalPeer, webhook: LocalPeer) throws -> ServiceProcess {
        var environment = LocalProfile.environment(bootstrap: broker.bootstrapServers)
        environment["ORBIT__SERVICE__HTTP_PORT"] = "0"
        environment["ORBIT__SERVICE__HTTP_HOST"] = "127.0.0.1"
        environment["ORBIT__NOTIFY__QUIET_HOURS"] = ""  // the wall clock may be at night: no default quiet hours here
        environment["ORBIT__NOTIFY__EVALUATION_INTERVAL_SECONDS"] = "2"
        environment["ORBIT__DELIVERY__EMAIL__PORT"] = "\(smtp.port)"
        environment["ORBIT__DELIVERY__SMS__URL"] = "http://127.0.0.1:\(webhook.port)/sms"
        environment["ORBIT__DELIVERY__BACKOFF_INITIAL_MS"] = "200"
        environment["ORBIT__DELIVERY__RETRY_INTERVAL_MS"] = "200"
        environment["ORBIT_WEBHOOK_SECRET"] = secret
        return try ServiceProcess(executable: "orbit-notify",
                                  arguments: ["--config", ServiceProcess.repositoryRoot.appendingPathComponent("deploy/config/notify.yaml").path],
                                  environment: environment)
    }

    func record(_ topic: String, _ key: String, _ json: String) -> ProducerRecord {
        ProducerRecord(topic: topic, key: Array(key.utf8), value: Array(json.utf8))
    }

    func publish(_ records: [ProducerRecord], to broker: LocalBroker) throws {
        try broker.publish(records, logger: logger)
    }

    /// Inputs of different topics are merged in the order the router reads them: the tests let the
    /// contacts reach the merged stream before the triggers that need them, as a real system's
    /// contacts precede its users' first events.
    func waitUntilRouted(_ topics: [String], _ broker: LocalBroker) throws {
        XCTAssertTrue(try eventually(timeout: 60, interval: 0.2) {
            try consumerLag(bootstrap: broker.bootstrapServers, group: "orbit-notify-router", topics: topics) == 0
                && consumerLag(bootstrap: broker.bootstrapServers, group: "orbit-notify", topics: [OrbitTopics.notifyInputs]) == 0
        }, "contacts routed")
    }

    func signup(_ user: String, _ i: Int) -> ProducerRecord {
        ProducerRecord(topic: OrbitTopics.validEvents, key: Array(user.utf8),
                       value: UserEvent(id: "signup-\(user)", userID: user, type: .signup, timeMillis: 1_795_435_200_000 + Int64(i), properties: JSONObject()).encoded())
    }

    func testTriggersAndACampaignAreDeliveredByMailWebhookAndInbox() throws {
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics(partitions: 4))
        defer { broker.stop() }
        let smtp = try PeerServer.smtp()
        let webhook = try PeerServer.webhook(secret: secret)
        var records: [ProducerRecord] = []
        for i in 0..<20 {
            let user = "n\(i)"
            records.append(record(OrbitTopics.userContacts, user, #"{"name":"User \#(i)","email":"\#(user)@example.com","phone":"+861380000\#(1000 + i)","locale":"\#(i % 2 == 0 ? "en" : "zh-CN")"}"#))
            if i < 10 { records.append(record(OrbitTopics.userPreferences, user, #"{"categories":{"marketing":true}}"#)) }
            if i == 19 { records.append(record(OrbitTopics.userPreferences, user, #"{"channels":{"email":false}}"#)) }
        }
        try publish(records, to: broker)
        // Contacts first (a user's inputs are ordered per partition, not across topics), then triggers.
        var triggers = (0..<20).map { signup("n\($0)", $0) }
        for i in 0..<5 {
            triggers.append(record(OrbitTopics.memberEvents, "n\(i)", #"{"schema_version":1,"id":"n\#(i):exp","user_id":"n\#(i)","kind":"points_expiring","time":"2026-11-23T12:00:00.000Z","points":120,"expires":"2026-12-07T00:00:00.000Z"}"#))
        }
        let campaign = Campaign(id: "all-in", category: "marketing", channels: [.email], template: "loyal_winback", startMillis: 0,
                                endMillis: 4_102_444_800_000, audience: AudienceFilter())
        let service = try notify(broker, smtp: smtp, webhook: webhook)
        _ = try service.httpPort()
        try waitUntilRouted([OrbitTopics.userContacts, OrbitTopics.userPreferences], broker)
        try publish(triggers, to: broker)
        // The campaign after the contacts are known: give the service a moment to read them.
        let deliveries = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.notificationDeliveries])
        XCTAssertTrue(try deliveries.read(timeout: 120) { $0[OrbitTopics.notificationDeliveries]!.count >= 40 })
        try publish([ProducerRecord(topic: OrbitTopics.notifyCommands, key: Array("all-in".utf8), value: campaign.startCommand())], to: broker)

        // welcome: 19 e-mails (n19 opted out of e-mail) + 20 in-app; points_expiring: 5 e-mails + 5 SMS;
        // the campaign: the 10 users who opted in to marketing, by e-mail.
        XCTAssertTrue(try eventually(timeout: 120, interval: 0.5) { smtp.received().count >= 34 && webhook.received().count >= 5 },
                      "mail \(smtp.received().count), webhooks \(webhook.received().count)")
        try deliveries.drain(for: 2)
        let statuses = deliveries.records[OrbitTopics.notificationDeliveries]!.compactMap { DeliveryRecord.decode($0.value!) }
        let sent = Set(statuses.filter { $0.status == .sent }.map(\.notificationID))
        XCTAssertEqual(sent.filter { $0.hasSuffix(":in_app") }.count, 20)
        XCTAssertTrue(statuses.contains { $0.notificationID == "welcome:signup-n19:email" && $0.status == .suppressed && $0.reason == "opted_out" })
        let mail = smtp.received()
        XCTAssertEqual(Set(mail.compactMap { $0["notification"] as? String }).count, 34, "\(mail.compactMap { $0["notification"] as? String }.sorted())")
        XCTAssertTrue(mail.contains { ($0["subject"] as? String) == "欢迎您，User 1" })
        XCTAssertEqual(mail.filter { ($0["trigger"] as? String) == "campaign:all-in" }.count, 10)
        XCTAssertEqual(Set(webhook.received().compactMap { $0["idempotency_key"] as? String }).count, 5)
        XCTAssertEqual(try service.terminate(), 0)
    }

    /// Two orbit-notify instances in one group share the partitions; one is killed with SIGKILL
    /// mid-run and the other takes its partitions over. Every notification still reaches its
    /// receiver, and a repeat carries the same id.
    func testTwoInstancesShareThePartitionsAndTheSurvivorFinishesTheKilledOnesWork() throws {
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics(partitions: 8))
        defer { broker.stop() }
        let smtp = try PeerServer.smtp()
        let webhook = try PeerServer.webhook(secret: secret)
        let users = (0..<6_000).map { "s\($0)" }
        let withEmail = users.filter { Int($0.dropFirst())! % 10 == 0 }
        try publish(withEmail.map { record(OrbitTopics.userContacts, $0, #"{"email":"\#($0)@example.com"}"#) }, to: broker)
        let inbox = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.userInbox])
        func inboxed() throws -> Int {
            try inbox.drain(for: 0.1)
            return Set(inbox.records[OrbitTopics.userInbox]!.map(\.key)).count
        }
        let doomed = try notify(broker, smtp: smtp, webhook: webhook)
        let survivor = try notify(broker, smtp: smtp, webhook: webhook)
        let ports = (try doomed.httpPort(), try survivor.httpPort())
        func inputPartitions(_ port: Int) -> Set<String> {
            Set(HTTPProbe.assignedPartitions(port: port).filter { $0.hasPrefix(OrbitTopics.notifyInputs + "/") })
        }
        XCTAssertTrue(try eventually(timeout: 60, interval: 0.2) {
            let (a, b) = (inputPartitions(ports.0), inputPartitions(ports.1))
            return !a.isEmpty && !b.isEmpty && a.isDisjoint(with: b) && a.count + b.count == 8
        }, "the two instances split the 8 input partitions: \(inputPartitions(ports.0)) and \(inputPartitions(ports.1))")
        try waitUntilRouted([OrbitTopics.userContacts], broker)

        try publish(users[0..<3000].enumerated().map { signup($0.element, $0.offset) }, to: broker)
        XCTAssertTrue(try eventually(timeout: 120, interval: 0.2) { try inboxed() >= 1500 }, "progress before the kill")
        doomed.killHard()
        try publish(users[3000...].enumerated().map { signup($0.element, 3000 + $0.offset) }, to: broker)
        XCTAssertTrue(try eventually(timeout: 60, interval: 0.5) { inputPartitions(ports.1).count == 8 },
                      "the survivor holds every input partition: \(inputPartitions(ports.1))")

        let delivered = try eventually(timeout: 240, interval: 1) {
            try inboxed() >= users.count && Set(smtp.received().compactMap { $0["notification"] as? String }).count >= withEmail.count
        }
        XCTAssertTrue(delivered, "mail \(Set(smtp.received().compactMap { $0["notification"] as? String }).count), inbox \((try? inboxed()) ?? -1)")
        let mail = smtp.received()
        XCTAssertEqual(Set(mail.compactMap { $0["notification"] as? String }), Set(withEmail.map { "welcome:signup-\($0):email" }))
        var messageIDs: [String: Set<String>] = [:]
        for m in mail { messageIDs[m["notification"] as! String, default: []].insert(m["message_id"] as! String) }
        XCTAssertTrue(messageIDs.values.allSatisfy { $0.count == 1 }, "a repeated mail carries the first one's Message-ID")
        // Inbox keys are `user/notification id`: every user has its welcome message.
        let inboxUsers = Set(inbox.records[OrbitTopics.userInbox]!.map { String(decoding: $0.key ?? [], as: UTF8.self).split(separator: "/")[0] })
        XCTAssertEqual(inboxUsers.count, users.count)
        XCTAssertTrue(inboxUsers.isSubset(of: Set(users.map { Substring($0) })))
        print("notify scale-out test: \(mail.count) mails for \(withEmail.count) ids, \(inbox.records[OrbitTopics.userInbox]!.count) inbox records for \(users.count) users")
        XCTAssertEqual(try survivor.terminate(), 0)
    }

    /// 20,000 sign-ups trigger 22,000 notifications (in-app for everyone, e-mail for the 2,000 with
    /// an address) while orbit-notify is killed three times: every notification reaches its receiver
    /// at least once, and repeats carry the same id.
    func testTwentyThousandTriggersThreeKillsNoneLost() throws {
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics(partitions: 8))
        defer { broker.stop() }
        let smtp = try PeerServer.smtp()
        let webhook = try PeerServer.webhook(secret: secret)
        let users = (0..<20_000).map { "k\($0)" }
        let withEmail = users.filter { Int($0.dropFirst())! % 10 == 0 }
        try publish(withEmail.map { record(OrbitTopics.userContacts, $0, #"{"email":"\#($0)@example.com"}"#) }, to: broker)
        let inbox = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.userInbox])
        var service = try notify(broker, smtp: smtp, webhook: webhook)
        _ = try service.httpPort()
        try waitUntilRouted([OrbitTopics.userContacts], broker)
        func inboxed() throws -> Int {
            try inbox.drain(for: 0.1)
            return Set(inbox.records[OrbitTopics.userInbox]!.map(\.key)).count
        }
        for wave in 0..<4 {
            try publish(users[(wave * 5000)..<((wave + 1) * 5000)].enumerated().map { signup($0.element, $0.offset) }, to: broker)
            guard wave < 3 else { break }
            let target = try inboxed() + 3000
            XCTAssertTrue(try eventually(timeout: 120, interval: 0.2) { try inboxed() >= target }, "progress before kill \(wave + 1)")
            service.killHard()
            service = try notify(broker, smtp: smtp, webhook: webhook)
        }
        let delivered = try eventually(timeout: 300, interval: 1) {
            let inboxCount = try inboxed()
            return Set(smtp.received().compactMap { $0["notification"] as? String }).count >= withEmail.count && inboxCount >= users.count
        }
        let inboxCount = try inboxed()
        XCTAssertTrue(delivered, "every notification delivered: mail \(Set(smtp.received().compactMap { $0["notification"] as? String }).count), inbox \(inboxCount)")
        let mail = smtp.received()
        let ids = mail.compactMap { $0["notification"] as? String }
        XCTAssertEqual(Set(ids), Set(withEmail.map { "welcome:signup-\($0):email" }))
        // A repeated send carries the same Message-ID as the first.
        var messageIDs: [String: Set<String>] = [:]
        for m in mail { messageIDs[m["notification"] as! String, default: []].insert(m["message_id"] as! String) }
        XCTAssertTrue(messageIDs.values.allSatisfy { $0.count == 1 })
        // The outbox holds each id, repeats only as identical copies; every id has a `sent` record.
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.notifications, OrbitTopics.notificationDeliveries])
        XCTAssertTrue(try reader.readToEnd(timeout: 120))
        var outbox: [String: [UInt8]] = [:]
        for record in reader.records[OrbitTopics.notifications]! {
            let n = try OutboxNotification.decode(record.value!)
            if let seen = outbox[n.id] { XCTAssertEqual(seen, record.value!, "a repeat is an identical copy") }
            outbox[n.id] = record.value!
        }
        XCTAssertEqual(outbox.count, 22_000)
        let statuses = reader.records[OrbitTopics.notificationDeliveries]!.compactMap { DeliveryRecord.decode($0.value!) }
        let sent = Set(statuses.filter { $0.status == .sent }.map(\.notificationID))
        XCTAssertEqual(sent, Set(outbox.keys))
        // The counts per status add up: each e-mail id without an address is one `no_contact` suppression.
        let suppressed = Set(statuses.filter { $0.status == .suppressed }.map(\.notificationID))
        XCTAssertEqual(suppressed.count, users.count - withEmail.count)
        XCTAssertTrue(suppressed.allSatisfy { $0.hasSuffix(":email") })
        XCTAssertTrue(statuses.filter { $0.status == .failed }.isEmpty)
        print("notify kill test: \(reader.records[OrbitTopics.notifications]!.count) outbox records for \(outbox.count) ids, \(mail.count) mails for \(Set(ids).count) ids, \(statuses.count) delivery records")
        XCTAssertEqual(try service.terminate(), 0)
    }
}
