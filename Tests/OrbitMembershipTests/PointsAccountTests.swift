import OrbitContract
import OrbitMembership
import XCTest

final class PointsAccountTests: XCTestCase {
    let day: Int64 = 86_400_000
    func t(_ text: String) -> Int64 { try! RFC3339.parse(text) }

    /// The invariant: the balance is the sum of the entries, and no lot is below zero.
    func assertConsistent(_ account: PointsAccount, _ entries: [PointsLedgerEntry], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(account.balance, entries.reduce(0) { $0 + $1.points }, "sum of entries = balance", file: file, line: line)
        XCTAssertTrue(account.lots.allSatisfy { $0.remaining > 0 }, "no empty or negative lot", file: file, line: line)
        if let last = entries.last { XCTAssertEqual(last.balanceAfter, account.balance, file: file, line: line) }
    }

    func testSpendingTakesTheOldestLotsFirstAndNeverMoreThanAvailable() {
        var account = PointsAccount(userID: "u")
        var entries: [PointsLedgerEntry] = []
        entries.append(account.earn(100, key: "a", ruleID: "r", reason: "x", at: t("2026-01-01T00:00:00Z"), orderID: nil, expiry: .never, lockDays: 0))
        entries.append(account.earn(50, key: "b", ruleID: "r", reason: "x", at: t("2026-02-01T00:00:00Z"), orderID: nil, expiry: .never, lockDays: 0))
        let spent = account.spend(120, key: "redeem-1", reason: "reward", at: t("2026-03-01T00:00:00Z"))
        entries.append(try! spent.get())
        XCTAssertEqual(account.lots.map(\.id), ["b"])
        XCTAssertEqual(account.lots.first?.remaining, 30)
        XCTAssertEqual(account.spend(31, key: "redeem-2", reason: "reward", at: t("2026-03-01T00:00:00Z")), .failure(.insufficient(available: 30)))
        XCTAssertEqual(account.balance, 30, "a refused redemption changes nothing")
        assertConsistent(account, entries)
    }

    func testLockedPointsCountButCannotBeSpentUntilUnlocked() {
        var account = PointsAccount(userID: "u")
        _ = account.earn(100, key: "a", ruleID: nil, reason: "x", at: t("2026-01-01T00:00:00Z"), orderID: nil, expiry: .never, lockDays: 14)
        XCTAssertEqual(account.balance, 100)
        XCTAssertEqual(account.available(at: t("2026-01-10T00:00:00Z")), 0)
        XCTAssertEqual(account.spend(1, key: "r", reason: "x", at: t("2026-01-10T00:00:00Z")), .failure(.insufficient(available: 0)))
        XCTAssertEqual(account.available(at: t("2026-01-15T00:00:00Z")), 100)
    }

    func testLotExpiryKinds() {
        let earned = t("2026-02-10T15:30:00Z")
        XCTAssertEqual(LotExpiry.afterDays(30).expiry(earnedAt: earned), t("2026-03-13T00:00:00Z") - 1, "30 days, to the end of that day")
        XCTAssertEqual(LotExpiry.endOfMonth.expiry(earnedAt: earned), t("2026-03-01T00:00:00Z") - 1)
        XCTAssertEqual(LotExpiry.endOfYear.expiry(earnedAt: earned), t("2027-01-01T00:00:00Z") - 1)
        XCTAssertEqual(LotExpiry.endOfMonth.expiry(earnedAt: t("2026-12-31T23:00:00Z")), t("2027-01-01T00:00:00Z") - 1)
        XCTAssertNil(LotExpiry.never.expiry(earnedAt: earned))
    }

