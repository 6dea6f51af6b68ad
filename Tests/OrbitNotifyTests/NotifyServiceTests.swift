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

    func notify(_ broker: LocalBroker, smtp: LocalPeer, webhook: LocalPeer, settings extra: [String: String] = [:]) throws -> ServiceProcess {
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
        environment.merge(extra) { $1 }
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
        try reader.readToEnd(timeout: 120)
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

    /// The consumer groups of the journey kill test, for its diagnostics.
    let journeyGroups: [(String, [String])] = [
        ("orbit-notify-router", [OrbitTopics.validEvents, OrbitTopics.userContacts, OrbitTopics.journeys]),
        ("orbit-notify", [OrbitTopics.notifyInputs]),
        ("orbit-notify-delivery", [OrbitTopics.notifications]),
    ]

    /// A two-step journey for 100,000 users on a stream clock (`notify.clock: stream`: the records'
    /// timestamps move time, so a day passes when a record a day later is read), with orbit-notify
    /// killed (SIGKILL) while the clock tick after the wait moves everyone to the second step:
    /// every user gets each step's message, once or as an identical repeat under the same id.
    ///
    /// 64 partitions and a login entry (no trigger of notify.yaml answers a login): the local
    /// broker keeps at most 5 MiB per partition and drops older records silently, and 200,000
    /// outbox records must all stay readable (the test fails if the service ever reads past a
    /// dropped record).
    func testAJourneyOfOneHundredThousandUsersSurvivesAKillMidStep() throws {
        let userCount = Int(ProcessInfo.processInfo.environment["ORBIT_JOURNEY_KILL_USERS"] ?? "") ?? 100_000
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics(partitions: 64))
        defer { broker.stop() }
        let smtp = try PeerServer.smtp()
        let webhook = try PeerServer.webhook(secret: secret)
        let day: Int64 = 86_400_000
        let start: Int64 = 1_795_435_200_000  // 2026-11-23T12:00:00Z
        let journey = Journey(id: "kill", version: 1, name: "kill test", category: "account", entry: .trigger(.event, [FieldCondition(path: ["type"], values: ["login"])]),
                              steps: [.init(id: "first", .send(template: "journey_onboarding_welcome", channels: [.inApp], category: nil)),
                                      .init(id: "pause", .wait(Journey.Wait(durationMillis: day))),
                                      .init(id: "second", .send(template: "journey_onboarding_tips", channels: [.inApp], category: nil))])
        try publish([ProducerRecord(topic: OrbitTopics.journeys, key: Array("kill".utf8), value: JourneyRecord(journey: journey).encoded(), timestampMillis: start)], to: broker)
        func launch() throws -> ServiceProcess {
            try notify(broker, smtp: smtp, webhook: webhook, settings: ["ORBIT__NOTIFY__CLOCK": "stream", "ORBIT__NOTIFY__EVALUATION_INTERVAL_SECONDS": "1"])
        }
        let inbox = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.userInbox])
        var seen: [String: Set<String>] = [:]  // step -> users whose message reached the inbox
        var scanned = 0
        func count() throws -> (first: Int, second: Int) {
            try inbox.drain(for: 0.1)
            let records = inbox.records[OrbitTopics.userInbox]!
            defer { scanned = records.count }
            for record in records[scanned...] {
                let key = String(decoding: record.key ?? [], as: UTF8.self)  // user/journey:kill:user:1:1:step:in_app
                let parts = key.split(separator: ":")
                guard parts.count == 7, parts[1] == "kill" else { continue }
                seen[String(parts[5]), default: []].insert(String(parts[2]))
            }
            return (seen["first"]?.count ?? 0, seen["second"]?.count ?? 0)
        }
        let began = Date()
        var service = try launch()
        _ = try service.httpPort()
        // A journey applies to entries after it: the definition reaches every partition first.
        try waitUntilRouted([OrbitTopics.journeys], broker)
        let users = (0..<userCount).map { "j\($0)" }
        try publish(users.enumerated().map { i, user in
            ProducerRecord(topic: OrbitTopics.validEvents, key: Array(user.utf8),
                           value: UserEvent(id: "login-\(user)", userID: user, type: .login, timeMillis: start + Int64(i % 1000), properties: JSONObject()).encoded(),
                           timestampMillis: start + Int64(i % 1000))
        }, to: broker)
        XCTAssertTrue(try eventually(timeout: 600, interval: 1) { try count().first >= userCount }, "the first step reached everyone: \((try? count()) ?? (0, 0))")
        let firstDone = Date().timeIntervalSince(began)
        // A day and an hour later: one record moves the stream clock; the next tick ends every wait.
        try publish([record(OrbitTopics.userContacts, "clock", #"{"name":"clock"}"#)].map {
            ProducerRecord(topic: $0.topic, key: $0.key, value: $0.value, timestampMillis: start + day + 3_600_000)
        }, to: broker)
        XCTAssertTrue(try eventually(timeout: 300, interval: 0.2) { try count().second >= userCount / 5 }, "the second step is under way")
        service.killHard()
        let killed = service.output
        let atKill = try count().second
        service = try launch()
        let finished = try eventually(timeout: 300, interval: 1) { try count().second >= userCount }
        if !finished {
            let lag = try journeyGroups.map { group, topics in "\(group) \(try consumerLag(bootstrap: broker.bootstrapServers, group: group, topics: topics))" }
            let progress = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.journeyProgress])
            try progress.readToEnd()
            var perPartition: [String: String] = [:]
            for record in progress.records[OrbitTopics.journeyProgress]! {
                guard let p = JourneyProgress.decode(record.value!) else { continue }
                perPartition[String(decoding: record.key!, as: UTF8.self)] = "entered \(p.funnel.entered) second.sent \(p.funnel.steps["second"]?.sent ?? 0) exited \(p.funnel.exited)"
            }
            print("journey kill test stalled: lag \(lag); progress \(perPartition.sorted { $0.key < $1.key }); service output:\n\(service.output.suffix(40).joined(separator: "\n"))")
        }
        XCTAssertTrue(finished, "the second step reached everyone: \((try? count()) ?? (0, 0))")
        XCTAssertFalse((killed + service.output).contains { $0.contains("Offset out of range") }, "a stage read past records the local broker dropped (5 MiB per partition)")
        XCTAssertEqual(seen["first"], Set(users))
        XCTAssertEqual(seen["second"], Set(users))

        // The outbox: two ids per user, a repeat only as an identical copy.
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.notifications, OrbitTopics.journeyProgress])
        try reader.readToEnd(timeout: 300)
        var outbox: [String: [UInt8]] = [:]
        var repeats = 0
        for record in reader.records[OrbitTopics.notifications]! {
            let n = try OutboxNotification.decode(record.value!)
            guard n.trigger == "journey:kill" else { continue }
            if let earlier = outbox[n.id] { XCTAssertEqual(earlier, record.value!, "a repeat is an identical copy"); repeats += 1 }
            outbox[n.id] = record.value!
        }
        XCTAssertEqual(outbox.count, 2 * userCount)
        var latest: [String: [UInt8]] = [:]
        for record in reader.records[OrbitTopics.journeyProgress]! { latest[String(decoding: record.key!, as: UTF8.self)] = record.value }
        let funnel = try XCTUnwrap(JourneyReport(latest: latest).rows["kill"]?.funnel)
        XCTAssertEqual(funnel.entered, userCount)
        XCTAssertEqual(funnel.exited["completed"], userCount)
        print("journey kill test: \(userCount) users, first step everywhere after \(String(format: "%.1f", firstDone)) s, killed with \(atKill) second-step messages in the inbox, "
              + "\(repeats) repeated outbox records (identical), done after \(String(format: "%.1f", Date().timeIntervalSince(began))) s")
        XCTAssertEqual(try service.terminate(), 0)
    }
}
