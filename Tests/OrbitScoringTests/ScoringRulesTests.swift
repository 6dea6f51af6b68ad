import OrbitScoring
import OrbitRuntime
import OrbitContract
import XCTest

final class RFMTests: XCTestCase {
    let thresholds = RFMThresholds(recencyDays: [7, 30, 90, 180], frequency: [2, 3, 5, 10], monetaryMinor: [5_000, 20_000, 50_000, 200_000])

    func testRecencyBoundariesAreInclusive() {
        func r(_ days: Int?) -> Int { thresholds.score(RFMValues(recencyDays: days, frequency: 1, monetaryMinor: 0)).recency }
        XCTAssertEqual(r(0), 5)
        XCTAssertEqual(r(7), 5)
        XCTAssertEqual(r(8), 4)
        XCTAssertEqual(r(30), 4)
        XCTAssertEqual(r(31), 3)
        XCTAssertEqual(r(90), 3)
        XCTAssertEqual(r(180), 2)
        XCTAssertEqual(r(181), 1)
        XCTAssertEqual(r(nil), 1, "never bought")
    }

    func testFrequencyAndMonetaryBoundariesAreInclusive() {
        func fm(_ f: Int, _ m: Int64) -> (Int, Int) {
            let s = thresholds.score(RFMValues(recencyDays: 1, frequency: f, monetaryMinor: m))
            return (s.frequency, s.monetary)
        }
        XCTAssertTrue(fm(0, 0) == (1, 1))
        XCTAssertTrue(fm(1, 4_999) == (1, 1))
        XCTAssertTrue(fm(2, 5_000) == (2, 2))
        XCTAssertTrue(fm(3, 20_000) == (3, 3))
        XCTAssertTrue(fm(9, 199_999) == (4, 4))
        XCTAssertTrue(fm(10, 200_000) == (5, 5))
        XCTAssertTrue(fm(1000, -500) == (5, 1), "net refunds score as low spend")
    }

    func testAllEightSegments() {
        func segment(_ r: Int, _ f: Int, _ m: Int) -> RFMSegment { RFMSegment(RFMScore(recency: r, frequency: f, monetary: m)) }
        XCTAssertEqual(segment(5, 5, 5), .importantValue)
        XCTAssertEqual(segment(2, 4, 4), .importantKeep)
        XCTAssertEqual(segment(4, 1, 5), .importantDevelop)
        XCTAssertEqual(segment(1, 2, 3), .importantRetain)
        XCTAssertEqual(segment(3, 3, 2), .generalValue)
        XCTAssertEqual(segment(2, 5, 1), .generalKeep)
        XCTAssertEqual(segment(5, 1, 1), .generalDevelop)
        XCTAssertEqual(segment(1, 1, 1), .generalRetain)
        XCTAssertEqual(Set(RFMSegment.allCases).count, 8)
        XCTAssertEqual(RFMSegment(RFMScore(recency: 4, frequency: 4, monetary: 4), highFrom: 5), .generalRetain, "the high mark is configurable")
    }
}

final class QuantileSketchTests: XCTestCase {
    func testQuantilesAreWithinTheRelativeAccuracy() {
        var sketch = QuantileSketch(relativeAccuracy: 0.01)
        let values = (1...10_000).map { Double($0) }
        for v in values { sketch.add(v) }
        for q in [0.1, 0.2, 0.5, 0.8, 0.9, 0.99] {
            let exact = values[Int(q * Double(values.count - 1))]
            XCTAssertEqual(sketch.quantile(q)!, exact, accuracy: exact * 0.011, "q=\(q)")
        }
        XCTAssertEqual(sketch.count, 10_000)
    }

    func testMergingPartitionSketchesEqualsOneSketchOfEverything() {
        var all = QuantileSketch(), left = QuantileSketch(), right = QuantileSketch()
        for i in 0..<5_000 {
            let v = Double((i * 7919) % 100_000)
            all.add(v)
            if i % 2 == 0 { left.add(v) } else { right.add(v) }
        }
        left.merge(right)
        XCTAssertEqual(left, all)
        XCTAssertEqual(left.quantile(0.5), all.quantile(0.5))
    }

    func testZerosAndRemoval() {
        var sketch = QuantileSketch()
        for _ in 0..<8 { sketch.add(0) }
        sketch.add(100)
        sketch.add(200)
        XCTAssertEqual(sketch.quantile(0.5), 0)
        XCTAssertEqual(sketch.quantile(1)!, 200, accuracy: 2)
        sketch.remove(200)
        XCTAssertEqual(sketch.quantile(1)!, 100, accuracy: 1)
        XCTAssertNil(QuantileSketch().quantile(0.5))
    }
}

