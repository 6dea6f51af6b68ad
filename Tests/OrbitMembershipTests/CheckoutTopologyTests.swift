import Foundation
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitTestKit
import XCTest

/// Points as payment at checkout through the membership topology: hold, capture, release, a hold
/// that expires uncaptured, holds too large for the balance or the allowed share, the same order
/// held twice, and a refund of a captured order giving its points back in proportion.
final class CheckoutTopologyTests: XCTestCase {
    let now: Int64 = 1_781_092_800_000
    let settings: MembershipSettings = {
        var s = MembershipSettings.spendAndSignup
        s.policy.engine = EarningEngine(rules: [EarningRule(id: "signup", kind: .event(.event(.signup), points: 1_000))],
                                        pointsCurrency: "USD", exchangeRates: ["USD": 1, "EUR": 1.1], currencyDigits: ["USD": 2, "EUR": 2])
        s.policy.checkout = CheckoutPolicy(pointsPerUnit: 100, maxShare: 0.5, holdMillis: 30 * 60_000)
        s.policy.lotExpiry = .afterDays(365)
        return s
    }()

    /// ann has 1,000 points (worth 10 USD at 100 points a dollar).
    func driver() throws -> TopologyTestDriver {
        let runtime = try RuntimeSettings.testing(service: "orbit-members")
        let driver = try TopologyTestDriver(MembershipService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        driver.send(settings.eventsTopic, key: "ann", value: UserEvent(id: "s1", userID: "ann", type: .signup, timeMillis: now, properties: JSONObject()).encoded())
        try driver.run()
        return driver
    }

    func command(_ driver: TopologyTestDriver, _ json: String) throws {
        driver.send(settings.commandsTopic, key: "ann", value: Array(json.utf8))
        try driver.run()
    }

    func hold(_ driver: TopologyTestDriver, _ request: String, order: String, points: Int, amountMinor: Int = 10_000, currency: String = "USD") throws {
        try command(driver, #"{"type":"hold_points","request_id":"\#(request)","user_id":"ann","order_id":"\#(order)","points":\#(points),"order_amount_minor":\#(amountMinor),"currency":"\#(currency)"}"#)
    }

    func result(_ driver: TopologyTestDriver, _ request: String) -> JSONObject? {
        driver.records(settings.memberEventsTopic).compactMap { try? JSONParser.parse($0.value ?? []).objectValue }
            .last { $0["kind"]?.stringValue == "command_result" && $0["request_id"]?.stringValue == request }
    }

    func account(_ driver: TopologyTestDriver) -> (balance: Int64, available: Int64, held: Int64) {
        let o = try? JSONParser.parse(driver.latest(settings.accountsTopic)["ann"] ?? []).objectValue
        return (o?["balance"]?.numberValue?.int64Value ?? -1, o?["available"]?.numberValue?.int64Value ?? -1, o?["held"]?.numberValue?.int64Value ?? -1)
    }

    func verified(_ driver: TopologyTestDriver) -> [String] {
        LedgerVerifier.verify(ledger: driver.records(settings.ledgerTopic).map { ($0.key, $0.value) },
                              accounts: driver.records(settings.accountsTopic).map { ($0.key, $0.value) }, allowNegative: false).violations
    }

    func testAHoldIsCapturedWhenTheOrderIsPaidAndReleasedWhenItIsCancelled() throws {
        let driver = try driver()
        try hold(driver, "h1", order: "o1", points: 400)
        XCTAssertEqual(result(driver, "h1")?["status"]?.stringValue, "accepted")
        XCTAssertEqual(account(driver).balance, 1000)
        XCTAssertEqual(account(driver).available, 600)
        XCTAssertEqual(account(driver).held, 400)
        try command(driver, #"{"type":"capture_points","request_id":"c1","user_id":"ann","order_id":"o1"}"#)
        XCTAssertEqual(result(driver, "c1")?["status"]?.stringValue, "accepted")
        XCTAssertEqual(account(driver).balance, 600)
        XCTAssertEqual(account(driver).held, 0)

        try hold(driver, "h2", order: "o2", points: 300)
        try command(driver, #"{"type":"release_points","request_id":"r2","user_id":"ann","order_id":"o2"}"#)
        XCTAssertEqual(result(driver, "r2")?["status"]?.stringValue, "accepted")
        XCTAssertEqual(account(driver).available, 600, "the cancelled order's points are back")
        try command(driver, #"{"type":"capture_points","request_id":"c2","user_id":"ann","order_id":"o2"}"#)
        XCTAssertEqual(result(driver, "c2")?["reason"]?.stringValue, "no_hold", "a released hold cannot be captured")
        try command(driver, #"{"type":"capture_points","request_id":"c3","user_id":"ann","order_id":"o1"}"#)
        XCTAssertEqual(result(driver, "c3")?["reason"]?.stringValue, "order_already_captured")
        XCTAssertEqual(verified(driver), [])
    }

    /// `GET /v1/members/{id}`: the account as the accounts topic has it, and the points held.
    func testTheMemberQueryShowsTheAccountAndWhatIsHeld() throws {
        let driver = try driver()
        try hold(driver, "h1", order: "o1", points: 400)
        let query = try XCTUnwrap(driver.processor(MembershipProcessor.self).queries.first)
        XCTAssertEqual(query.key(in: "/v1/members/ann"), "ann")
        guard case .found(let bytes)? = query.answer("ann") else { return XCTFail("no answer for ann") }
        let answer = try XCTUnwrap(JSONParser.parse(bytes).objectValue)
        let account = try XCTUnwrap(answer["account"]?.objectValue)
        XCTAssertEqual(account["balance"]?.numberValue?.int64Value, 1000)
        XCTAssertEqual(account["available"]?.numberValue?.int64Value, 600)
        let holds = try XCTUnwrap(answer["holds"]?.arrayValue?.compactMap(\.objectValue))
        XCTAssertEqual(holds.count, 1)
        XCTAssertEqual(holds.first?["order_id"]?.stringValue, "o1")
        XCTAssertEqual(holds.first?["points"]?.numberValue?.int64Value, 400)
        // The last ledger entries, newest first, from the member's state.
        let entries = try XCTUnwrap(answer["last_ledger_entries"]?.arrayValue?.compactMap(\.objectValue))
        XCTAssertEqual(entries.first?["kind"]?.stringValue, "hold")
        XCTAssertEqual(entries.first?["held"]?.numberValue?.int64Value, 400)
        XCTAssertEqual(entries.first?["balance_after"]?.numberValue?.int64Value, 1000)
        XCTAssertEqual(entries.last?["kind"]?.stringValue, "earn", "the sign-up points before it")
        let home = KeyPartitioner.partition(of: "ann", partitionCount: 4)
        let state = try XCTUnwrap(driver.processor(MembershipProcessor.self).store.get(home, "ann"))
        XCTAssertEqual(try MemberState.decode(state.encoded()).recentLedger, state.recentLedger, "kept in the state's changelog")
        XCTAssertEqual(query.answer("nobody"), .notFound)
    }

    func testHoldsTheLedgerRefuses() throws {
        let driver = try driver()
        try hold(driver, "a", order: "o1", points: 600, amountMinor: 100_000)
        XCTAssertEqual(result(driver, "a")?["status"]?.stringValue, "accepted")
        try hold(driver, "b", order: "o1", points: 10, amountMinor: 100_000)
        XCTAssertEqual(result(driver, "b")?["reason"]?.stringValue, "order_already_held", "the same order held twice")
        try hold(driver, "c", order: "o2", points: 500, amountMinor: 100_000)
        XCTAssertEqual(result(driver, "c")?["reason"]?.stringValue, "insufficient_points", "400 left to spend")
        try hold(driver, "d", order: "o3", points: 300, amountMinor: 50_000)
        XCTAssertEqual(result(driver, "d")?["status"]?.stringValue, "accepted", "half of 500.00 USD is 25,000 points")
        try hold(driver, "e", order: "o4", points: 60, amountMinor: 10_000)
        XCTAssertEqual(result(driver, "e")?["status"]?.stringValue, "accepted", "60 of the 100 left, well under half of 100.00 USD (5,000 points)")
        try hold(driver, "f", order: "o5", points: 51, amountMinor: 100, currency: "USD")
        XCTAssertEqual(result(driver, "f")?["reason"]?.stringValue, "exceeds_share", "half of 1.00 USD is 50 points")
        XCTAssertEqual(result(driver, "f")?["max_points"]?.numberValue?.int64Value, 50)
        try hold(driver, "g", order: "o6", points: 10, amountMinor: 100, currency: "XYZ")
        XCTAssertEqual(result(driver, "g")?["reason"]?.stringValue, "invalid: no exchange rate for XYZ in the currency table")
        try command(driver, #"{"type":"hold_points","request_id":"h","user_id":"ann","order_id":"o7","points":10,"order_amount_minor":-5,"currency":"USD"}"#)
        XCTAssertEqual(result(driver, "h")?["reason"]?.stringValue, "invalid: order_amount_minor must be a whole number from 1 to 1000000000000")
        let before = driver.records(settings.ledgerTopic).count
        try hold(driver, "a", order: "o1", points: 600, amountMinor: 100_000)
        XCTAssertEqual(driver.records(settings.ledgerTopic).count, before, "a repeated request changes nothing")
        XCTAssertEqual(verified(driver), [])
    }

    func testAnUncapturedHoldIsReleasedByItselfAfterTheConfiguredTime() throws {
        let driver = try driver()
        try hold(driver, "h1", order: "o1", points: 400)
        driver.nowMillis = now + 29 * 60_000
        try driver.punctuate()
        XCTAssertEqual(account(driver).held, 400, "not yet")
        driver.nowMillis = now + 30 * 60_000
        try driver.punctuate()
        XCTAssertEqual(account(driver).held, 0)
        XCTAssertEqual(account(driver).available, 1000)
        let expired = driver.records(settings.memberEventsTopic).compactMap { try? JSONParser.parse($0.value ?? []).objectValue }
            .filter { $0["kind"]?.stringValue == "points_hold_expired" }
        XCTAssertEqual(expired.map { $0["order_id"]?.stringValue }, ["o1"])
        XCTAssertEqual(verified(driver), [])
    }

    func testARefundOfACapturedOrderGivesItsPointsBackInProportionWithTheirExpiry() throws {
        let driver = try driver()
        try hold(driver, "h1", order: "o1", points: 400, amountMinor: 10_000)
        try command(driver, #"{"type":"capture_points","request_id":"c1","user_id":"ann","order_id":"o1"}"#)
        XCTAssertEqual(account(driver).balance, 600)
        func refund(_ id: String, _ minor: Int) throws {
            let event = UserEvent(id: id, userID: "ann", type: .refund, timeMillis: now + 60_000,
                                  properties: JSONObject([(key: "order_id", value: .string("o1")), (key: "amount_minor", value: .number(JSONNumber(minor)))]))
            driver.send(settings.eventsTopic, key: "ann", value: event.encoded())
            try driver.run()
        }
        try refund("rf1", 2_500)
        XCTAssertEqual(account(driver).balance, 700, "a quarter of the order: a quarter of its 400 points")
        try refund("rf2", 10_000)
        XCTAssertEqual(account(driver).balance, 1000, "the rest, never more than was paid")
        try refund("rf3", 10_000)
        XCTAssertEqual(account(driver).balance, 1000)
        let partition = KeyPartitioner.partition(of: "ann", partitionCount: 4)
        let lots = try driver.processor(MembershipProcessor.self).store.get(partition, "ann")?.points.lots ?? []
        XCTAssertEqual(lots.count, 1, "the points went back into the lot they came from")
        XCTAssertEqual(lots.first?.expiresAtMillis, LotExpiry.afterDays(365).expiry(earnedAt: now), "with its expiry")
        let kinds = driver.records(settings.ledgerTopic).compactMap { try? JSONParser.parse($0.value ?? []).objectValue?["kind"]?.stringValue }
        XCTAssertEqual(kinds, ["earn", "hold", "redeem", "refund", "refund"])
        XCTAssertEqual(verified(driver), [])
    }
}