    func testExpiryRemovesWhatIsLeftOfEachLotWithAnEntryAndAWarningFirst() {
        var account = PointsAccount(userID: "u")
        var entries: [PointsLedgerEntry] = []
        entries.append(account.earn(100, key: "jan", ruleID: nil, reason: "x", at: t("2026-01-05T00:00:00Z"), orderID: nil, expiry: .endOfMonth, lockDays: 0))
        entries.append(account.earn(40, key: "feb", ruleID: nil, reason: "x", at: t("2026-02-05T00:00:00Z"), orderID: nil, expiry: .endOfMonth, lockDays: 0))
        entries.append(try! account.spend(30, key: "s", reason: "x", at: t("2026-01-10T00:00:00Z")).get())
        XCTAssertEqual(account.expiringSoon(at: t("2026-01-20T00:00:00Z"), withinDays: 14).map(\.id), ["jan"])
        XCTAssertEqual(account.expiringSoon(at: t("2026-01-21T00:00:00Z"), withinDays: 14).map(\.id), [], "announced once")
        let expired = account.expire(at: t("2026-02-01T00:00:00Z"))
        XCTAssertEqual(expired.map(\.points), [-70])
        XCTAssertEqual(expired.first?.key, "expire:jan")
        entries += expired
        XCTAssertEqual(account.balance, 40)
        XCTAssertTrue(account.expire(at: t("2026-02-01T00:00:00Z")).isEmpty, "expiring twice does nothing")
        assertConsistent(account, entries)
    }

    func testRefundsReverseInProportionAndRecordTheShortfall() {
        var account = PointsAccount(userID: "u")
        var entries: [PointsLedgerEntry] = []
        entries.append(account.earn(200, key: "o1:spend", ruleID: "spend", reason: "x", at: t("2026-01-01T00:00:00Z"), orderID: "o1", expiry: .never, lockDays: 0))
        let half = account.reverse(orderID: "o1", share: 0.5, key: "refund-1", reason: "refund of half", at: t("2026-01-02T00:00:00Z"), allowNegative: false)!
        XCTAssertEqual(half.points, -100)
        entries.append(half)
        entries.append(try! account.spend(80, key: "s", reason: "x", at: t("2026-01-03T00:00:00Z")).get())
        // The rest refunded: 100 to reverse, only 20 left.
        let rest = account.reverse(orderID: "o1", share: 1.0, key: "refund-2", reason: "refund of the rest", at: t("2026-01-04T00:00:00Z"), allowNegative: false)!
        XCTAssertEqual(rest.points, -20)
        XCTAssertEqual(rest.shortfall, 80)
        entries.append(rest)
        XCTAssertEqual(account.balance, 0, "never below zero unless allowed")
        XCTAssertNil(account.reverse(orderID: "o1", share: 1.0, key: "refund-3", reason: "again", at: t("2026-01-05T00:00:00Z"), allowNegative: false), "nothing left to reverse")
        assertConsistent(account, entries)
    }

    func testAllowedNegativeBalancesCarryDebtThatNewPointsPayOff() {
        var account = PointsAccount(userID: "u")
        var entries: [PointsLedgerEntry] = []
        entries.append(account.earn(100, key: "o1", ruleID: nil, reason: "x", at: 0, orderID: "o1", expiry: .never, lockDays: 0))
        entries.append(try! account.spend(100, key: "s", reason: "x", at: 1).get())
        entries.append(account.reverse(orderID: "o1", share: 1, key: "r", reason: "refund", at: 2, allowNegative: true)!)
        XCTAssertEqual(account.balance, -100)
        entries.append(account.earn(150, key: "later", ruleID: nil, reason: "x", at: 3, orderID: nil, expiry: .never, lockDays: 0))
        XCTAssertEqual(account.balance, 50)
        XCTAssertEqual(account.debt, 0)
        assertConsistent(account, entries)
    }
}

