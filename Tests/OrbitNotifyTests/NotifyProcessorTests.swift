import OrbitContract
import OrbitKafka
import OrbitNotify
import OrbitRuntime
import OrbitTestSupport
import OrbitTestKit
import XCTest

/// The shipped `deploy/config/notify.yaml`, its templates, and a processor under the test driver.
enum NotifyFixture {
    static func settings(_ overrides: [String: String] = [:]) throws -> NotifySettings {
        let path = ServiceProcess.repositoryRoot.appendingPathComponent("deploy/config/notify.yaml").path
        return try NotifySettings(document: try ConfigDocument.load(path: path, environment: overrides))
    }

    /// 2026-11-23T12:00:00Z: outside the default quiet hours (22:00-08:00 UTC).
    static let noon: Int64 = 1_795_435_200_000
    static let hour: Int64 = 3_600_000
}

/// Notify settings that were once parsed and then ignored now fail, naming the field.
final class NotifyConfigurationTests: XCTestCase {
    func testACapOnACategoryThatIsNeverCappedIsAnError() {
        XCTAssertThrowsError(try NotifyFixture.settings(["ORBIT__NOTIFY__CATEGORIES__LOYALTY__PER_DAY": "5"])) { error in
            XCTAssertEqual((error as? ConfigError)?.field, "notify.categories.loyalty.per_day")
        }
    }

    func testADigestTriggerTakesNoDeduplication() throws {
        let path = ServiceProcess.repositoryRoot.appendingPathComponent("deploy/config/notify.yaml").path
        let shipped = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(shipped.contains("      digest_minutes: 1440\n"))
        let yaml = shipped.replacingOccurrences(of: "      digest_minutes: 1440\n", with: "      digest_minutes: 1440\n      dedup_hours: 24\n")
        XCTAssertThrowsError(try NotifySettings(document: ConfigDocument(yaml: yaml, file: path, environment: [:]))) { error in
            XCTAssertEqual((error as? ConfigError)?.field.hasSuffix(".dedup_hours"), true, "\(error)")
        }
    }
}

final class NotifyProcessorTests: XCTestCase {
    var settings: NotifySettings!
    var processor: NotifyProcessor!
    var driver: ProcessorTestDriver!

    override func setUpWithError() throws {
        settings = try NotifyFixture.settings()
        let settings = settings!
        let ticks = StageProcessor.Ticks(topic: settings.inputsTopic, deadLetters: DeadLetters(topic: settings.deadLettersTopic, service: "orbit-notify"))
        driver = ProcessorTestDriver(nowMillis: NotifyFixture.noon, ticks: ticks) { stores in
            NotifyProcessor(settings: settings, deadLetters: DeadLetters(topic: settings.deadLettersTopic, service: "orbit-notify"), stores: stores)
        }
        processor = driver.processor(as: NotifyProcessor.self)
    }

    // MARK: Helpers

    @discardableResult
    func pipe(_ kind: NotifyInput, user: String, _ json: String?, at time: Int64 = NotifyFixture.noon, partition: Int32 = 0) throws -> [ProducerRecord] {
        try driver.pipe(driver.record(topic: settings.inputsTopic, partition: partition, key: user, value: json.map { Array($0.utf8) },
                                      headers: [KafkaHeader(InputRouter<NotifyInput>.kindHeader, kind.rawValue)], timestampMillis: time))
    }

    /// The runtime's clock tick for `partition` (``ClockTick``).
    func tick(at time: Int64, partition: Int32 = 0) throws -> [ProducerRecord] {
        let tick = ClockTick.record(topic: settings.inputsTopic, partition: partition, at: time)
        return try driver.pipe(driver.record(topic: tick.topic, partition: partition, key: "tick", value: tick.value, headers: tick.headers, timestampMillis: time))
    }