final class LifecycleTests: XCTestCase {
    let policy = LifecyclePolicy()  // new 30, at risk 60, churned 180, reactivated 30, P(alive) 0.3

    func facts(signup: Int32? = 0, lastActivity: Int32, activeSince: Int32? = nil, reactivated: Int32? = nil,
               purchases: Int = 0, alive: Double? = nil) -> LifecycleFacts {
        LifecycleFacts(signupDay: signup, firstSeenDay: signup ?? 0, lastActivityDay: lastActivity, activeSinceDay: activeSince,
                       reactivatedDay: reactivated, purchases: purchases, probabilityAlive: alive)
    }

    func testEveryStageWithItsReasonAndStartDay() {
        var d = policy.evaluate(facts(lastActivity: 10), today: 10)
        XCTAssertEqual(d.stage, .new)
        XCTAssertTrue(d.reason.contains("no purchase"))
        XCTAssertEqual(d.since, 0)

        d = policy.evaluate(facts(lastActivity: 20, purchases: 1), today: 20)
        XCTAssertEqual(d.stage, .active)

        d = policy.evaluate(facts(lastActivity: 20, purchases: 1), today: 80)
        XCTAssertEqual(d.stage, .atRisk)
        XCTAssertTrue(d.reason.contains("60 days"), d.reason)
        XCTAssertEqual(d.since, 80)

        d = policy.evaluate(facts(lastActivity: 20, purchases: 1), today: 250)
        XCTAssertEqual(d.stage, .churned)
        XCTAssertEqual(d.since, 200, "churned from the day the quiet spell reached 180 days")

        d = policy.evaluate(facts(lastActivity: 210, activeSince: 210, reactivated: 210, purchases: 2), today: 215)
        XCTAssertEqual(d.stage, .reactivated)
        XCTAssertEqual(d.since, 210)
        XCTAssertEqual(d.reason, "active again after being churned")

        d = policy.evaluate(facts(lastActivity: 245, activeSince: 210, reactivated: 210, purchases: 3), today: 245)
        XCTAssertEqual(d.stage, .active, "reactivated lasts 30 days")
        XCTAssertEqual(d.since, 240)

        d = policy.evaluate(facts(lastActivity: 245, purchases: 3, alive: 0.1), today: 246)
        XCTAssertEqual(d.stage, .atRisk)
        XCTAssertTrue(d.reason.contains("probability alive 10 %"), d.reason)
    }

    func testNewUserWhoNeverBuysBecomesActiveThenAtRiskThenChurned() {
        XCTAssertEqual(policy.evaluate(facts(lastActivity: 29), today: 29).stage, .new)
        XCTAssertEqual(policy.evaluate(facts(lastActivity: 35), today: 35).stage, .active, "past the new window, still visiting")
        XCTAssertEqual(policy.evaluate(facts(lastActivity: 5), today: 65).stage, .atRisk)
        XCTAssertEqual(policy.evaluate(facts(lastActivity: 5), today: 185).stage, .churned)
    }

    func testBoundariesAreInclusive() {
        XCTAssertEqual(policy.evaluate(facts(lastActivity: 0, purchases: 1), today: 59).stage, .active)
        XCTAssertEqual(policy.evaluate(facts(lastActivity: 0, purchases: 1), today: 60).stage, .atRisk)
        XCTAssertEqual(policy.evaluate(facts(lastActivity: 0, purchases: 1), today: 179).stage, .atRisk)
        XCTAssertEqual(policy.evaluate(facts(lastActivity: 0, purchases: 1), today: 180).stage, .churned)
    }
}

final class TierAndSuperUserTests: XCTestCase {
    func testPlusVariablesRaiseAndMinusVariablesLowerTheScore() {
        let policy = TierPolicy()
        let base = EvaluationInputs(spend: 500, variety: 3, tenureYears: 1, engagement: 10)
        let better = EvaluationInputs(spend: 5_000, variety: 3, tenureYears: 1, convertedReferrals: 2, engagement: 10)
        let worse = EvaluationInputs(spend: 500, variety: 3, tenureYears: 1, engagement: 10, overduePayments: 2, refundRatio: 0.5, complaints: 3)
        XCTAssertGreaterThan(policy.score(better), policy.score(base))
        XCTAssertLessThan(policy.score(worse), policy.score(base))
        XCTAssertEqual(policy.score(EvaluationInputs()), 0)
    }

