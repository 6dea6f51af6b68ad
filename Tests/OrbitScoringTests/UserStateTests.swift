import OrbitContract
import OrbitScoring
import XCTest

final class UserStateTests: XCTestCase {
    let policy: ScoringPolicy = {
        var p = ScoringPolicy()
        p.exchangeRates = ["USD": 1, "EUR": 1.1]
        p.currencyDigits = ["USD": 2, "EUR": 2, "JPY": 0]
        return p
    }()
    let day: Int64 = 86_400_000

    func event(_ id: String, _ type: EventType, day d: Int64, _ properties: [(String, JSONValue)] = [], user: String = "u1") -> UserEvent {
        UserEvent(id: id, userID: user, type: type, timeMillis: d * day + 3_600_000, properties: JSONObject(properties.map { (key: $0.0, value: $0.1) }))
    }

    func purchase(_ id: String, day d: Int64, minor: Int64, currency: String = "USD", category: String? = nil) -> UserEvent {
        var props: [(String, JSONValue)] = [("order_id", .string("o-\(id)")), ("amount_minor", .number(JSONNumber(minor))), ("currency", .string(currency))]
        if let category {
            props.append(("items", .array([.object(JSONObject([(key: "sku", value: .string("s")), (key: "category", value: .string(category))]))])))
        }
        return event(id, .purchase, day: d, props)
    }

    func testPurchasesRefundsAndTheRFMWindow() {
        var s = UserState()
        _ = s.apply(event("e0", .signup, day: 100), policy: policy)
        _ = s.apply(purchase("p1", day: 110, minor: 10_000, category: "books"), policy: policy)
        _ = s.apply(purchase("p2", day: 200, minor: 5_000, currency: "EUR", category: "games"), policy: policy)
        _ = s.apply(event("r1", .refund, day: 205, [("amount_minor", .number(JSONNumber(2_000))), ("currency", .string("USD"))]), policy: policy)
        XCTAssertEqual(s.purchases, 2)
        XCTAssertEqual(s.grossMinor, 15_500, "EUR converted at 1.1")
        XCTAssertEqual(s.refundedMinor, 2_000)
        XCTAssertEqual(s.firstPurchaseDay, 110)
        XCTAssertEqual(s.lastPurchaseDay, 200)
        XCTAssertEqual(s.categorySpend.map(\.name).sorted(), ["books", "games"], "categories counted by name")
        XCTAssertEqual(s.categoryVariety, 2)
        let window = s.window(today: 210, days: 365)
        XCTAssertEqual(window.purchases, 2)
        XCTAssertEqual(window.netMinor, 13_500)
        XCTAssertEqual(s.window(today: 560, days: 365).purchases, 1, "the first purchase left the window")
    }

    func testReplayingTheSameRecordsChangesNothing() {
        var s = UserState()
        let events = [event("a", .signup, day: 1), purchase("b", day: 2, minor: 100), event("c", .post, day: 3), purchase("d", day: 9, minor: 300)]
        for (offset, e) in events.enumerated() where !s.alreadyApplied(input: 0, offset: Int64(offset), id: e.id) { _ = s.apply(e, policy: policy) }
        let once = s
        for (offset, e) in events.enumerated() where !s.alreadyApplied(input: 0, offset: Int64(offset), id: e.id) { _ = s.apply(e, policy: policy) }
        XCTAssertEqual(s, once, "same offsets: skipped")
        for (offset, e) in events.enumerated() where !s.alreadyApplied(input: 0, offset: Int64(offset + 100), id: e.id) { _ = s.apply(e, policy: policy) }
        XCTAssertEqual(s.purchases, once.purchases, "same events at new offsets (an upstream replay): skipped by id")
        XCTAssertEqual(s.grossMinor, once.grossMinor)
    }

    func testEncodingRoundTrips() throws {
        var s = UserState()
        _ = s.apply(event("a", .signup, day: 1), policy: policy)
        _ = s.apply(purchase("b", day: 2, minor: 100, category: "x"), policy: policy)
        _ = s.apply(event("c", .checkIn, day: 3), policy: policy)
        _ = s.apply(event("d", .complaint, day: 4), policy: policy)
        _ = s.apply(ReferralCredit(id: "z:referred", target: "u1", kind: .referredBy, referee: "", amountMinor: 0), sender: "u9")
        _ = s.alreadyApplied(input: 1, offset: 7, id: "z:referred")
        s.lastSegment = .generalDevelop
        s.lastTier = .b
        s.customSegments = ["big", "drifting"]
        let bytes = s.encoded()
        XCTAssertEqual(try UserState(decoding: bytes), s)
        // A value written before the operators' segments were appended reads with none.
        var older = s
        older.customSegments = []
        older.firstTouch = nil; older.categorySpend = []; older.activityClock = []; older.recentEvents = []
        XCTAssertEqual(try UserState(decoding: Array(older.encoded().dropLast(PortraitTests.emptyPortraitBytes + 1))), older)
        XCTAssertLessThan(bytes.count, 400, "a user state stays small: \(bytes.count) bytes")
        XCTAssertThrowsError(try UserState(decoding: Array(bytes.prefix(10))))
        XCTAssertThrowsError(try UserState(decoding: [99]))
    }

