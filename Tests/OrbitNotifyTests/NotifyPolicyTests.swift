import Foundation
import OrbitContract
import OrbitNotify
import OrbitRuntime
import XCTest

/// The policies, each with a fake clock: pure functions over a recipient and a time.
final class NotifyPolicyTests: XCTestCase {
    let noon = NotifyFixture.noon
    let hour = NotifyFixture.hour
    let policy = DeliveryPolicy(categories: [
        "promo": MessageCategory(name: "promo", kind: .marketing, perDay: 2, perWeek: 3),
        "account": MessageCategory(name: "account", kind: .transactional),
        "security": MessageCategory(name: "security", kind: .critical),
    ], defaultQuietHours: QuietHours("22:00-08:00"), defaultTimeZone: "UTC")

    func recipient(_ zone: String = "UTC") -> Recipient {
        var r = Recipient()
        r.contacts.email = "a@example.com"
        r.contacts.timeZone = zone
        r.preferences.categories["promo"] = true
        return r
    }

    func testQuietHoursCrossingMidnight() {
        let quiet = QuietHours("22:00-08:00")!
        XCTAssertTrue(quiet.contains(minuteOfDay: 23 * 60))
        XCTAssertTrue(quiet.contains(minuteOfDay: 7 * 60 + 59))
        XCTAssertFalse(quiet.contains(minuteOfDay: 8 * 60))
        XCTAssertEqual(quiet.minutesUntilEnd(from: 23 * 60), 9 * 60)
        XCTAssertNil(QuietHours("25:00-08:00"))
        XCTAssertNil(QuietHours("08:00-08:00"))
        XCTAssertEqual(QuietHours("9:00-10:00"), nil, "two-digit hours")
    }

    func testQuietHoursDeferMarketingAndTransactionalButNotCritical() {
        let night = noon + 11 * hour  // 23:00 UTC
        let r = recipient()
        XCTAssertEqual(policy.firing(category: policy.categories["promo"]!, recipient: r, at: night), .deferUntil(noon + 20 * hour))
        XCTAssertEqual(policy.firing(category: policy.categories["account"]!, recipient: r, at: night), .deferUntil(noon + 20 * hour))
        XCTAssertEqual(policy.firing(category: policy.categories["security"]!, recipient: r, at: night), .sendNow)
        // The same instant is afternoon in Los Angeles.
        XCTAssertEqual(policy.firing(category: policy.categories["promo"]!, recipient: recipient("America/Los_Angeles"), at: night), .sendNow)
        // A user's own quiet hours win over the default.
        var own = recipient()
        own.preferences.quietHours = QuietHours("12:00-13:00")
        XCTAssertEqual(policy.firing(category: policy.categories["promo"]!, recipient: own, at: night), .sendNow)
        XCTAssertEqual(policy.firing(category: policy.categories["promo"]!, recipient: own, at: noon + 30 * 60_000), .deferUntil(noon + hour))
    }

    func testCapsPerLocalDayAndPerWeekBypassedByTransactional() {
        var r = recipient("Asia/Shanghai")
        let promo = policy.categories["promo"]!
        // Two today (Shanghai day), the third is capped.
        r.sent = [.init(category: "promo", atMillis: noon - 2 * hour), .init(category: "promo", atMillis: noon - hour)]
        XCTAssertEqual(policy.firing(category: promo, recipient: r, at: noon), .suppressed(.capped))
        // 17:00 UTC is 01:00 the next day in Shanghai: a new day, but quiet hours there.
        XCTAssertEqual(policy.firing(category: promo, recipient: r, at: noon + 5 * hour), .deferUntil(noon + 12 * hour))
        // The weekly cap: three within seven days.
        r.sent.append(.init(category: "promo", atMillis: noon - 3 * 24 * hour))
        XCTAssertEqual(policy.firing(category: promo, recipient: r, at: noon + 24 * hour + 2 * hour), .suppressed(.capped))
        XCTAssertEqual(policy.firing(category: policy.categories["account"]!, recipient: r, at: noon), .sendNow)
    }