    func testTierCutoffsAreInclusive() {
        var policy = TierPolicy()
        policy.sCutoff = 10
        policy.aCutoff = 5
        XCTAssertEqual(policy.tier(forScore: 10), .s)
        XCTAssertEqual(policy.tier(forScore: 9.999), .a)
        XCTAssertEqual(policy.tier(forScore: 5), .a)
        XCTAssertEqual(policy.tier(forScore: 4.999), .b)
        XCTAssertLessThan(ValueTier.b, ValueTier.s)
    }

    func testTierWeightsComeFromConfiguration() {
        var policy = TierPolicy()
        policy.weights = TierWeights(complaints: 10)
        XCTAssertEqual(policy.score(EvaluationInputs(spend: 10_000)), 0)
        XCTAssertLessThan(policy.score(EvaluationInputs(complaints: 1)), -6)
    }

    func testTierWeightsAreReadByNameAndAnUnknownNameIsAnError() throws {
        let yaml = "scoring:\n  tier:\n    weights:\n      spend: 2.5\n      refund_ratio: 0\n"
        let settings = try ScoringSettings(document: ConfigDocument(yaml: yaml, file: "scoring.yaml", environment: [:]))
        var expected = TierWeights.defaults
        expected.spend = 2.5
        expected.refundRatio = 0
        XCTAssertEqual(settings.policy.tier.weights, expected, "named weights replace the defaults, the others stay")
        for variable in TierVariable.allCases {
            var weights = TierWeights()
            weights[variable] = 7
            XCTAssertEqual(weights[variable], 7)
            XCTAssertEqual(TierVariable.allCases.filter { weights[$0] != 0 }, [variable], "\(variable) has a field of its own")
        }
        let typo = "scoring:\n  tier:\n    weights:\n      spend: 1\n      speed: 2\n"
        XCTAssertThrowsError(try ScoringSettings(document: ConfigDocument(yaml: typo, file: "scoring.yaml", environment: [:]))) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("scoring.yaml") && message.contains("speed"), message)
        }
    }

    /// The profile writes each shortfall part by part; what it writes is exactly its description.
    func testSuperUserShortfallsAreWrittenAsTheirDescription() throws {
        let all: [SuperUserShortfall] = [
            .paidPurchases(1, needs: 2), .spendBelowTop(percent: 10), .populationSpendUnknown, .tenureDays(0, needs: 30),
            .communityActions30d(12, needs: 100), .convertedReferrals(0, needs: 1),
        ]
        for shortfall in all {
            var writer = JSONWriter()
            shortfall.write(to: &writer)
            XCTAssertEqual(try JSONParser.parse(writer.bytes), .string(shortfall.description))
        }
        XCTAssertEqual(all[0].description, "paid 1 times (needs 2)")
        XCTAssertEqual(all[1].description, "spend below the top 10 %")
    }

    func testSuperUserNeedsEveryConfiguredCriterion() {
        var policy = SuperUserPolicy()
        policy.minConvertedReferrals = 1
        let mvp = SuperUserPolicy.Facts(paidPurchases: 3, netSpendMinor: 90_000, tenureDays: 120, communityActions30d: 8, convertedReferrals: 1)
        XCTAssertTrue(policy.evaluate(mvp, spendThreshold: 80_000).isSuperUser)
        var oneShort = mvp
        oneShort.paidPurchases = 1
        let result = policy.evaluate(oneShort, spendThreshold: 80_000)
        XCTAssertFalse(result.isSuperUser)
        XCTAssertEqual(result.missing.map(\.description), ["paid 1 times (needs 2)"])
        XCTAssertFalse(policy.evaluate(mvp, spendThreshold: 95_000).isSuperUser, "not in the top decile")
        XCTAssertFalse(policy.evaluate(mvp, spendThreshold: nil).isSuperUser, "no population figure yet")
        var lenient = SuperUserPolicy()
        lenient.minSpendQuantile = nil
        lenient.minTenureDays = nil
        lenient.minCommunityActions30d = nil
        XCTAssertTrue(lenient.evaluate(oneShort.with(paid: 2), spendThreshold: nil).isSuperUser, "unset criteria are not checked")
    }
}

extension SuperUserPolicy.Facts {
    func with(paid: Int) -> Self {
        var copy = self
        copy.paidPurchases = paid
        return copy
    }
}