final class EarningEngineTests: XCTestCase {
    func purchase(_ minor: Int64, items: [(String, String, Int64, Int64)] = [], time: Int64 = 1_780_000_000_000, currency: String = "USD") -> UserEvent {
        var properties: [(key: String, value: JSONValue)] = [(key: "order_id", value: .string("o")), (key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string(currency))]
        if !items.isEmpty {
            properties.append((key: "items", value: .array(items.map { sku, category, quantity, price in
                .object(JSONObject([(key: "sku", value: .string(sku)), (key: "category", value: .string(category)),
                                    (key: "quantity", value: .number(JSONNumber(quantity))), (key: "price_minor", value: .number(JSONNumber(price)))]))
            })))
        }
        return UserEvent(id: "e", userID: "u", type: .purchase, timeMillis: time, properties: JSONObject(properties))
    }

    func points(_ engine: EarningEngine, _ event: UserEvent, _ context: MemberContext = MemberContext(level: "bronze")) -> [String: Int64] {
        var caps = CapUsage()
        return Dictionary(engine.awards(for: event, context: context, caps: &caps).filter { $0.recipient == .member }.map { ($0.ruleID, $0.points) }, uniquingKeysWith: +)
    }

    func testSpendingExcludesSKUsAndCategoriesAndRespectsTheMinimum() {
        let engine = EarningEngine(rules: [EarningRule(id: "spend", kind: .spending(pointsPerUnit: 1, minimumAmount: 10, excludedSKUs: ["gift"], excludedCategories: ["tobacco"]))])
        XCTAssertEqual(points(engine, purchase(5_000, items: [("a", "books", 1, 3_000), ("gift", "cards", 1, 1_000), ("c", "tobacco", 1, 1_000)])), ["spend": 30])
        XCTAssertEqual(points(engine, purchase(999)), [:], "below the minimum")
        XCTAssertEqual(points(engine, purchase(2_550)), ["spend": 25], "whole points, rounded down")
    }

    /// Failed before: the minimum was a count of the points currency's cents compared with the
    /// order's own minor units, so 1,000 yen (6.70 dollars) passed a 10-dollar minimum.
    func testTheMinimumIsInThePointsCurrencyWhateverTheOrdersCurrency() {
        let engine = EarningEngine(rules: [EarningRule(id: "spend", kind: .spending(pointsPerUnit: 1, minimumAmount: 10, excludedSKUs: [], excludedCategories: []))],
                                   pointsCurrency: "USD", exchangeRates: ["USD": 1, "JPY": 0.0067], currencyDigits: ["USD": 2, "JPY": 0])
        XCTAssertEqual(points(engine, purchase(1_000, currency: "JPY")), [:], "6.70 dollars: below the minimum")
        XCTAssertEqual(points(engine, purchase(2_000, currency: "JPY")), ["spend": 13], "13.40 dollars")
    }

    /// Failed before: the referrer's share of a referral arrived uncapped, whatever the rule said.
    func testAReferrersShareIsCappedWhenItArrives() {
        var rule = EarningRule(id: "ref", kind: .referral(on: .firstPurchase, points: 500, pays: .referrer))
        rule.caps = .init(perDay: 800, perWeek: nil, perMonth: nil)
        let engine = EarningEngine(rules: [rule])
        var caps = CapUsage()
        let day: Int64 = 1_780_000_000_000
        XCTAssertEqual(engine.arriving(500, ruleID: "ref", reason: "referral", at: day, caps: &caps).points, 500)
        let second = engine.arriving(500, ruleID: "ref", reason: "referral", at: day + 1000, caps: &caps)
        XCTAssertEqual(second.points, 300)
        XCTAssertEqual(second.reason, "referral (capped at 300 of 500)")
        XCTAssertEqual(engine.arriving(500, ruleID: "ref", reason: "referral", at: day + 2000, caps: &caps).points, 0)
        XCTAssertEqual(engine.arriving(500, ruleID: "retired", reason: "referral", at: day, caps: &caps).points, 500, "a rule no longer configured caps nothing")
    }