    func testDedupWindowPerTriggerAndUser() {
        var r = recipient()
        let trigger = Trigger(id: "t", source: .event, conditions: [], category: "account", channels: [.email], dedupWindowMillis: 24 * hour)
        r.fired = [.init(trigger: "t", atMillis: noon - 23 * hour)]
        XCTAssertEqual(policy.firing(of: trigger, for: r, at: noon), .suppressed(.duplicate))
        XCTAssertEqual(policy.firing(of: trigger, for: r, at: noon + 2 * hour), .sendNow)
    }

    func testConsentAndContact() {
        var r = recipient()
        XCTAssertNil(policy.channelSuppression(.email, category: "promo", recipient: r))
        r.preferences.categories["promo"] = nil
        XCTAssertEqual(policy.channelSuppression(.email, category: "promo", recipient: r), .optedOut, "marketing needs an opt-in")
        XCTAssertNil(policy.channelSuppression(.email, category: "account", recipient: r), "transactional does not")
        r.preferences.channels["email"] = false
        XCTAssertEqual(policy.channelSuppression(.email, category: "security", recipient: r), .optedOut, "a channel opt-out holds for every category")
        XCTAssertEqual(policy.channelSuppression(.sms, category: "account", recipient: r), .noContact)
    }

    func testWithdrawnMarketingConsentStopsMarketingWhateverTheOptInButNotTransactional() {
        var r = recipient()
        XCTAssertNil(policy.channelSuppression(.email, category: "promo", recipient: r))
        r.preferences.consents = Consents(withdrawn: [.marketing])
        XCTAssertEqual(policy.channelSuppression(.email, category: "promo", recipient: r), .noConsent, "the category opt-in does not override it")
        XCTAssertNil(policy.channelSuppression(.email, category: "account", recipient: r), "transactional messages still go")
        r.preferences.consents = Consents(withdrawn: [.profiling])
        XCTAssertNil(policy.channelSuppression(.email, category: "promo", recipient: r), "profiling is another purpose")
    }

    func testExperimentAssignmentIsStableAndFollowsTheWeights() {
        let e = Experiment(id: "x", variants: [("a", 3), ("b", 1)], holdoutPercent: 20, conversionEvent: "purchase", conversionWindowMillis: 0)
        var counts: [String: Int] = [:]
        for i in 0..<20_000 { counts[e.assign(userID: "user-\(i)"), default: 0] += 1 }
        XCTAssertEqual(e.assign(userID: "user-7"), e.assign(userID: "user-7"))
        XCTAssertEqual(Double(counts["holdout"]!) / 20_000, 0.20, accuracy: 0.02)
        XCTAssertEqual(Double(counts["a"]!) / 20_000, 0.60, accuracy: 0.02)
        XCTAssertEqual(Double(counts["b"]!) / 20_000, 0.20, accuracy: 0.02)
    }

    func testBreakerOpensAfterFailuresAndProbesAfterItsTime() {
        var b = CircuitBreaker(failureThreshold: 3, openMillis: 1000)
        for _ in 0..<3 { XCTAssertTrue(b.allows(at: 0)); b.recordFailure(at: 0) }
        XCTAssertFalse(b.allows(at: 500))
        XCTAssertTrue(b.allows(at: 1000), "half-open: one probe")
        XCTAssertFalse(b.allows(at: 1001), "only one")
        b.recordFailure(at: 1001)
        XCTAssertFalse(b.allows(at: 1500))
        XCTAssertTrue(b.allows(at: 2001))
        b.recordSuccess()
        XCTAssertTrue(b.allows(at: 2002))
        XCTAssertFalse(b.isOpen)
    }

    func testBackoffGrowsIsCappedAndJittersDeterministically() {
        let backoff = RetryBackoff(initialMillis: 1000, maxMillis: 60_000)
        let delays = (1...8).map { backoff.delay(afterAttempt: $0, id: "n1") }
        XCTAssertEqual(delays, (1...8).map { backoff.delay(afterAttempt: $0, id: "n1") })
        for (attempt, delay) in delays.enumerated() {
            let base = min(60_000, 1000 << Int64(attempt))
            XCTAssertTrue(delay >= base && delay <= min(60_000, base + base / 4), "attempt \(attempt + 1): \(delay)")
        }
        XCTAssertNotEqual(backoff.delay(afterAttempt: 3, id: "n1"), backoff.delay(afterAttempt: 3, id: "n2"))
    }

    // MARK: Templates and configuration

