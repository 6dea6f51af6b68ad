import Foundation
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitTestKit
import XCTest

/// Redemption by reward through the membership service's whole topology (router, ledger, stock
/// stage, the catalogue as a global table) under the test kit: many members on every partition
/// redeem one reward at once, with crashes between outputs and commit in the ledger and the stock
/// stage, and exactly the stock is issued, every other hold released, the ledger verifies.
final class MallTopologyTests: XCTestCase {
    let now: Int64 = 1_781_092_800_000
    lazy var settings: MembershipSettings = {
        var s = MembershipSettings.spendAndSignup
        s.policy.levels = LevelPolicy(levels: [MembershipLevel(name: "bronze", threshold: 0), MembershipLevel(name: "silver", threshold: 1000),
                                               MembershipLevel(name: "gold", threshold: 5000)])
        return s
    }()

    func coffee(stock: Reward.Stock = .limited(15), price: Int64 = 100) -> Reward {
        Reward(id: "coffee", names: ["en": "Coffee coupon", "zh-CN": "咖啡券"], pricePoints: price, stock: stock,
               issue: .coupon(valueMinor: 500, currency: "USD", validityDays: 30))
    }

    /// The topology with `members` signed up (100 points each) and the catalogue holding `rewards`.
    func driver(members: Int, rewards: [Reward], batch: Int = 10_000) throws -> TopologyTestDriver {
        let runtime = try RuntimeSettings.testing(service: "orbit-members", "processing:\n  max_batch_records: \(batch)\n")
        let driver = try TopologyTestDriver(MembershipService.topology(settings, runtime: runtime), runtime: runtime, partitions: 4,
                                            topics: [settings.rewardsTopic: 1], nowMillis: now)
        for reward in rewards { driver.send(settings.rewardsTopic, key: reward.id, value: reward.encoded()) }
        for i in 0..<members {
            driver.send(settings.eventsTopic, key: "m\(i)", value: UserEvent(id: "s\(i)", userID: "m\(i)", type: .signup, timeMillis: now, properties: JSONObject()).encoded())
        }
        try driver.run()
        return driver
    }