    func testFixedMultipliersAndTheLevelMultiplierApplyInOrder() {
        let engine = EarningEngine(rules: [
            EarningRule(id: "spend", kind: .spending(pointsPerUnit: 1, minimumAmount: 0, excludedSKUs: [], excludedCategories: [])),
            EarningRule(id: "books-bonus", kind: .fixed(points: 5, skus: [], categories: ["books"])),
            EarningRule(id: "books-x2", kind: .multiplier(factor: 2, categories: ["books"])),
        ])
        let event = purchase(5_000, items: [("a", "books", 2, 1_000), ("b", "toys", 1, 3_000)])
        XCTAssertEqual(points(engine, event), ["spend": 50, "books-bonus": 10, "books-x2": 30])
        let gold = MemberContext(level: "gold", levelMultiplier: 1.5)
        XCTAssertEqual(points(engine, event, gold)["level:gold"], 45, "half again of the 90 earned")
    }

    func testEventFirstPurchaseStreakAndWindows() {
        let launch: Int64 = 1_780_000_000_000
        let engine = EarningEngine(rules: [
            EarningRule(id: "signup", kind: .event(.event(.signup), points: 100)),
            EarningRule(id: "first", kind: .event(.firstPurchase, points: 200)),
            EarningRule(id: "streak-3", kind: .streak(day: 3, points: 30)),
            EarningRule(id: "campaign", kind: .event(.event(.login), points: 5), activeFromMillis: launch, activeUntilMillis: launch + 86_400_000),
        ])
        XCTAssertEqual(points(engine, UserEvent(id: "s", userID: "u", type: .signup, timeMillis: 0, properties: JSONObject())), ["signup": 100])
        XCTAssertEqual(points(engine, purchase(100)), ["first": 200])
        XCTAssertEqual(points(engine, purchase(100), MemberContext(level: "bronze", purchasesBefore: 1)), [:])
        let checkIn = UserEvent(id: "c", userID: "u", type: .checkIn, timeMillis: 0, properties: JSONObject())
        XCTAssertEqual(points(engine, checkIn, MemberContext(level: "bronze", checkInStreak: 3)), ["streak-3": 30])
        XCTAssertEqual(points(engine, checkIn, MemberContext(level: "bronze", checkInStreak: 4)), [:])
        XCTAssertEqual(points(engine, UserEvent(id: "l", userID: "u", type: .login, timeMillis: launch + 1, properties: JSONObject())), ["campaign": 5])
        XCTAssertEqual(points(engine, UserEvent(id: "l", userID: "u", type: .login, timeMillis: launch + 86_400_000, properties: JSONObject())), [:], "after the window")
    }

    func testTargetingAndCapsPerDayWeekMonth() {
        var rule = EarningRule(id: "post", kind: .event(.event(.post), points: 10), levels: ["silver", "gold"])
        rule.caps = .init(perDay: 25, perWeek: 40)
        let engine = EarningEngine(rules: [rule])
        XCTAssertEqual(points(engine, UserEvent(id: "p", userID: "u", type: .post, timeMillis: 0, properties: JSONObject())), [:], "bronze is not targeted")
        var caps = CapUsage()
        let silver = MemberContext(level: "silver")
        let day: Int64 = 86_400_000
        let monday = try! RFC3339.parse("2026-06-01T10:00:00Z")  // a Monday
        func post(_ time: Int64) -> Int64 { engine.awards(for: UserEvent(id: "p", userID: "u", type: .post, timeMillis: time, properties: JSONObject()), context: silver, caps: &caps).reduce(0) { $0 + $1.points } }
        XCTAssertEqual([post(monday), post(monday + 1), post(monday + 2)], [10, 10, 5], "25 a day")
        XCTAssertEqual([post(monday + day), post(monday + day + 1)], [10, 5], "40 a week")
        XCTAssertEqual(post(monday + 7 * day), 10, "a new week")
    }