    func testCheckInStreaks() {
        var s = UserState()
        for d in [10, 11, 12, 12, 14, 15] as [Int64] { _ = s.apply(event("c\(d)-\(s.checkInStreak)", .checkIn, day: d), policy: policy) }
        XCTAssertEqual(s.checkInStreak, 2)
        XCTAssertEqual(s.checkInLongest, 3)
    }

    func testAComebackAfterAChurnLongQuietSpellIsAReactivation() {
        var s = UserState()
        _ = s.apply(purchase("a", day: 10, minor: 100), policy: policy)
        _ = s.apply(event("r", .refund, day: 150, [("amount_minor", .number(JSONNumber(10))), ("currency", .string("USD"))]), policy: policy)
        XCTAssertNil(s.reactivatedDay, "a refund is not activity")
        _ = s.apply(event("l", .login, day: 300), policy: policy)
        XCTAssertEqual(s.reactivatedDay, 300)
        XCTAssertEqual(s.activeSinceDay, 300)
    }

    func testReferralCreditsGiveTheSameTotalsInEitherOrder() {
        // Order A: the referral reaches the referee before their purchases.
        var refereeA = UserState()
        var creditsA = refereeA.apply(ReferralCredit(id: "ref:referred", target: "b", kind: .referredBy, referee: "", amountMinor: 0), sender: "a")
        creditsA += refereeA.apply(purchase("p1", day: 5, minor: 1_000), policy: policy)
        creditsA += refereeA.apply(purchase("p2", day: 6, minor: 500), policy: policy)
        // Order B: purchases first.
        var refereeB = UserState()
        var creditsB = refereeB.apply(purchase("p1", day: 5, minor: 1_000), policy: policy)
        creditsB += refereeB.apply(purchase("p2", day: 6, minor: 500), policy: policy)
        creditsB += refereeB.apply(ReferralCredit(id: "ref:referred", target: "b", kind: .referredBy, referee: "", amountMinor: 0), sender: "a")
        var referrerA = UserState(), referrerB = UserState()
        for c in creditsA { XCTAssertEqual(c.target, "a"); _ = referrerA.apply(c, sender: "b") }
        for c in creditsB { XCTAssertEqual(c.target, "a"); _ = referrerB.apply(c, sender: "b") }
        XCTAssertEqual(referrerA.convertedReferrals, 1)
        XCTAssertEqual(referrerB.convertedReferrals, 1)
        XCTAssertEqual(referrerA.referralSpendMinor, 1_500)
        XCTAssertEqual(referrerB.referralSpendMinor, 1_500)
    }

    func testReferralEventSendsTheRefereeItsReferrer() {
        var s = UserState()
        let credits = s.apply(event("r1", .referral, day: 3, [("referred_user_id", .string("friend"))]), policy: policy)
        XCTAssertEqual(s.referrals, 1)
        XCTAssertEqual(credits, [ReferralCredit(id: "r1:referred", target: "friend", kind: .referredBy, referee: "", amountMinor: 0, timeMillis: 3 * day + 3_600_000)])
        let decoded = ReferralCredit.decode(credits[0].encoded(sender: "u1"), target: "friend")
        XCTAssertEqual(decoded?.sender, "u1")
        XCTAssertEqual(decoded?.credit.id, "r1:referred")
    }

    func testProfileEvaluationIsDeterministicAndReportsChanges() {
        var s = UserState()
        _ = s.apply(event("a", .signup, day: 20_000), policy: policy)
        for i in 0..<5 { _ = s.apply(purchase("p\(i)", day: 20_000 + Int64(i) * 10, minor: 20_000), policy: policy) }
        let evaluator = ProfileEvaluator(policy: policy)
        let thresholds = PopulationThresholds(rfm: policy.rfmThresholds, superUserSpendMinor: 50_000)
        var first = s
        let (profile, changes) = evaluator.evaluate(&first, userID: "u1", today: 20_050, thresholds: thresholds)
        XCTAssertEqual(profile.rfmScore, RFMScore(recency: 5, frequency: 4, monetary: 4))
        XCTAssertEqual(profile.segment, .importantValue)
        XCTAssertEqual(profile.lifecycle.stage, .active)
        XCTAssertEqual(Set(changes.map(\.dimension)), [.segment, .lifecycle, .tier], "not a super user (tenure 50 days): no change to report")
        XCTAssertNotNil(profile.probabilityAlive)
        XCTAssertGreaterThan(profile.expectedPurchases90d!, profile.expectedPurchases30d!)
        var second = s
        let (again, _) = evaluator.evaluate(&second, userID: "u1", today: 20_050, thresholds: thresholds)
        XCTAssertEqual(profile.encoded(), again.encoded(), "same state, same day: same bytes")
        let (_, noChanges) = evaluator.evaluate(&first, userID: "u1", today: 20_050, thresholds: thresholds)
        XCTAssertTrue(noChanges.isEmpty, "nothing changed since the last evaluation")
        let (later, lapse) = evaluator.evaluate(&first, userID: "u1", today: 20_200, thresholds: thresholds)
        XCTAssertEqual(later.lifecycle.stage, .atRisk)
        XCTAssertTrue(lapse.contains { $0.dimension == .lifecycle && $0.from == "active" && $0.to == "at_risk" })
    }
}

