import Foundation
import OrbitNotify
import OrbitMembership
import OrbitReport
import OrbitScoring
import OrbitTestSupport
import XCTest

/// The operations report from plain values, checked as text and rendered in a real headless
/// browser (Debian's chromium): a PNG screenshot, and the DOM the browser built.
final class OperationsReportTests: XCTestCase {
    func sample() -> ReportData {
        var data = ReportData(generatedAt: "2026-12-01T00:00:00.000Z")
        for i in 0..<40 {
            data.profiles.append(.init(userID: "u\(i)", r: 1 + i % 5, f: 1 + (i / 5) % 5, segment: ReportData.segmentOrder[i % 8],
                                       stage: ReportData.stageOrder[i % 4], tier: ["S", "A", "B"][i % 3], superUser: i % 10 == 0,
                                       clvMinor: i % 4 == 0 ? nil : Double(i) * 1234, referredBy: i > 30 ? "u1" : nil, referrals: i == 1 ? 9 : 0,
                                       convertedReferrals: i == 1 ? 4 : 0))
        }
        data.profiles.append(.init(userID: "<script>alert(1)</script>", r: 5, f: 5, segment: "important_value", stage: "active", tier: "S",
                                   superUser: false, clvMinor: 100, referrals: 12, convertedReferrals: 1))
        data.lifecycleFlows = ["(first seen)": ["new": 30, "active": 11], "active": ["at_risk": 7], "at_risk": ["churned": 3]]
        for d in 1...5 {
            var day = ReportData.PointsDay(day: "2026-11-0\(d)")
            day.earned = Int64(100 * d); day.redeemed = 50; day.expired = d == 5 ? 20 : 0
            data.pointsByDay.append(day)
        }
        data.levels = ["bronze": 30, "silver": 8, "gold": 2]
        data.levelOrder = ["bronze", "silver", "gold"]
        data.deliveries = ["email": ["sent": 120, "suppressed": 30, "failed": 2], "in_app": ["sent": 200]]
        var assignments: [String: String] = [:]
        for i in 0..<300 { assignments["u\(i)"] = i % 3 == 0 ? Experiment.holdout : "discount" }
        data.experiments = [ExperimentReport(experiment: "win_back_offer", assignments: assignments,
                                             conversions: Set((0..<300).filter { $0 % 7 == 0 || $0 % 5 == 1 }.map { "u\($0)" }), sentTo: ["discount": ["u1", "u2"]])]
        let model = BGNBDModel(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
        data.calibration = ModelCalibration(purchaseDays: (0..<50).map { i in (0...(i % 8)).map { Double($0 * 20 + i % 5) } },
                                            cutOffDay: 100, endDay: 190, model: model, unitDays: 7)
        return data
    }

    func testEverySectionIsThereWithItsNumbersAndNothingIsUnescaped() {
        let html = OperationsReport.render(sample())
        for id in ["rfm", "lifecycle", "tiers", "referrals", "clv", "points", "notifications", "experiments", "calibration"] {
            XCTAssertTrue(html.contains(#"<section id="\#(id)">"#), id)
        }
        for chart in ["rfm-heatmap", "rfm-segments", "lifecycle-funnel", "lifecycle-flows", "tiers", "referrals", "clv-distribution", "points-flows", "levels",
                      "notifications", "experiment-win_back_offer", "calibration"] {
            XCTAssertTrue(html.contains(#"<svg id="\#(chart)""#), chart)
        }
        XCTAssertFalse(html.contains("<script"), "no script at all, and hostile ids are escaped")
        XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        XCTAssertFalse(html.contains("http://") && html.contains("<link"), "no external resources")
        XCTAssertTrue(html.contains("<title>R5 F5: 1 users</title>"), "the heat map counts buyers per cell")
        XCTAssertTrue(html.contains("(first seen) → new"))
        XCTAssertTrue(html.contains("<td>email</td><td>120</td><td>0</td><td>2</td><td>30</td>"))
    }

    /// The points mall's records (results, redemptions, cancellations, the catalogue, the stock
    /// stage's state, accounts) become the mall section: liability, stock left, results.
    func testTheMallSectionShowsLiabilityStockAndResults() throws {
        var data = ReportData(generatedAt: "now")
        let coffee = Reward(id: "coffee", names: ["en": "Coffee <b>", "zh-CN": "咖啡"], pricePoints: 100, stock: .limited(10),
                            issue: .coupon(valueMinor: 500, currency: "USD", validityDays: 30))
        var stock = RewardStock(rewardID: "coffee")
        _ = stock.reserve(3, for: "r1", stock: .limited(10))
        func event(_ json: String) -> [UInt8] { Array(json.utf8) }
        data.addMall(memberEvents: [
            event(#"{"kind":"command_result","command":"redeem_reward","request_id":"r1","status":"accepted"}"#),
            event(#"{"kind":"command_result","command":"redeem_reward","request_id":"r2","status":"rejected","reason":"out_of_stock"}"#),
            event(#"{"kind":"command_result","command":"redeem_reward","request_id":"r2","status":"rejected","reason":"out_of_stock"}"#),
            event(#"{"kind":"reward_redeemed","redemption_id":"r1","reward_id":"coffee","quantity":3,"time":"2026-12-01T10:00:00.000Z"}"#),
            event(#"{"kind":"redemption_cancelled","redemption_id":"r9"}"#),
        ], catalogue: ["coffee": coffee.encoded(), "broken": Array("{}".utf8)], stock: ["coffee": stock.encoded()],
           accounts: [event(#"{"user_id":"a","balance":700,"held":100}"#), event(#"{"user_id":"b","balance":300,"held":0}"#)], levels: [], pointsPerUnit: 100)
        XCTAssertEqual(data.mall.results, ["accepted": 1, "out_of_stock": 1], "a repeated result counts once")
        XCTAssertEqual(data.mall.outstandingPoints, 1000)
        XCTAssertEqual(data.mall.heldPoints, 100)
        XCTAssertEqual(data.mall.stock["coffee"]?.issued, 3)
        XCTAssertNil(data.mall.stock["broken"], "an unusable definition is not a reward")
        let html = OperationsReport.render(data)
        XCTAssertTrue(html.contains(#"<section id="mall">"#))
        XCTAssertTrue(html.contains("<td>coffee</td><td>Coffee &lt;b&gt;</td><td>3</td><td>7 of 10</td>"), "stock left, names escaped")
        XCTAssertTrue(html.contains("<b>10.00 USD</b>their value at checkout"))
        XCTAssertTrue(html.contains(#"<svg id="mall-days""#))
        XCTAssertTrue(html.contains("<b>–</b>coupon use rate"), "no coupon settled yet")
        data.addCoupons(latest: ["A": event(#"{"status":"used"}"#), "B": event(#"{"status":"used"}"#), "C": event(#"{"status":"expired"}"#),
                                 "D": event(#"{"status":"issued"}"#), "E": event(#"{"status":"voided"}"#), "F": event("not json")])
        XCTAssertEqual(data.mall.coupons, ["used": 2, "expired": 1, "issued": 1, "voided": 1])
        let withCoupons = OperationsReport.render(data)
        XCTAssertTrue(withCoupons.contains("<b>67%</b>coupon use rate"), "2 used of 3 settled")
        XCTAssertTrue(withCoupons.contains("<td>voided</td><td>1</td>"))
    }

    /// Operators' segments: the census of each scorer partition, summed now and per day (a
    /// partition without a record that day carries its last one), with the segments' names.
    func testTheCustomSegmentsSectionSumsThePartitionsCensusNowAndPerDay() {
        var data = ReportData(generatedAt: "2026-12-07T00:00:00Z")
        func census(_ partition: Int, _ time: String, _ big: Int, _ drift: Int) -> [UInt8] {
            Array(#"{"schema_version":1,"partition":\#(partition),"time":"\#(time)","users":100,"custom":{"big":\#(big),"drift":\#(drift)}}"#.utf8)
        }
        data.addSegmentCensus([census(0, "2026-12-05T10:00:00.000Z", 3, 1), census(1, "2026-12-05T10:00:01.000Z", 4, 0),
                               census(0, "2026-12-06T09:00:00.000Z", 5, 2), Array("not json".utf8)],
                              definitions: ["big": Array(#"{"schema_version":1,"id":"big","name":"Big <spenders>","where":{"exists":"tier"}}"#.utf8)])
        XCTAssertEqual(data.customSegments.now, ["big": 9, "drift": 2])
        XCTAssertEqual(data.customSegments.byDay["2026-12-05"], ["big": 7, "drift": 1])
        XCTAssertEqual(data.customSegments.byDay["2026-12-06"], ["big": 9, "drift": 2], "partition 1 carries its last census")
        let html = OperationsReport.render(data)
        XCTAssertTrue(html.contains(#"<section id="custom-segments">"#))
        XCTAssertTrue(html.contains("Big &lt;spenders&gt;"), "names escaped")
        XCTAssertTrue(html.contains("<td>2026-12-06</td><td>9</td><td>2</td>"), html)
    }

    /// The journeys section sums each journey's progress over partitions into a funnel per step.
    func testTheJourneysSectionSumsTheFunnelOverPartitions() {
        func progress(_ partition: Int, entered: Int, sent: Int, converted: Int, completed: Int) -> [UInt8] {
            var f = JourneyFunnel()
            f.entered = entered; f.converted = converted; f.exited = ["completed": completed, "converted": converted]
            var reminder = JourneyFunnel.StepCounts(); reminder.entered = entered; reminder.sent = sent; reminder.converted = converted
            var pause = JourneyFunnel.StepCounts(); pause.entered = entered; pause.waited = completed
            f.steps = ["reminder": reminder, "pause": pause]
            return JourneyProgress(journey: "win<back>", partition: partition, version: 2, status: .active, stepOrder: ["reminder", "pause"], funnel: f).encoded()
        }
        let report = JourneyReport(latest: ["win<back>/0": progress(0, entered: 10, sent: 9, converted: 2, completed: 5),
                                            "win<back>/1": progress(1, entered: 6, sent: 6, converted: 1, completed: 3), "junk": Array("x".utf8)])
        let row = try! XCTUnwrap(report.rows["win<back>"])
        XCTAssertEqual(row.funnel.entered, 16)
        XCTAssertEqual(row.funnel.steps["reminder"]?.sent, 15)
        XCTAssertEqual(row.active, 16 - 8 - 3)
        var data = ReportData(generatedAt: "2026-12-07T00:00:00Z")
        data.journeys = [row]
        let html = OperationsReport.render(data)
        XCTAssertTrue(html.contains(#"<section id="journeys">"#))
        XCTAssertTrue(html.contains("win&lt;back&gt; v2 (active)"), "names escaped")
        XCTAssertTrue(html.contains("<td>reminder</td><td>16</td><td>15</td><td>0</td><td>0</td><td>3</td>"), html)
        XCTAssertTrue(report.text().contains("  reminder                   16       15           0        0          3"), report.text())
    }

    /// The records as the services publish them (docs/CONTRACT.md) become the report's values;
    /// later values of a user win, records that are not JSON are skipped.
    func testTopicRecordsBecomeTheReportsValues() {
        var data = ReportData(generatedAt: "now")
        data.addProfiles([
            Array(#"{"user_id":"u1","rfm":{"r":1,"f":1},"segment":"general_retain","lifecycle":{"stage":"new"},"tier":"B","super_user":false,"churn":{"clv_minor":null}}"#.utf8),
            Array("not json".utf8),
            Array(#"{"user_id":"u1","rfm":{"r":5,"f":4},"segment":"important_value","lifecycle":{"stage":"active"},"tier":"S","super_user":true,"churn":{"clv_minor":12345.5},"referral_circle":{"referred_by":"u9","referrals":2,"converted":1},"currency":"CNY"}"#.utf8),
        ])
        XCTAssertEqual(data.profiles, [.init(userID: "u1", r: 5, f: 4, segment: "important_value", stage: "active", tier: "S", superUser: true, clvMinor: 12345.5,
                                             referredBy: "u9", referrals: 2, convertedReferrals: 1)])
        XCTAssertEqual(data.currency, "CNY")
        data.addLedger([
            Array(#"{"kind":"earn","points":120,"time":"2026-11-30T10:00:00.000Z"}"#.utf8),
            Array(#"{"kind":"redeem","points":-50,"time":"2026-11-30T11:00:00.000Z"}"#.utf8),
            Array(#"{"kind":"expire","points":-7,"time":"2026-12-01T00:00:00.000Z"}"#.utf8),
        ])
        XCTAssertEqual(data.pointsByDay.map { [$0.day, "\($0.earned)", "\($0.redeemed)", "\($0.expired)"] },
                       [["2026-11-30", "120", "50", "0"], ["2026-12-01", "0", "0", "7"]])
        data.addAccounts([Array(#"{"user_id":"u1","level":"bronze"}"#.utf8), Array(#"{"user_id":"u1","level":"gold"}"#.utf8),
                          Array(#"{"user_id":"u2","level":"silver"}"#.utf8)], levelOrder: ["bronze", "silver", "gold"])
        XCTAssertEqual(data.levels, ["gold": 1, "silver": 1])
        data.addSegmentChanges([Array(#"{"dimension":"lifecycle","from":null,"to":"new"}"#.utf8), Array(#"{"dimension":"tier","from":"B","to":"S"}"#.utf8),
                                Array(#"{"dimension":"lifecycle","from":"new","to":"active"}"#.utf8)])
        XCTAssertEqual(data.lifecycleFlows, ["(first seen)": ["new": 1], "new": ["active": 1]])
    }

    func testCalibrationComparesPredictedWithActualPerRepeatPurchases() {
        let model = BGNBDModel(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
        // Two customers: one buys every 10 days throughout, one bought once long ago.
        let steady = stride(from: 0.0, through: 200, by: 10).map { $0 }
        let calibration = ModelCalibration(purchaseDays: [steady, [5]], cutOffDay: 100, endDay: 200, model: model, unitDays: 7, maxFrequency: 6)
        XCTAssertEqual(calibration.customers, 2)
        XCTAssertEqual(calibration.buckets.map(\.frequency), [0, 6])
        XCTAssertEqual(calibration.buckets[0].actual, 0)
        XCTAssertEqual(calibration.buckets[1].actual, 10)
        let history = CustomerHistory(frequency: 10, recency: 100 / 7, age: 100 / 7)
        XCTAssertEqual(calibration.buckets[1].predicted, model.expectedPurchases(in: 100 / 7, history), accuracy: 1e-9)
        XCTAssertGreaterThan(calibration.buckets[1].predicted, calibration.buckets[0].predicted)
    }

    /// The section shows the deployed model beside one fitted on the calibration period alone,
    /// and says which model is deployed; without enough customers it says why there is no fit.
    func testTheCalibrationSectionShowsTheDeployedModelAndTheCalibrationPeriodFit() {
        let model = BGNBDModel(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
        // 400 customers buying every 5 to 60 days, some stopping: enough for a fit.
        let days = (0..<400).map { i -> [Double] in
            let gap = Double(5 + i % 56), stop = i % 3 == 0 ? 150.0 : 400.0
            return stride(from: Double(i % 90), to: stop, by: gap).map { $0 }
        }
        var data = ReportData(generatedAt: "2026-12-07T00:00:00Z")
        data.calibrationModel = "the refit deployed on orbit.models at 2026-12-07T00:00:00Z from 400 customers"
        data.calibration = ModelCalibration(purchaseDays: days, cutOffDay: 300, endDay: 400, model: model, unitDays: 7, fitCalibrationPeriod: true)
        XCTAssertNotNil(data.calibration?.calibrationFit)
        var html = OperationsReport.render(data)
        XCTAssertTrue(html.contains("<th>calibration fit</th>"), "a column for the calibration-period fit")
        XCTAssertTrue(html.contains("fitted on the calibration period"))
        XCTAssertTrue(html.contains("Deployed model: the refit deployed on orbit.models"))
        data.calibration = ModelCalibration(purchaseDays: Array(days.prefix(30)), cutOffDay: 300, endDay: 400, model: model, unitDays: 7, fitCalibrationPeriod: true)
        html = OperationsReport.render(data)
        XCTAssertFalse(html.contains("<th>calibration fit</th>"))
        XCTAssertTrue(html.contains("No calibration fit: 30 customers with a purchase, fewer than the 200 a fit needs."), html)
    }

    func testAHeadlessBrowserRendersTheReport() throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return XCTFail("chromium is not installed: scripts/install-deps.sh --test installs it")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("orbit-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = directory.appendingPathComponent("report.html")
        try OperationsReport.render(sample()).write(to: page, atomically: true, encoding: .utf8)
        let png = directory.appendingPathComponent("report.png")
        let flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(directory.appendingPathComponent("profile").path)"]
        XCTAssertEqual(try run(chromium, flags + ["--window-size=1280,4200", "--screenshot=\(png.path)", page.absoluteString]).status, 0)
        let image = try Data(contentsOf: png)
        XCTAssertEqual(Array(image.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        let width = image[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = image[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(width, 1280)
        XCTAssertEqual(height, 4200)
        XCTAssertGreaterThan(image.count, 50_000, "a page with charts, not a blank one")
        let dom = try run(chromium, flags + ["--dump-dom", page.absoluteString])
        XCTAssertEqual(dom.status, 0)
        XCTAssertEqual(dom.output.components(separatedBy: "<svg ").count - 1, 12, "every chart made it into the browser's DOM")
        XCTAssertTrue(dom.output.contains(#"<rect class="cell""#))
        XCTAssertTrue(dom.output.contains("win_back_offer"))
    }

    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
