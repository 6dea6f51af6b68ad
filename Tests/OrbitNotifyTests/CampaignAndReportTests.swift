import Foundation
import OrbitContract
import OrbitNotify
import OrbitRuntime
import XCTest

/// Campaign files, the experiment report's statistics, and the preview.
final class CampaignAndReportTests: XCTestCase {
    func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-\(UUID().uuidString).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testCampaignFileIsValidatedAgainstTheConfiguration() throws {
        let policy = try NotifyFixture.settings().policy
        let good = try write("""
        id: loyal-2026
        category: marketing
        template: loyal_winback
        channels: [email, sms]
        start: 2026-11-24T09:00:00Z
        audience: {tier: [S, A], inactive_days_at_least: 30, tags: [loyal]}
        experiment: {variants: {a: 1}, holdout_percent: 10}
        """)
        defer { try? FileManager.default.removeItem(at: good) }
        let campaign = try Campaign.load(path: good.path, policy: policy, nowMillis: 0)
        XCTAssertEqual(campaign.audience.tiers, ["S", "A"])
        XCTAssertEqual(campaign.endMillis - campaign.startMillis, 7 * 86_400_000)
        XCTAssertEqual(campaign.experiment?.id, "campaign:loyal-2026")
        // The command round-trips.
        XCTAssertEqual(try Campaign.decodeCommand(campaign.startCommand()), .start(campaign))

        let bad = try write("id: x\ncategory: marketing\ntemplate: welcome\nchannels: [sms]\n")
        defer { try? FileManager.default.removeItem(at: bad) }
        XCTAssertThrowsError(try Campaign.load(path: bad.path, policy: policy, nowMillis: 0)) { error in
            let e = error as! ConfigError
            XCTAssertEqual(e.field, "template")
            XCTAssertTrue(e.description.contains("no sms template welcome"), e.description)
        }
        let typo = try write("id: x\ncategory: marketing\ntemplate: loyal_winback\nchannels: [email]\naudience: {teir: [S]}\n")
        defer { try? FileManager.default.removeItem(at: typo) }
        XCTAssertThrowsError(try Campaign.load(path: typo.path, policy: policy, nowMillis: 0)) { error in
            XCTAssertEqual((error as! ConfigError).line, 5)
        }
    }

    func testExperimentReportUpliftIntervalAndSampleSize() {
        var assignments: [String: String] = [:]
        var conversions = Set<String>()
        for i in 0..<1000 { assignments["a\(i)"] = "offer"; if i < 150 { conversions.insert("a\(i)") } }
        for i in 0..<1000 { assignments["h\(i)"] = Experiment.holdout; if i < 100 { conversions.insert("h\(i)") } }
        let report = ExperimentReport(experiment: "x", assignments: assignments, conversions: conversions, sentTo: ["offer": Set((0..<990).map { "a\($0)" })])
        let offer = report.rows.first { $0.variant == "offer" }!
        XCTAssertEqual(offer.rate, 0.15, accuracy: 1e-9)
        XCTAssertEqual(offer.sentTo, 990)
        XCTAssertEqual(offer.uplift!, 0.05, accuracy: 1e-9)
        // SE = sqrt(.15*.85/1000 + .1*.9/1000) = 0.014748; 1.96 SE = 0.028907.
        XCTAssertEqual(offer.interval!.low, 0.05 - 0.028907, accuracy: 1e-5)
        XCTAssertEqual(offer.interval!.high, 0.05 + 0.028907, accuracy: 1e-5)
        XCTAssertTrue(report.text(minimumEffect: 0.02).contains("significant"))
        // Two proportions, 10% → 12%, alpha 5% two-sided, power 80%: 3,841 per group (standard tables).
        XCTAssertEqual(ExperimentReport.sampleSizePerGroup(baseline: 0.10, minimumEffect: 0.02), 3841)
    }

    func testPreviewRendersFromTheLatestRecordsAndAppliesConsent() throws {
        let policy = try NotifyFixture.settings().policy
        let results = try NotificationPreview.preview(
            policy: policy, template: "points_expiring", userID: "u1",
            profile: nil, account: Array(#"{"balance":900,"level":"gold"}"#.utf8),
            contacts: Array(#"{"name":"小明","email":"u1@example.com","locale":"zh-CN"}"#.utf8),
            preferences: Array(#"{"channels":{"sms":false}}"#.utf8), tags: nil,
            event: Array(#"{"kind":"points_expiring","points":120,"expires":"2026-12-07"}"#.utf8),
            channel: nil, locale: nil, now: NotifyFixture.noon)
        XCTAssertEqual(results.map(\.channel), [.email, .sms])
        XCTAssertNil(results[0].suppression)
        XCTAssertEqual(results[0].content?[.subject], "120 积分将于 2026-12-07 过期")
        XCTAssertEqual(results[1].suppression, "opted_out")
        XCTAssertThrowsError(try NotificationPreview.preview(policy: policy, template: "nope", userID: "u1", profile: nil, account: nil, contacts: nil,
                                                             preferences: nil, tags: nil, event: nil, channel: nil, locale: nil, now: 0))
    }
}