    func testTemplateErrorsNameFileLineAndField() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("orbit-templates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("en.yaml")
        try "hello:\n  in_app:\n    title: \"Hi\"\n    body: |\n      line one\n      {{profle.tier}}\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TemplateCatalog.load(directory: dir.path, locales: ["en"], defaultLocale: "en")) { error in
            let e = error as! ConfigError
            XCTAssertEqual(e.file, file.path)
            XCTAssertEqual(e.line, 6)
            XCTAssertEqual(e.field, "hello.in_app.body")
            XCTAssertTrue("\(e)".contains("profle.tier"))
        }
        try "hello:\n  email:\n    subject: \"Hi {{#user}}\"\n    text: t\n    html: h\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TemplateCatalog.load(directory: dir.path, locales: ["en"], defaultLocale: "en")) { error in
            XCTAssertEqual((error as! ConfigError).field, "hello.email.subject")
        }
        try "hello:\n  email:\n    subject: s\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TemplateCatalog.load(directory: dir.path, locales: ["en"], defaultLocale: "en")) { error in
            XCTAssertTrue("\(error)".contains("missing part(s) text, html"), "\(error)")
        }
    }

    func testShippedConfigurationRendersEveryTemplateWithSampleData() throws {
        let settings = try NotifyFixture.settings()
        let catalog = settings.policy.templates
        var sample = Recipient()
        sample.contacts.name = "Sample"
        for entry in catalog.entries {
            let variables: [String: Any] = ["user": ["name": "Sample", "id": "u"], "event": ["to": "gold", "from": "silver", "reason": "growth 5000", "points": "10", "expires": "2026-12-01"], "digest": ["count": 2, "sum": 30]]
            let message = try XCTUnwrap(catalog.render(entry.template, channel: entry.channel, locale: entry.locale, variables: variables), "\(entry)")
            for (part, text) in message.parts where part != .body || entry.template != "redemption_result" {
                XCTAssertFalse(text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(entry) \(part) renders empty")
            }
        }
        XCTAssertEqual(catalog.locale(for: "zh"), "zh-CN")
        XCTAssertEqual(catalog.locale(for: "fr-FR"), "en")
    }

    func testConfigurationErrorsNameTheField() throws {
        XCTAssertThrowsError(try NotifyFixture.settings(["ORBIT__NOTIFY__QUIET_HOURS": "late"])) { error in
            XCTAssertEqual((error as! ConfigError).field, "notify.quiet_hours")
        }
        XCTAssertThrowsError(try NotifyFixture.settings(["ORBIT__NOTIFY__DEFAULT_TIME_ZONE": "Mars/Olympus"])) { error in
            XCTAssertEqual((error as! ConfigError).field, "notify.default_time_zone")
        }
    }

    func testSMTPPasswordAndWebhookKeyComeFromFilesAndAreNeverQuoted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("orbit-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "smtp-pass\n".write(to: directory.appendingPathComponent("smtp"), atomically: true, encoding: .utf8)
        try "hook-key".write(to: directory.appendingPathComponent("hook"), atomically: true, encoding: .utf8)
        func delivery(_ yaml: String) throws(ConfigError) -> DeliverySettings {
            try DeliverySettings(section: ConfigDocument(yaml: yaml, file: "n.yaml").section("delivery"), environment: [:])
        }
        let settings = try delivery("""
        delivery:
          email: {host: smtp.example.com, username: orbit, password_file: \(directory.path)/smtp}
          sms: {url: "https://sms.example.com/send", secret_file: \(directory.path)/hook}
        """)
        XCTAssertEqual(settings.email?.password, "smtp-pass")
        XCTAssertEqual(settings.sms?.secret, "hook-key")
        XCTAssertThrowsError(try delivery("delivery:\n  sms: {url: \"https://s.example.com\", secret_file: /nonexistent/key}\n")) { error in
            XCTAssertEqual((error as? ConfigError)?.field, "delivery.sms.secret_file")
            XCTAssertEqual((error as? ConfigError)?.message, "cannot read the file /nonexistent/key")
        }
        XCTAssertThrowsError(try delivery("delivery:\n  email: {host: h, password_env: X, password_file: \(directory.path)/smtp}\n")) { error in
            XCTAssertEqual((error as? ConfigError)?.message, "password_env is set as well: name one source")
        }
    }

    /// Found by the template fuzzer (Tests/Fuzz/regressions/template/null-trigger-key.yaml): a
    /// key with no name gave an error with an empty field.
    func testATemplateWithoutATriggerIdIsAnErrorThatSaysSo() {
        for yaml in ["?\n", "\"\": {email: {subject: a, html: b, text: c}}\n"] {
            XCTAssertThrowsError(try TemplateCatalog.catalog(yaml: yaml, file: "t.yaml", locale: "en")) { error in
                let config = error as? ConfigError
                XCTAssertEqual(config?.field, "(document)")
                XCTAssertEqual(config?.message, "each template needs a trigger id as its key")
            }
        }
    }

    func testOneLinePartsLoseLineBreaksAndOuterWhiteSpaceOnTheFastPathAsOnTheSlowOne() {
        XCTAssertEqual(TemplateCatalog.oneLine("Welcome, Ada"), "Welcome, Ada")
        XCTAssertEqual(TemplateCatalog.oneLine("欢迎 Ada"), "欢迎 Ada")
        XCTAssertEqual(TemplateCatalog.oneLine("  Welcome\r\nBcc: x\n"), "Welcome Bcc: x")
        XCTAssertEqual(TemplateCatalog.oneLine("a\rb\nc"), "a b c")
        XCTAssertEqual(TemplateCatalog.oneLine("\u{3000}欢迎\u{3000}"), "欢迎")  // ideographic spaces trimmed too
        XCTAssertEqual(TemplateCatalog.oneLine("\tHi"), "Hi")
        XCTAssertEqual(TemplateCatalog.oneLine(""), "")
    }

    /// Parts without a tag are rendered once, when loaded: what a user gets is what Mustache
    /// renders, whatever the variables (white space, line breaks, HTML characters, a title made
    /// one line), and a part with a tag still reads the variables.
    func testPartsWithoutATagRenderAsMustacheWouldForEveryUser() throws {
        let yaml = """
        hello:
          in_app:
            title: "  Hello\\nthere  "
            body: "Hi {{user.name}} & welcome"
          email:
            subject: "Welcome"
            text: |
              Line one.
                Line two & <three>.
            html: "<p>Fish & chips</p>"

        """
        let catalog = try TemplateCatalog.catalog(yaml: yaml, file: "t.yaml", locale: "en")
        for name in ["Ada", "Grace"] {
            let variables: [String: Any] = ["user": ["name": name]]
            let inApp = try XCTUnwrap(catalog.render("hello", channel: .inApp, locale: "en", variables: variables))
            XCTAssertEqual(inApp[.title], "Hello there")
            XCTAssertEqual(inApp[.body], "Hi \(name) & welcome")
            let email = try XCTUnwrap(catalog.render("hello", channel: .email, locale: "en", variables: variables))
            XCTAssertEqual(email[.subject], "Welcome")
            XCTAssertEqual(email[.text], "Line one.\n  Line two & <three>.\n")
            XCTAssertEqual(email[.html], "<p>Fish & chips</p>")
        }
        XCTAssertNil(catalog.render("hello", channel: .sms, locale: "en", variables: [String: Any]()))
        XCTAssertTrue(catalog.has("hello", channel: .email, locale: "en"))
        XCTAssertFalse(catalog.has("hello", channel: .push, locale: "en"))
    }

    func testMailMessageHeaders() {
        XCTAssertEqual(MailMessage.address("Orbit <noreply@orbit.local>"), "noreply@orbit.local")
        XCTAssertEqual(MailMessage.messageID("win_back:u1:x y:email", domain: "orbit.local"), "<win_back.u1.x=20y.email@orbit.local>")
        XCTAssertEqual(MailMessage.encodedHeader("Plain subject"), "Plain subject")
        XCTAssertEqual(MailMessage.encodedHeader("欢迎"), "=?UTF-8?B?5qyi6L+O?=")
        XCTAssertEqual(MailMessage.encodedHeader("a\r\nBcc: x"), "a Bcc: x")
        XCTAssertEqual(Base64.decode("5qyi6L+O"), Array("欢迎".utf8))
        XCTAssertNil(Base64.decode("abc"))
    }
}