    func redeem(_ driver: TopologyTestDriver, user: String, request: String, reward: String = "coffee", quantity: Int = 1) {
        driver.send(settings.commandsTopic, key: user, value: Array(
            #"{"type":"redeem_reward","request_id":"\#(request)","user_id":"\#(user)","reward_id":"\#(reward)","quantity":\#(quantity)}"#.utf8))
    }

    /// The latest result of each request: status and reason.
    func results(_ driver: TopologyTestDriver) -> [String: (status: String, reason: String?)] {
        var results: [String: (String, String?)] = [:]
        for record in driver.records(settings.memberEventsTopic) {
            guard let o = try? JSONParser.parse(record.value ?? []).objectValue, o["kind"]?.stringValue == "command_result",
                  let id = o["request_id"]?.stringValue, let status = o["status"]?.stringValue else { continue }
            results[id] = (status, o["reason"]?.stringValue)
        }
        return results
    }

    func verify(_ driver: TopologyTestDriver) -> LedgerVerifier.Report {
        LedgerVerifier.verify(ledger: driver.records(settings.ledgerTopic).map { ($0.key, $0.value) },
                              accounts: driver.records(settings.accountsTopic).map { ($0.key, $0.value) }, allowNegative: false)
    }

    func issued(_ driver: TopologyTestDriver, _ reward: String = "coffee") throws -> Int64 {
        let partition = KeyPartitioner.partition(of: reward, partitionCount: 4)
        return try driver.processor(RewardStockProcessor.self, stage: "-stock").store.get(partition, reward)?.issued ?? 0
    }

    func testExactlyTheStockIsIssuedAndEveryOtherHoldIsReleased() throws {
        let driver = try driver(members: 200, rewards: [coffee()])
        for i in 0..<200 { redeem(driver, user: "m\(i)", request: "r\(i)") }
        try driver.run()
        let results = results(driver)
        XCTAssertEqual(results.count, 200, "every request has its result")
        XCTAssertEqual(results.values.filter { $0.status == "accepted" }.count, 15)
        XCTAssertEqual(results.values.filter { $0.reason == "out_of_stock" }.count, 185)
        let report = verify(driver)
        XCTAssertEqual(report.violations, [])
        XCTAssertEqual(report.holds, 200)
        XCTAssertEqual(report.committed, 15)
        XCTAssertEqual(report.released, 185)
        XCTAssertTrue(report.openHolds.isEmpty)
        XCTAssertEqual(try issued(driver), 15)
        let spent = report.balances.values.filter { $0 == 0 }.count
        XCTAssertEqual(spent, 15, "the 15 paid their 100 points; the others have theirs back")
        let redeemed = driver.records(settings.memberEventsTopic).filter { (try? JSONParser.parse($0.value ?? []).objectValue?["kind"]?.stringValue) == "reward_redeemed" }
        XCTAssertEqual(redeemed.count, 15, "a reward_redeemed event per issued coupon, for fulfilment and notifications")
        let low = driver.records(settings.memberEventsTopic).filter { (try? JSONParser.parse($0.value ?? []).objectValue?["kind"]?.stringValue) == "reward_stock_low" }
        XCTAssertEqual(low.count, 1, "operators are told once, when the last 10% (one unit) is reached")
        XCTAssertEqual(low.first?.key, Array("orbit-operators".utf8))
        XCTAssertEqual(try low.first.flatMap { try JSONParser.parse($0.value ?? []).objectValue?["remaining"]?.numberValue?.int64Value }, 1)
    }

    func testCrashesInTheLedgerAndTheStockStageIssueNoMoreThanTheStock() throws {
        for (point, stage) in [(TopologyTestDriver.CrashPoint.beforeStateChanges, ""), (.afterStateChanges, ""),
                               (.beforeStateChanges, "-stock"), (.afterStateChanges, "-stock")] {
            let driver = try driver(members: 120, rewards: [coffee(stock: .limited(40))], batch: 25)
            for i in 0..<120 { redeem(driver, user: "m\(i)", request: "r\(i)") }
            driver.crash(point, stage: stage)
            try driver.run()
            let results = results(driver)
            let context = "crash \(point) in stage \(stage.isEmpty ? "ledger" : stage)"
            XCTAssertEqual(results.count, 120, context)
            XCTAssertEqual(results.values.filter { $0.status == "accepted" }.count, 40, context)
            let report = verify(driver)
            XCTAssertEqual(report.violations, [], context)
            XCTAssertEqual(report.committed, 40, context)
            XCTAssertEqual(report.released, 80, context)
            XCTAssertTrue(report.openHolds.isEmpty, context)
            XCTAssertEqual(try issued(driver), 40, context)
        }
    }

    func testTheLedgerRefusesWhatItCanDecideAndRepeatsGetTheOriginalResult() throws {
        var vip = coffee(stock: .unlimited)
        vip.eligibility.tags = ["vip"]
        var old = coffee()
        old.retired = true
        let driver = try driver(members: 3, rewards: [coffee(price: 60), Reward(id: "vip", names: vip.names, pricePoints: 10, stock: .unlimited, eligibility: vip.eligibility,
                                                                                  issue: vip.issue),
                                                      Reward(id: "old", names: old.names, pricePoints: 10, stock: .limited(5), issue: old.issue, retired: true)])
        redeem(driver, user: "m0", request: "a", reward: "tea")
        redeem(driver, user: "m0", request: "b", reward: "old")
        redeem(driver, user: "m0", request: "c", reward: "vip")
        redeem(driver, user: "m0", request: "d", quantity: 2)
        redeem(driver, user: "m0", request: "e")
        redeem(driver, user: "m0", request: "f")
        redeem(driver, user: "nobody", request: "g")
        redeem(driver, user: "m0", request: "h", quantity: 500)
        try driver.run()
        driver.send(settings.tagsTopic, key: "m1", value: Array(#"{"tags":["vip"]}"#.utf8))
        try driver.run()  // two topics have no order between them: the tag first, then the command
        redeem(driver, user: "m1", request: "i", reward: "vip")
        try driver.run()
        let results = results(driver)
        XCTAssertEqual(results["a"]?.reason, "unknown_reward")
        XCTAssertEqual(results["b"]?.reason, "not_available")
        XCTAssertEqual(results["c"]?.reason, "not_eligible")
        XCTAssertEqual(results["d"]?.reason, "insufficient_points", "2 × 60 of 100")
        XCTAssertEqual(results["e"]?.status, "accepted")
        XCTAssertEqual(results["f"]?.reason, "insufficient_points", "40 left")
        XCTAssertEqual(results["g"]?.reason, "unknown_user")
        XCTAssertEqual(results["h"]?.reason, "invalid: quantity must be a whole number from 1 to 100")
        XCTAssertEqual(results["i"]?.status, "accepted", "the tag arrived on the member's stream; unlimited stock is committed at once")

        let before = driver.records(settings.ledgerTopic).count
        redeem(driver, user: "m0", request: "e")
        try driver.run()
        XCTAssertEqual(driver.records(settings.ledgerTopic).count, before, "a repeated request changes nothing")
        XCTAssertEqual(self.results(driver)["e"]?.status, "accepted", "and gets the original result")
        XCTAssertEqual(verify(driver).violations, [])
    }

    func testABadDefinitionOnTheTopicIsDeadLetteredAndTheOthersKeepWorking() throws {
        let driver = try driver(members: 2, rewards: [coffee()])
        driver.send(settings.rewardsTopic, key: "broken", value: Array(#"{"schema_version":1,"id":"broken","kind":"coupon","price_points":-1}"#.utf8))
        redeem(driver, user: "m0", request: "a", reward: "broken")
        redeem(driver, user: "m1", request: "b")
        try driver.run()
        XCTAssertEqual(results(driver)["a"]?.reason, "unknown_reward")
        XCTAssertEqual(results(driver)["b"]?.status, "accepted")
        let letters = driver.records(settings.deadLettersTopic).compactMap { try? JSONParser.parse($0.value ?? []).objectValue }
        XCTAssertTrue(letters.contains { ($0["error"]?.objectValue?["message"]?.stringValue ?? "").contains("reward broken is not offered") },
                      "the definition is dead-lettered with its reason: \(letters)")
    }

    func testGoodsGoToFulfilmentAndBenefitsOntoTheAccount() throws {
        let tote = Reward(id: "tote", names: ["en": "Tote", "zh-CN": "帆布袋"], pricePoints: 30, stock: .limited(5), issue: .goods(sku: "TOTE-1"))
        let delivery = Reward(id: "delivery", names: ["en": "Free delivery", "zh-CN": "免运费"], pricePoints: 20, stock: .unlimited,
                              issue: .benefit(name: "free_delivery", durationDays: 30))
        let driver = try driver(members: 1, rewards: [tote, delivery])
        driver.send(settings.commandsTopic, key: "m0", value: Array(
            #"{"type":"redeem_reward","request_id":"g1","user_id":"m0","reward_id":"tote","quantity":2,"address_ref":"addr-9"}"#.utf8))
        redeem(driver, user: "m0", request: "b1", reward: "delivery")
        try driver.run()
        redeem(driver, user: "m0", request: "b2", reward: "delivery")
        try driver.run()
        let fulfilment = driver.records(settings.fulfilmentTopic)
        XCTAssertEqual(fulfilment.count, 1)
        XCTAssertEqual(fulfilment.first?.key, Array("g1".utf8), "keyed by the redemption id")
        let goods = try XCTUnwrap(try JSONParser.parse(fulfilment.first?.value ?? []).objectValue)
        XCTAssertEqual(goods["sku"]?.stringValue, "TOTE-1")
        XCTAssertEqual(goods["quantity"]?.numberValue?.int64Value, 2)
        XCTAssertEqual(goods["address_ref"]?.stringValue, "addr-9")
        let account = try XCTUnwrap(try JSONParser.parse(driver.latest(settings.accountsTopic)["m0"] ?? []).objectValue)
        XCTAssertEqual(account["reward_benefits"]?.objectValue?["free_delivery"]?.stringValue, RFC3339.format(millis: now + 60 * 86_400_000),
                       "two redemptions of 30 days run one after the other")
        XCTAssertEqual(account["balance"]?.numberValue?.int64Value, 100 - 60 - 40)
        XCTAssertEqual(verify(driver).violations, [])
    }

    func testACancelledRedemptionGivesPointsAndStockBackWithinItsWindow() throws {
        let tote = Reward(id: "tote", names: ["en": "Tote", "zh-CN": "帆布袋"], pricePoints: 30, stock: .limited(1), limits: [.lifetime: 1], issue: .goods(sku: "TOTE-1"))
        let driver = try driver(members: 2, rewards: [tote])
        redeem(driver, user: "m0", request: "a", reward: "tote")
        try driver.run()
        XCTAssertEqual(results(driver)["a"]?.status, "accepted")
        redeem(driver, user: "m1", request: "b", reward: "tote")
        try driver.run()
        XCTAssertEqual(results(driver)["b"]?.reason, "out_of_stock")
        func cancel(_ request: String, _ redemption: String) throws {
            driver.send(settings.commandsTopic, key: "m0", value: Array(
                #"{"type":"cancel_redemption","request_id":"\#(request)","user_id":"m0","redemption_id":"\#(redemption)"}"#.utf8))
            try driver.run()
        }
        try cancel("c1", "a")
        XCTAssertEqual(results(driver)["c1"]?.status, "accepted")
        XCTAssertEqual(try issued(driver, "tote"), 0, "the stock is back")
        try cancel("c2", "a")
        XCTAssertEqual(results(driver)["c2"]?.reason, "not_cancellable", "cancelled once")
        let fulfilment = driver.records(settings.fulfilmentTopic).compactMap { try? JSONParser.parse($0.value ?? []).objectValue?["status"]?.stringValue }
        XCTAssertEqual(fulfilment, ["issue", "cancel"])
        let balance = try XCTUnwrap(try JSONParser.parse(driver.latest(settings.accountsTopic)["m0"] ?? []).objectValue?["balance"]?.numberValue?.int64Value)
        XCTAssertEqual(balance, 100, "the points are back")
        redeem(driver, user: "m0", request: "d", reward: "tote")
        try driver.run()
        XCTAssertEqual(results(driver)["d"]?.status, "accepted", "the lifetime limit forgot the cancelled one, and the stock is there again")
        driver.nowMillis += 25 * 3_600_000
        try driver.punctuate()
        try cancel("c3", "d")
        XCTAssertEqual(results(driver)["c3"]?.reason, "not_cancellable", "after the 24-hour window")
        XCTAssertEqual(verify(driver).violations, [])
    }

    /// A refund cannot take points that were held or spent, and forgives them; if they come
    /// back (a released hold, a cancelled redemption) the refund takes them then.
    func testARefundTakesBackPointsThatReturnFromAHoldOrACancelledRedemption() throws {
        let gift = Reward(id: "gift", names: ["en": "Gift", "zh-CN": "礼物"], pricePoints: 550, stock: .unlimited, issue: .benefit(name: "gift", durationDays: 1))
        for path in ["cancel", "release"] {
            let driver = try driver(members: 1, rewards: [gift])
            func event(_ type: EventType, _ id: String) -> [UInt8] {
                UserEvent(id: id, userID: "m0", type: type, timeMillis: now, properties: JSONObject([(key: "order_id", value: .string("A")),
                          (key: "amount_minor", value: .number(JSONNumber(50_000))), (key: "currency", value: .string("USD"))])).encoded()
            }
            driver.send(settings.eventsTopic, key: "m0", value: event(.purchase, "buy-A"))
            try driver.run()
            if path == "cancel" {
                redeem(driver, user: "m0", request: "g1", reward: "gift")
            } else {
                driver.send(settings.commandsTopic, key: "m0", value: Array(
                    #"{"type":"hold_points","request_id":"h1","user_id":"m0","order_id":"B","points":550,"order_amount_minor":200000,"currency":"USD"}"#.utf8))
            }
            try driver.run()
            driver.send(settings.eventsTopic, key: "m0", value: event(.refund, "refund-A"))
            try driver.run()
            let json = path == "cancel" ? #"{"type":"cancel_redemption","request_id":"c1","user_id":"m0","redemption_id":"g1"}"#
                                        : #"{"type":"release_points","request_id":"r1","user_id":"m0","order_id":"B"}"#
            driver.send(settings.commandsTopic, key: "m0", value: Array(json.utf8))
            try driver.run()
            let report = verify(driver)
            XCTAssertEqual(report.violations, [], path)
            XCTAssertEqual(report.balances["m0"], 100, "\(path): the signup's 100 only: the refunded order's 500 points are gone even though 450 were spent or held")
        }
    }

    func testAnOrderHeldAgainAfterARelease() throws {
        let driver = try driver(members: 1, rewards: [])
        for (n, type) in ["hold_points", "release_points", "hold_points", "capture_points"].enumerated() {
            let points = type == "hold_points" ? #","points":50,"order_amount_minor":100000,"currency":"USD""# : ""
            driver.send(settings.commandsTopic, key: "m0", value: Array(#"{"type":"\#(type)","request_id":"q\#(n)","user_id":"m0","order_id":"O"\#(points)}"#.utf8))
            try driver.run()
        }
        XCTAssertEqual(results(driver).values.map(\.status).sorted(), ["accepted", "accepted", "accepted", "accepted"])
        XCTAssertEqual(verify(driver).violations, [], "the second hold has ledger keys of its own")
        XCTAssertEqual(verify(driver).balances["m0"], 50)
    }

    func testAReservationForAHoldNobodyHasIsGivenBack() throws {
        let driver = try driver(members: 1, rewards: [coffee(stock: .limited(1))])
        // A reservation the ledger never asked for (a replayed ledger decided otherwise, say).
        driver.send(settings.stockRequestsTopic, key: "coffee", value: StockRequest(kind: .reserve, redemptionID: "ghost", userID: "m0", rewardID: "coffee",
                                                                                     quantity: 1, timeMillis: now).encoded())
        try driver.run()
        XCTAssertEqual(try issued(driver), 0, "the ledger found no pending redemption and gave the unit back")
        redeem(driver, user: "m0", request: "a")
        try driver.run()
        XCTAssertEqual(results(driver)["a"]?.status, "accepted", "so it is still there to redeem")
    }
}