final class ReferralTieBreakTests: XCTestCase {
    func testTheEarliestReferralWinsWhateverTheArrivalOrder() {
        var policy = ScoringPolicy()
        policy.currencyDigits = ["USD": 2]
        let purchase = UserEvent(id: "p", userID: "x", type: .purchase, timeMillis: 5_000,
                                 properties: JSONObject([(key: "amount_minor", value: .number(JSONNumber(700))), (key: "currency", value: .string("USD"))]))
        let early = ReferralCredit(id: "a:referred", target: "x", kind: .referredBy, referee: "", amountMinor: 0, timeMillis: 1_000)
        let late = ReferralCredit(id: "b:referred", target: "x", kind: .referredBy, referee: "", amountMinor: 0, timeMillis: 2_000)
        func run(_ steps: [(ReferralCredit?, String)]) -> [String: UserState] {
            var referee = UserState()
            var referrers: [String: UserState] = ["a": UserState(), "b": UserState()]
            for (credit, sender) in steps {
                let out = credit.map { referee.apply($0, sender: sender) } ?? referee.apply(purchase, policy: policy)
                for c in out { _ = referrers[c.target]!.apply(c, sender: "x") }
            }
            return referrers
        }
        let orders: [[(ReferralCredit?, String)]] = [
            [(early, "a"), (late, "b"), (nil, "")], [(late, "b"), (early, "a"), (nil, "")],
            [(late, "b"), (nil, ""), (early, "a")], [(nil, ""), (late, "b"), (early, "a")],
        ]
        for order in orders {
            let referrers = run(order)
            XCTAssertEqual(referrers["a"]!.convertedReferrals, 1)
            XCTAssertEqual(referrers["a"]!.referralSpendMinor, 700)
            XCTAssertEqual(referrers["b"]!.convertedReferrals, 0)
            XCTAssertEqual(referrers["b"]!.referralSpendMinor, 0)
        }
    }
}

/// Failed before: a referral credit's id depended on whether the purchase or the referral reached
/// the referee first (`P:converted` or `C:late-conversion`), so a replay that interleaved them the
/// other way credited the referrer twice.
final class ReferralReplayTests: XCTestCase {
    func testAReplayInAnotherOrderDoesNotCreditTheReferrerTwice() {
        var policy = ScoringPolicy()
        policy.currencyDigits = ["USD": 2]
        func purchase(_ id: String, _ minor: Int64) -> UserEvent {
            UserEvent(id: id, userID: "b", type: .purchase, timeMillis: 5_000,
                      properties: JSONObject([(key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD"))]))
        }
        let referral = ReferralCredit(id: "r:referred", target: "b", kind: .referredBy, referee: "", amountMinor: 0, timeMillis: 1_000)
        var referrer = UserState()
        // The first run: a purchase, then the referral, then another purchase.
        var first = UserState()
        var credits = first.apply(purchase("p1", 1_000), policy: policy)
        credits += first.apply(referral, sender: "a")
        credits += first.apply(purchase("p2", 500), policy: policy)
        // A crash, and the replay from the last committed state (empty) interleaves the other way;
        // the referrer receives the replay's credits on top of the first run's.
        var replay = UserState()
        credits += replay.apply(referral, sender: "a")
        credits += replay.apply(purchase("p1", 1_000), policy: policy)
        credits += replay.apply(purchase("p2", 500), policy: policy)
        for credit in credits { _ = referrer.apply(credit, sender: "b") }
        XCTAssertEqual(referrer.convertedReferrals, 1)
        XCTAssertEqual(referrer.referralSpendMinor, 1_500)
        // In any order, any number of times.
        var shuffled = UserState()
        for credit in (credits + credits).reversed() { _ = shuffled.apply(credit, sender: "b") }
        XCTAssertEqual(shuffled.convertedReferrals, 1)
        XCTAssertEqual(shuffled.referralSpendMinor, 1_500)
        XCTAssertEqual(try UserState(decoding: referrer.encoded()), referrer)
    }

    func testSegmentChangeRecordCarriesItsID() throws {
        let change = SegmentChange(userID: "user \"7\"", dimension: .superUser, from: nil, to: "true", reason: "r", day: 20_431)
        let object = try XCTUnwrap(try JSONParser.parse(change.encoded()).objectValue)
        XCTAssertEqual(object["id"]?.stringValue, change.id)
        XCTAssertEqual(change.id, "user \"7\":super_user:true:20431")
    }
}
