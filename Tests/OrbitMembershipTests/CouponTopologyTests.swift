import Foundation
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitTestKit
import XCTest

/// Coupons through the membership service's whole topology (router, ledger, stock and coupon
/// stages): redeemed coupons are issued with unguessable codes, used once by their owner, expire
/// on the clock with a notice before, are voided by a cancellation, and forget an erased owner.
final class CouponTopologyTests: XCTestCase {
    let now: Int64 = 1_781_092_800_000
    let day: Int64 = 86_400_000
    let settings = MembershipSettings.spendAndSignup
    var runtime: RuntimeSettings!
    var events = 0

    let coffee = Reward(id: "coffee", names: ["en": "Coffee coupon", "zh-CN": "咖啡券"], pricePoints: 30, stock: .limited(10),
                        issue: .coupon(valueMinor: 500, currency: "USD", validityDays: 30))

    func driver(members: [String] = ["ann", "bob"]) throws -> TopologyTestDriver {
        runtime = try RuntimeSettings.testing(service: "orbit-members")
        let driver = try TopologyTestDriver(MembershipService.topology(settings, runtime: runtime), runtime: runtime, partitions: 4,
                                            topics: [settings.rewardsTopic: 1], nowMillis: now)
        driver.send(settings.rewardsTopic, key: coffee.id, value: coffee.encoded())
        for user in members {
            driver.send(settings.eventsTopic, key: user, value: UserEvent(id: "s-\(user)", userID: user, type: .signup, timeMillis: now, properties: JSONObject()).encoded())
        }
        try driver.run()
        return driver
    }

    func command(_ driver: TopologyTestDriver, _ user: String, _ json: String) throws {
        driver.send(settings.commandsTopic, key: user, value: Array(json.utf8))
        try driver.run()
    }