    /// A reachable user: contacts in `locale`, opted in to the marketing categories.
    func reachable(_ user: String, name: String = "Ada", locale: String = "en", timeZone: String = "UTC") throws {
        try pipe(.contacts, user: user, #"{"name":"\#(name)","email":"\#(user)@example.com","phone":"+8613800000000","push_token":"tok-\#(user)","locale":"\#(locale)","time_zone":"\#(timeZone)"}"#)
        try pipe(.preferences, user: user, #"{"categories":{"lifecycle":true,"marketing":true}}"#)
    }

    func segmentChange(_ user: String, _ dimension: String, to: String, id: String? = nil, at time: Int64 = NotifyFixture.noon) throws -> [ProducerRecord] {
        try pipe(.segmentChange, user: user, #"{"schema_version":1,"id":"\#(id ?? "\(user):\(dimension):\(to):1")","user_id":"\#(user)","dimension":"\#(dimension)","from":null,"to":"\#(to)","reason":"r","on":"2026-11-23"}"#, at: time)
    }

    func outbox(_ records: [ProducerRecord]) throws -> [OutboxNotification] {
        try records.filter { $0.topic == settings.notificationsTopic }.map { try OutboxNotification.decode($0.value!) }
    }

    func deliveries(_ records: [ProducerRecord]) -> [DeliveryRecord] {
        records.filter { $0.topic == settings.deliveriesTopic }.compactMap { DeliveryRecord.decode($0.value!) }
    }

    /// A user the win-back experiment assigns to `group` (holdout or a variant).
    func user(in group: (String) -> Bool) -> String {
        let experiment = settings.policy.trigger(named: "win_back")!.experiment!
        return (0..<10_000).map { "u\($0)" }.first { group(experiment.assign(userID: $0)) }!
    }

    // MARK: Triggers

    func testAtRiskSendsTheWinBackOfferOnEachChannelWithAStableID() throws {
        let u = user { $0 == "discount" }
        try reachable(u)
        let out = try segmentChange(u, "lifecycle", to: "at_risk")
        let sent = try outbox(out)
        XCTAssertEqual(sent.map(\.channel), [.email, .push])
        XCTAssertEqual(sent[0].id, "win_back:\(u):lifecycle:at_risk:1:email")
        XCTAssertEqual(sent[0].variant, "discount")
        XCTAssertEqual(sent[0].content[.subject], "Ada, 20% off to welcome you back")
        XCTAssertEqual(sent[0].to, "\(u)@example.com")
        // The experiment enrolment is an outcome record.
        XCTAssertEqual(out.filter { $0.topic == settings.outcomesTopic }.count, 1)
    }

    func testHoldoutGetsNothingAndIsRecorded() throws {
        let u = user { $0 == Experiment.holdout }
        try reachable(u)
        let out = try segmentChange(u, "lifecycle", to: "at_risk")
        XCTAssertTrue(try outbox(out).isEmpty)
        XCTAssertEqual(deliveries(out).map(\.reason), ["holdout", "holdout"])
    }

    func testMarketingWithoutOptInAndChannelOptOutAreSuppressed() throws {
        let u = user { $0 == "reminder" }
        try pipe(.contacts, user: u, #"{"email":"a@example.com"}"#)
        var out = try segmentChange(u, "lifecycle", to: "at_risk")
        XCTAssertEqual(Set(deliveries(out).map { $0.reason }), ["opted_out"], "lifecycle is marketing: it needs an opt-in")
        // Transactional messages go out unless the channel was opted out of.
        try pipe(.preferences, user: u, #"{"channels":{"in_app":false}}"#)
        out = try pipe(.event, user: u, #"{"schema_version":1,"id":"e1","user_id":"\#(u)","type":"signup","time":"2026-11-23T12:00:00.000Z","properties":{}}"#)
        XCTAssertEqual(try outbox(out).map(\.channel), [.email])
        XCTAssertEqual(deliveries(out).map { "\($0.channel.rawValue):\($0.reason ?? "")" }, ["in_app:opted_out"])
    }

    func testMissingContactIsASuppressionNotAnError() throws {
        let out = try pipe(.event, user: "nobody", #"{"schema_version":1,"id":"e1","user_id":"nobody","type":"signup","time":"2026-11-23T12:00:00.000Z"}"#)
        XCTAssertEqual(try outbox(out).map(\.channel), [.inApp], "in-app needs no contact")
        XCTAssertEqual(deliveries(out).map { "\($0.channel.rawValue):\($0.reason ?? "")" }, ["email:no_contact"])
    }

    func testQuietHoursDeferTheMessageToTheirEndInTheUsersTimeZone() throws {
        let u = user { $0 == "reminder" }
        // 23:30 in Shanghai is 15:30 UTC.
        try reachable(u, timeZone: "Asia/Shanghai")
        let at = NotifyFixture.noon + 3 * NotifyFixture.hour + 30 * 60_000
        let out = try segmentChange(u, "lifecycle", to: "at_risk", at: at)
        XCTAssertTrue(try outbox(out).isEmpty)
        XCTAssertEqual(deliveries(out).map(\.reason), ["quiet_hours_deferred", "quiet_hours_deferred"])
        XCTAssertEqual(deliveries(out).first?.detail, "until 2026-11-24T00:00:00.000Z", "08:00 in Shanghai")
        XCTAssertTrue(try outbox(tick(at: at + NotifyFixture.hour)).isEmpty, "still quiet")
        let released = try outbox(tick(at: NotifyFixture.noon + 12 * NotifyFixture.hour))
        XCTAssertEqual(released.map(\.id), ["win_back:\(u):lifecycle:at_risk:1:email", "win_back:\(u):lifecycle:at_risk:1:push"])
        XCTAssertTrue(try outbox(tick(at: NotifyFixture.noon + 13 * NotifyFixture.hour)).isEmpty, "released once")
    }

    func testDailyCapPerCategoryAndDedupPerTrigger() throws {
        let u = user { $0 == "reminder" }
        try reachable(u)
        XCTAssertEqual(try outbox(segmentChange(u, "lifecycle", to: "at_risk")).count, 2)
        // The same trigger again within its window: a duplicate.
        XCTAssertEqual(deliveries(try segmentChange(u, "lifecycle", to: "at_risk", id: "again")).map(\.reason), ["duplicate", "duplicate"])
        // Another lifecycle message the same day: lifecycle allows 1 per day.
        XCTAssertEqual(deliveries(try segmentChange(u, "lifecycle", to: "churned", at: NotifyFixture.noon + NotifyFixture.hour)).map(\.reason), ["capped"])
        // The next day it passes.
        XCTAssertEqual(try outbox(segmentChange(u, "lifecycle", to: "churned", id: "c2", at: NotifyFixture.noon + 24 * NotifyFixture.hour)).count, 1)
    }

    func testDigestJoinsEarningsIntoOneMessage() throws {
        try reachable("d1")
        for (index, points) in [100, 80, 60].enumerated() {
            let out = try pipe(.ledgerEntry, user: "d1", #"{"schema_version":1,"key":"k\#(index)","user_id":"d1","kind":"earn","points":\#(points),"balance_after":0,"rule":"spend","reason":"r","time":"2026-11-23T12:00:00.000Z","shortfall":0}"#,
                               at: NotifyFixture.noon + Int64(index) * 60_000)
            XCTAssertEqual(deliveries(out).map(\.reason), ["digested"])
        }
        XCTAssertTrue(try outbox(tick(at: NotifyFixture.noon + 2 * NotifyFixture.hour)).isEmpty, "window still open")
        let digest = try outbox(tick(at: NotifyFixture.noon + 24 * NotifyFixture.hour))
        XCTAssertEqual(digest.count, 1)
        XCTAssertEqual(digest[0].content[.body], "You earned points 3 times today, 240 points in all.")
    }

    func testFirstPurchaseOnlyOnce() throws {
        try reachable("p1")
        func purchase(_ id: String) throws -> [OutboxNotification] {
            try outbox(pipe(.event, user: "p1", #"{"schema_version":1,"id":"\#(id)","user_id":"p1","type":"purchase","time":"2026-11-23T12:00:00.000Z","properties":{"amount_minor":100,"currency":"USD","order_id":"\#(id)"}}"#))
        }
        XCTAssertEqual(try purchase("o1").map(\.trigger), ["first_purchase_thanks"])
        XCTAssertEqual(try purchase("o2").map(\.trigger), [])
    }

    func testReplayedRecordChangesNothing() throws {
        try reachable("r1")
        let record = driver.record(topic: settings.inputsTopic, key: "r1",
                                   value: Array(#"{"schema_version":1,"id":"e1","user_id":"r1","type":"signup","time":"2026-11-23T12:00:00.000Z"}"#.utf8),
                                   headers: [KafkaHeader(InputRouter<NotifyInput>.kindHeader, "event")], timestampMillis: NotifyFixture.noon)
        XCTAssertEqual(try outbox(driver.pipe(record)).count, 2)
        XCTAssertTrue(try driver.pipe(record).isEmpty)
    }

    func testHostileVariablesAreEscapedInHTMLAndCannotAddHeaders() throws {
        try reachable("h1", name: "<script>alert(1)</script>\r\nBcc: x@evil.example")
        // Contacts with control characters are refused outright (dead letter, contacts unchanged).
        let rejected = try pipe(.contacts, user: "h2", #"{"name":"a\r\nBcc: x@evil.example","email":"h2@example.com"}"#)
        XCTAssertEqual(rejected.map(\.topic), [settings.deadLettersTopic])
        // A name that passed (JSON escapes decoded to CR LF are control characters, so use the HTML case).
        try pipe(.contacts, user: "h3", #"{"name":"<script>alert(1)</script>","email":"h3@example.com"}"#)
        let mail = try outbox(pipe(.event, user: "h3", #"{"schema_version":1,"id":"e","user_id":"h3","type":"signup","time":"2026-11-23T12:00:00.000Z"}"#))[0]
        XCTAssertFalse(mail.content[.html]!.contains("<script>"))
        XCTAssertTrue(mail.content[.html]!.contains("&lt;script&gt;"))
        XCTAssertEqual(mail.content[.subject], "Welcome, <script>alert(1)</script>", "the subject is text, not HTML")
    }

    func testChineseLocale() throws {
        try reachable("z1", name: "小明", locale: "zh-CN")
        let mail = try outbox(pipe(.event, user: "z1", #"{"schema_version":1,"id":"e","user_id":"z1","type":"signup","time":"2026-11-23T12:00:00.000Z"}"#))[0]
        XCTAssertEqual(mail.locale, "zh-CN")
        XCTAssertEqual(mail.content[.subject], "欢迎您，小明")
    }

    // MARK: Campaigns

    func testCampaignReachesItsAudienceInThePartitionAndReportsProgress() throws {
        for (user, tier) in [("c1", "S"), ("c2", "A"), ("c3", "S")] {
            try reachable(user)
            try pipe(.profile, user: user, #"{"schema_version":1,"user_id":"\#(user)","segment":"important_keep","lifecycle":{"stage":"at_risk"},"tier":"\#(tier)","super_user":false,"rfm":{"monetary_minor":50000,"score":"255"},"last_event_time":"2026-09-01T00:00:00.000Z"}"#)
        }
        try pipe(.tags, user: "c3", #"{"tags":["loyal"]}"#)
        var audience = AudienceFilter()
        audience.tiers = ["S"]
        audience.inactiveDaysAtLeast = 30
        let campaign = Campaign(id: "cmp1", category: "marketing", channels: [.email, .sms], template: "loyal_winback",
                                startMillis: NotifyFixture.noon, endMillis: NotifyFixture.noon + 24 * NotifyFixture.hour, audience: audience)
        let out = try pipe(.campaign, user: "cmp1", String(decoding: campaign.startCommand(), as: UTF8.self))
        XCTAssertEqual(Set(try outbox(out).map { "\($0.userID):\($0.channel.rawValue)" }), ["c1:email", "c1:sms", "c3:email", "c3:sms"])
        let progress = try driver.endBatch().outputs.filter { $0.topic == settings.progressTopic }
        let report = try XCTUnwrap(JSONParser.parse(progress[0].value!).objectValue)
        XCTAssertEqual(report["matched"]?.numberValue?.int64Value, 2)
        XCTAssertEqual(report["sent"]?.numberValue?.int64Value, 4)
        // A repeated start changes nothing: each user gets a campaign once.
        XCTAssertTrue(try outbox(pipe(.campaign, user: "cmp1", String(decoding: campaign.startCommand(), as: UTF8.self))).isEmpty)
        // A purchase within the window converts.
        try pipe(.event, user: "c1", #"{"schema_version":1,"id":"buy","user_id":"c1","type":"purchase","time":"2026-11-23T13:00:00.000Z","properties":{"amount_minor":100,"currency":"USD"}}"#)
        let after = try driver.endBatch().outputs.filter { $0.topic == settings.progressTopic }
        XCTAssertEqual(try JSONParser.parse(after[0].value!).objectValue?["converted"]?.numberValue?.int64Value, 1)
    }

    func testScheduledCampaignRunsOnTheFirstTickAfterItsStart() throws {
        try reachable("s1")
        let campaign = Campaign(id: "later", category: "marketing", channels: [.inApp], template: "loyal_winback",
                                startMillis: NotifyFixture.noon + NotifyFixture.hour, endMillis: NotifyFixture.noon + 5 * NotifyFixture.hour, audience: AudienceFilter())
        XCTAssertTrue(try outbox(pipe(.campaign, user: "later", String(decoding: campaign.startCommand(), as: UTF8.self))).isEmpty)
        XCTAssertTrue(try outbox(tick(at: NotifyFixture.noon + 30 * 60_000)).isEmpty)
        XCTAssertEqual(try outbox(tick(at: NotifyFixture.noon + 2 * NotifyFixture.hour)).map(\.userID), ["s1"])
        XCTAssertTrue(try outbox(tick(at: NotifyFixture.noon + 3 * NotifyFixture.hour)).isEmpty)
    }

    // MARK: State

    func testRecipientStateSurvivesItsChangelogBytes() throws {
        let u = user { $0 == "reminder" }
        try reachable(u, timeZone: "Asia/Shanghai")
        _ = try segmentChange(u, "lifecycle", to: "at_risk", at: NotifyFixture.noon + 4 * NotifyFixture.hour)
        try pipe(.ledgerEntry, user: u, #"{"key":"k","user_id":"\#(u)","kind":"earn","points":5}"#)
        let state = try XCTUnwrap(processor.recipients.get(0, u))
        XCTAssertFalse(state.deferred.isEmpty)
        XCTAssertFalse(state.digests.isEmpty)
        XCTAssertEqual(try Recipient(stateBytes: state.stateBytes()), state)
        XCTAssertThrowsError(try Recipient(stateBytes: Array(#"{"v":99}"#.utf8)))
    }
}