    func testReferralPaysTheConfiguredParties() {
        let engine = EarningEngine(rules: [EarningRule(id: "ref", kind: .referral(on: .firstPurchase, points: 500, pays: .both))])
        var caps = CapUsage()
        let awards = engine.awards(for: purchase(100), context: MemberContext(level: "bronze", referredBy: "alice"), caps: &caps)
        XCTAssertEqual(awards.map(\.recipient), [.member, .other("alice")])
        XCTAssertEqual(awards.map(\.points), [500, 500])
        XCTAssertTrue(engine.awards(for: purchase(100), context: MemberContext(level: "bronze"), caps: &caps).isEmpty, "not referred")
    }

    func testBlockedMembersEarnNothingAndSegmentEntryBonuses() {
        let engine = EarningEngine(rules: [
            EarningRule(id: "spend", kind: .spending(pointsPerUnit: 1, minimumAmount: 0, excludedSKUs: [], excludedCategories: [])),
            EarningRule(id: "vip", kind: .segmentEntry(dimension: "tier", value: "S", points: 1_000)),
        ])
        XCTAssertEqual(points(engine, purchase(10_000), MemberContext(level: "bronze", canEarn: false)), [:])
        var caps = CapUsage()
        XCTAssertEqual(engine.awards(forSegment: "tier", value: "S", at: 0, context: MemberContext(level: "bronze"), caps: &caps).map(\.points), [1_000])
        XCTAssertTrue(engine.awards(forSegment: "tier", value: "A", at: 0, context: MemberContext(level: "bronze"), caps: &caps).isEmpty)
    }
}

final class LevelTests: XCTestCase {
    let policy = LevelPolicy(levels: [
        MembershipLevel(name: "bronze", threshold: 0),
        MembershipLevel(name: "silver", threshold: 1_000, pointsMultiplier: 1.2),
        MembershipLevel(name: "gold", threshold: 5_000, pointsMultiplier: 1.5, benefits: ["free_delivery": "true"]),
    ], graceDays: 30)
    func t(_ text: String) -> Int64 { try! RFC3339.parse(text) }

    func testUpgradeAtOnceDowngradeOnlyAtEvaluationAfterGrace() {
        var state = LevelState(level: "bronze")
        state.addGrowth(1_200, at: t("2025-03-10T00:00:00Z"))
        XCTAssertEqual(state.evaluate(at: t("2025-03-10T00:00:00Z"), policy: policy)?.to, "silver", "upgrade at once")
        state.noteEvaluated(at: t("2025-03-10T00:00:00Z"))
        // The growth leaves the rolling 12 months in March 2026.
        XCTAssertNil(state.evaluate(at: t("2026-02-20T00:00:00Z"), policy: policy), "still within 12 months")
        XCTAssertEqual(state.growthValue(at: t("2026-03-10T00:00:00Z")), 0)
        XCTAssertNil(state.evaluate(at: t("2026-03-10T00:00:00Z"), policy: policy), "below since today: the grace period starts")
        XCTAssertNil(state.evaluate(at: t("2026-04-01T00:00:00Z"), policy: policy), "an evaluation date, but only 22 days of grace")
        XCTAssertNil(state.evaluate(at: t("2026-04-20T00:00:00Z"), policy: policy), "grace over, but not an evaluation date")
        let change = state.evaluate(at: t("2026-05-01T00:00:00Z"), policy: policy)
        XCTAssertEqual(change?.from, "silver")
        XCTAssertEqual(change?.to, "bronze")
        XCTAssertEqual(state.level, "bronze")
    }

    func testRegainingTheLevelDuringGraceCancelsTheDowngrade() {
        var state = LevelState(level: "silver")
        XCTAssertNil(state.evaluate(at: t("2026-01-01T00:00:00Z"), policy: policy))
        state.addGrowth(2_000, at: t("2026-01-15T00:00:00Z"))
        XCTAssertNil(state.evaluate(at: t("2026-01-15T00:00:00Z"), policy: policy))
        XCTAssertNil(state.evaluate(at: t("2026-03-01T00:00:00Z"), policy: policy))
        XCTAssertEqual(state.level, "silver")
    }
}