    func redeem(_ driver: TopologyTestDriver, _ user: String, _ request: String, quantity: Int = 1) throws {
        try command(driver, user, #"{"type":"redeem_reward","request_id":"\#(request)","user_id":"\#(user)","reward_id":"coffee","quantity":\#(quantity)}"#)
    }

    /// The shop's `coupon_used` event, as ingestion publishes it.
    func use(_ driver: TopologyTestDriver, _ user: String, _ code: String, order: String, at time: Int64? = nil) throws {
        events += 1
        driver.send(settings.eventsTopic, key: user, value: UserEvent(id: "use-\(events)", userID: user, type: .couponUsed, timeMillis: time ?? driver.nowMillis,
                                                                      properties: JSONObject([(key: "code", value: .string(code)), (key: "order_id", value: .string(order))])).encoded())
        try driver.run()
    }

    func memberEvents(_ driver: TopologyTestDriver, _ kind: String) -> [JSONObject] {
        driver.records(settings.memberEventsTopic).compactMap { try? JSONParser.parse($0.value ?? []).objectValue }.filter { $0["kind"]?.stringValue == kind }
    }

    /// The codes issued to `user`, in order, each once (a batch replayed after a crash writes its
    /// events again, with the same ids: consumers deduplicate by id).
    func codes(_ driver: TopologyTestDriver, _ user: String) -> [String] {
        var seen = Set<String>()
        return memberEvents(driver, "coupon_issued").filter { $0["user_id"]?.stringValue == user }.compactMap { $0["code"]?.stringValue }.filter { seen.insert($0).inserted }
    }

    func status(_ driver: TopologyTestDriver, _ code: String) -> String? {
        driver.latest(settings.couponsTopic)[code].flatMap { try? JSONParser.parse($0).objectValue?["status"]?.stringValue }
    }

    func result(_ driver: TopologyTestDriver, _ request: String) -> JSONObject? {
        memberEvents(driver, "command_result").last { $0["request_id"]?.stringValue == request }
    }

    func balance(_ driver: TopologyTestDriver, _ user: String) -> Int64? {
        driver.latest(settings.accountsTopic)[user].flatMap { try? JSONParser.parse($0).objectValue?["balance"]?.numberValue?.int64Value }
    }

    func testARedeemedCouponIsIssuedAndUsedOnceByItsOwnerAndEveryOtherUseIsRejected() throws {
        for crash in [nil, TopologyTestDriver.CrashPoint.beforeStateChanges, .afterStateChanges] {
            let driver = try driver()
            if let crash { driver.crash(crash, stage: "-coupons") }
            try redeem(driver, "ann", "r1", quantity: 2)
            let codes = codes(driver, "ann")
            let context = "crash: \(crash.map { "\($0)" } ?? "none")"
            XCTAssertEqual(codes.count, 2, context)
            XCTAssertEqual(Set(codes).count, 2, context)
            XCTAssertTrue(codes.allSatisfy { CouponCode.canonical($0) == $0 }, context)
            let redeemed = try XCTUnwrap(memberEvents(driver, "reward_redeemed").last, context)
            // (The coupon_issued events come from the coupon stage's partitions, in no order between them.)
            XCTAssertEqual(Set(redeemed["coupon_codes"]?.arrayValue?.compactMap(\.stringValue) ?? []), Set(codes), "the redemption names its coupons")
            XCTAssertEqual(codes.map { status(driver, $0) }, ["issued", "issued"], context)

            if let crash { driver.crash(crash, stage: "-coupons") }
            try use(driver, "ann", CouponCode.grouped(codes[0]).lowercased(), order: "o1")  // typed as people type it: ingestion makes it canonical
            try use(driver, "ann", codes[0], order: "o1")  // the shop's retry
            try use(driver, "ann", codes[0], order: "o2")
            try use(driver, "bob", codes[1], order: "o3")
            try use(driver, "ann", "0000000000000000", order: "o4")
            XCTAssertEqual(status(driver, codes[0]), "used", context)
            XCTAssertEqual(status(driver, codes[1]), "issued", "a foreign use changes nothing")
            let used = memberEvents(driver, "coupon_used")
            XCTAssertEqual(Set(used.compactMap { $0["id"]?.stringValue }), ["\(codes[0]):used"], "one use, its retry answered with the same event")
            XCTAssertEqual(used.first?["order_id"]?.stringValue, "o1")
            let rejected = memberEvents(driver, "coupon_rejected").map { ($0["user_id"]?.stringValue ?? "", $0["order_id"]?.stringValue ?? "", $0["reason"]?.stringValue ?? "") }
            XCTAssertEqual(Set(rejected.map { "\($0.0) \($0.1) \($0.2)" }), ["ann o2 coupon_already_used", "bob o3 foreign_coupon", "ann o4 unknown_coupon"], context)
            XCTAssertEqual(driver.records(settings.couponsTopic).filter { $0.key == Array(codes[0].utf8) }.compactMap {
                try? JSONParser.parse($0.value ?? []).objectValue?["status"]?.stringValue
            }.reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } }, ["issued", "used"], context)
        }
    }

    func testCouponsExpireOnTheClockAfterANotice() throws {
        let driver = try driver()
        try redeem(driver, "ann", "r1", quantity: 2)
        let codes = codes(driver, "ann")
        driver.nowMillis = now + 26 * day
        try driver.punctuate()
        XCTAssertTrue(memberEvents(driver, "coupon_expiring").isEmpty, "not yet: the notice is 3 days before")
        driver.nowMillis = now + 27 * day + 1
        try driver.punctuate()
        try driver.punctuate()
        XCTAssertEqual(memberEvents(driver, "coupon_expiring").compactMap { $0["code"]?.stringValue }.sorted(), codes.sorted(), "one notice per coupon")
        try use(driver, "ann", codes[0], order: "o1")
        driver.nowMillis = now + 30 * day
        try driver.punctuate()
        XCTAssertEqual(memberEvents(driver, "coupon_expired").compactMap { $0["code"]?.stringValue }, [codes[1]], "the used one does not expire")
        XCTAssertEqual(status(driver, codes[1]), "expired")
        try use(driver, "ann", codes[1], order: "o2")
        XCTAssertEqual(memberEvents(driver, "coupon_rejected").last?["reason"]?.stringValue, "coupon_expired")
        try use(driver, "ann", codes[1], order: "o3", at: now + 30 * day - 60_000)
        XCTAssertEqual(status(driver, codes[1]), "used", "an order placed before the expiry, reported after it, counts")
    }

    /// The clock finds coupons through a queue kept beside the store: after a restart (restored
    /// from the changelog) and after the partitions moved away and back, it is made again.
    func testCouponsStillExpireAfterARestartAndAReassignment() throws {
        let driver = try driver()
        try redeem(driver, "ann", "r1", quantity: 3)
        let codes = codes(driver, "ann")
        try driver.restart(cleanly: false)
        driver.nowMillis = now + 27 * day + 1
        try driver.punctuate()
        XCTAssertEqual(Set(memberEvents(driver, "coupon_expiring").compactMap { $0["code"]?.stringValue }), Set(codes))
        driver.revoke([0, 1, 2, 3], stage: "-coupons")
        try driver.assign([0, 1, 2, 3], stage: "-coupons")
        driver.nowMillis = now + 30 * day
        try driver.punctuate()
        XCTAssertEqual(codes.map { status(driver, $0) }, ["expired", "expired", "expired"])
        XCTAssertEqual(Set(memberEvents(driver, "coupon_expiring").compactMap { $0["id"]?.stringValue }).count, 3, "each notice once")
    }

    func testCancellingVoidsTheUnusedCouponsAndReturnsTheirShare() throws {
        let driver = try driver()
        try redeem(driver, "ann", "r1", quantity: 2)
        try redeem(driver, "ann", "r2")
        XCTAssertEqual(balance(driver, "ann"), 100 - 3 * 30)
        let codes = codes(driver, "ann")
        try use(driver, "ann", codes[0], order: "o1")
        try command(driver, "ann", #"{"type":"cancel_redemption","request_id":"c1","user_id":"ann","redemption_id":"r1"}"#)
        XCTAssertEqual(result(driver, "c1")?["status"]?.stringValue, "accepted")
        XCTAssertEqual(result(driver, "c1")?["quantity"]?.numberValue?.int64Value, 1, "the used coupon stays redeemed")
        XCTAssertEqual(result(driver, "c1")?["points"]?.numberValue?.int64Value, 30)
        XCTAssertEqual(status(driver, codes[1]), "voided")
        XCTAssertEqual(status(driver, codes[0]), "used")
        try use(driver, "ann", codes[1], order: "o2")
        XCTAssertEqual(memberEvents(driver, "coupon_rejected").last?["reason"]?.stringValue, "coupon_voided")
        try command(driver, "ann", #"{"type":"cancel_redemption","request_id":"c2","user_id":"ann","redemption_id":"r2"}"#)
        XCTAssertEqual(result(driver, "c2")?["status"]?.stringValue, "accepted")
        XCTAssertEqual(balance(driver, "ann"), 100 - 30, "two coupons' points are back")
        let issued = try driver.processor(RewardStockProcessor.self, stage: "-stock").store.get(KeyPartitioner.partition(of: "coffee", partitionCount: 4), "coffee")?.issued
        XCTAssertEqual(issued, 1, "their stock is back")

        try redeem(driver, "bob", "r3")
        let bobs = self.codes(driver, "bob")
        try use(driver, "bob", bobs[0], order: "o9")
        try command(driver, "bob", #"{"type":"cancel_redemption","request_id":"c3","user_id":"bob","redemption_id":"r3"}"#)
        XCTAssertEqual(result(driver, "c3")?["status"]?.stringValue, "rejected")
        XCTAssertEqual(result(driver, "c3")?["reason"]?.stringValue, "coupon_already_used")
        XCTAssertEqual(balance(driver, "bob"), 70, "a used coupon's points stay spent")
        try command(driver, "bob", #"{"type":"cancel_redemption","request_id":"c3","user_id":"bob","redemption_id":"r3"}"#)
        XCTAssertEqual(memberEvents(driver, "command_result").filter { $0["request_id"]?.stringValue == "c3" }.count, 2, "a repeat gets the original result")
        try command(driver, "bob", #"{"type":"cancel_redemption","request_id":"c4","user_id":"bob","redemption_id":"r3"}"#)
        XCTAssertEqual(result(driver, "c4")?["reason"]?.stringValue, "coupon_already_used", "a second attempt gets its own answers")
        let report = LedgerVerifier.verify(ledger: driver.records(settings.ledgerTopic).map { ($0.key, $0.value) },
                                           accounts: driver.records(settings.accountsTopic).map { ($0.key, $0.value) }, allowNegative: false)
        XCTAssertEqual(report.violations, [])
    }

    /// A cancellation started within its window waits for the coupon stage however long it
    /// takes: the clock does not forget it, and a retry of it adds nothing.
    func testACancellationWaitingForTheCouponStageOutlivesItsWindowAndItsRetries() throws {
        let driver = try driver()
        try redeem(driver, "ann", "r1", quantity: 2)
        driver.revoke([0, 1, 2, 3], stage: "-coupons")  // the coupon stage is away
        driver.nowMillis = now + 23 * 3_600_000
        try command(driver, "ann", #"{"type":"cancel_redemption","request_id":"c1","user_id":"ann","redemption_id":"r1"}"#)
        try command(driver, "ann", #"{"type":"cancel_redemption","request_id":"c1","user_id":"ann","redemption_id":"r1"}"#)
        try command(driver, "ann", #"{"type":"cancel_redemption","request_id":"c2","user_id":"ann","redemption_id":"r1"}"#)
        XCTAssertNil(result(driver, "c1"), "waiting for the coupon stage")
        XCTAssertEqual(result(driver, "c2")?["reason"]?.stringValue, "cancel_in_progress")
        driver.nowMillis = now + 25 * 3_600_000
        try driver.punctuate()  // the member's clock passes the 24-hour window
        try driver.assign([0, 1, 2, 3], stage: "-coupons")
        try driver.run()
        let results = memberEvents(driver, "command_result").filter { $0["request_id"]?.stringValue == "c1" }
        XCTAssertEqual(results.count, 1, "one result, the retry added none")
        XCTAssertEqual(results.first?["status"]?.stringValue, "accepted")
        XCTAssertEqual(results.first?["quantity"]?.numberValue?.int64Value, 2)
        XCTAssertEqual(balance(driver, "ann"), 100)
    }

    func testErasingAMemberMakesItsCouponsForgetTheOwner() throws {
        let driver = try driver()
        try redeem(driver, "ann", "r1", quantity: 2)
        let codes = codes(driver, "ann")
        try use(driver, "ann", codes[0], order: "o1")
        driver.send(runtime.privacy.requestsTopic, key: "ann", value: PrivacyRequest(requestID: "gdpr-1", userID: "ann", requestedAtMillis: now + day).encoded())
        try driver.run()
        for code in codes {
            let record = try XCTUnwrap(driver.latest(settings.couponsTopic)[code].flatMap { try JSONParser.parse($0).objectValue })
            XCTAssertEqual(record["user_id"], .null, "no user id is left on orbit.coupons")
        }
        XCTAssertEqual(status(driver, codes[0]), "used")
        XCTAssertEqual(status(driver, codes[1]), "voided", "an unused coupon of an erased member can no longer be used")
        for partition in Int32(0)..<4 {
            try driver.processor(CouponProcessor.self, stage: "-coupons").store.forEach(partition) { _, coupon in XCTAssertEqual(coupon.userID, "") }
        }
    }
}
