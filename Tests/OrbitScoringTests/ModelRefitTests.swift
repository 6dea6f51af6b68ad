import Foundation
import OrbitContract
import OrbitCore
import OrbitKafka
import OrbitRuntime
import OrbitScoring
import OrbitTestKit
import XCTest

/// Refitting the churn models from a deployment's own customers: what is refused and why, the
/// model record (read by the model file's reader), the calibration-period fit, and scorers that
/// take a deployed model from `orbit.models` without a restart (and keep theirs when it is bad).
final class ModelRefitTests: XCTestCase {
    let now = try! RFC3339.parse("2026-03-10T12:00:00Z")

    func testAFitOfTooFewCustomersOrOneThatDoesNotConvergeIsRefusedWithTheReason() {
        let customers = ChurnModelTests.cdnow
        guard case .failure(let few) = ChurnModelFit.fit(Array(customers.prefix(150)), timeUnitDays: 7) else { return XCTFail("150 customers were fitted") }
        XCTAssertEqual(few, .tooFewCustomers(150, minimum: 200))
        XCTAssertEqual(few.code, "too_few_customers")
        let oneTimers = customers.filter { $0.frequency == 0 } + customers.filter { $0.frequency > 0 }.prefix(10)
        guard case .failure(let repeats) = ChurnModelFit.fit(oneTimers, timeUnitDays: 7) else { return XCTFail("10 repeat customers were fitted") }
        XCTAssertEqual(repeats, .tooFewRepeatCustomers(10, minimum: 50))
        guard case .failure(let stopped) = ChurnModelFit.fit(customers, timeUnitDays: 7, requirements: .init(maxIterations: 30)) else {
            return XCTFail("30 iterations converged")
        }
        XCTAssertEqual(stopped, .notConverged(model: "BG/NBD", iterations: 30))
        // Too few customers with a valued repeat purchase for the spend model: BG/NBD is fitted,
        // and the spend model in use stays.
        let unvalued = customers.enumerated().map { i, c in
            CustomerHistory(frequency: c.frequency, recency: c.recency, age: c.age, monetaryValue: i < 300 ? c.monetaryValue : 0)
        }
        guard case .success(let purchasesOnly) = ChurnModelFit.fit(unvalued, timeUnitDays: 7, requirements: .init(minRepeatCustomers: 200)) else { return XCTFail("refused") }
        XCTAssertNil(purchasesOnly.spend)
        XCTAssertEqual(purchasesOnly.spendCustomers, 0)
        XCTAssertTrue(stopped.description.contains("did not converge in 30 iterations"))
    }

    func testTheModelRecordIsTheModelFileAsJSONAndReadsBackExactly() throws {
        guard case .success(let fit) = ChurnModelFit.fit(ChurnModelTests.cdnow, timeUnitDays: 7) else { return XCTFail("CDNOW was refused") }
        XCTAssertEqual(fit.purchases.r, 0.243, accuracy: 0.001)
        XCTAssertEqual(fit.customers, 2357)
        let bytes = ModelRecord.deployed(fit, keptSpend: ScoringPolicy().spendModel, source: "cdnow", fittedAtMillis: now)
        var policy = ScoringPolicy()
        policy.modelTimeUnitDays = 1
        try ModelRecord.read(bytes, into: &policy)
        XCTAssertEqual(policy.purchaseModel, fit.purchases, "every parameter to the last bit")
        XCTAssertEqual(policy.spendModel, try XCTUnwrap(fit.spend))
        XCTAssertEqual(policy.modelTimeUnitDays, 7)
        let object = try XCTUnwrap(JSONParser.parse(bytes).objectValue)
        XCTAssertEqual(object["fitted"]?.objectValue?["customers"]?.numberValue?.int64Value, 2357)

        // A record that reached the topic anyway is refused with the field, as the file would be.
        var unused = ScoringPolicy()
        XCTAssertThrowsError(try ModelRecord.read(Array(#"{"version":1,"time_unit_days":7,"bgnbd":{"r":-1,"alpha":1,"a":1,"b":1},"gamma_gamma":{"p":1,"q":2,"v":1}}"#.utf8), into: &unused)) {
            XCTAssertEqual(($0 as? ConfigError)?.field, "bgnbd.r")
        }
        XCTAssertThrowsError(try ModelRecord.read(Array(#"{"version":2,"bgnbd":{}}"#.utf8), into: &unused)) { XCTAssertEqual(($0 as? ConfigError)?.field, "version") }
        XCTAssertThrowsError(try ModelRecord.read(Array(#"{"time_unit_days":7}"#.utf8), into: &unused)) { XCTAssertEqual(($0 as? ConfigError)?.field, "version") }

        let refused = ModelRecord.attempt(.failure(.tooFewCustomers(3, minimum: 200)), source: "state", atMillis: now)
        let attempt = try XCTUnwrap(JSONParser.parse(refused).objectValue)
        XCTAssertEqual(attempt["status"]?.stringValue, "refused")
        XCTAssertEqual(attempt["reason"]?.objectValue?["code"]?.stringValue, "too_few_customers")
    }

    /// Customers who buy as BG/NBD says (Poisson while alive, dropping out after a purchase), so
    /// a fit on the calibration period predicts the holdout, where a model of other customers
    /// (CDNOW's, in weeks) does not.
    func testTheCalibrationShowsTheDeployedModelAndOneFittedOnTheCalibrationPeriodAlone() {
        var random = SeededRandom(seed: 11)
        func uniform() -> Double { Double(random.next(upTo: 1_000_000) + 1) / 1_000_001 }
        var days: [[Double]] = []
        for _ in 0..<3000 {
            // A rate from Gamma(2, 60 days) and a drop-out probability from Beta(1, 4): the
            // model's own form, with parameters far from CDNOW's.
            let rate = (-log(uniform()) - log(uniform())) / 60
            let dropout = 1 - pow(uniform(), 1.0 / 4)
            var t = uniform() * 300
            var purchases = [t]
            while true {
                t += -log(uniform()) / rate
                guard t < 500 else { break }
                purchases.append(t)
                if uniform() < dropout { break }
            }
            days.append(purchases)
        }
        let calibration = ModelCalibration(purchaseDays: days, cutOffDay: 400, endDay: 500, model: ScoringPolicy().purchaseModel, unitDays: 7, fitCalibrationPeriod: true)
        XCTAssertNotNil(calibration.calibrationFit)
        XCTAssertNil(calibration.calibrationFitRefusal)
        var fittedError = 0.0, shippedError = 0.0
        for bucket in calibration.buckets where bucket.customers >= 30 {
            fittedError += abs((bucket.predictedByCalibrationFit ?? .nan) - bucket.actual) * Double(bucket.customers)
            shippedError += abs(bucket.predicted - bucket.actual) * Double(bucket.customers)
        }
        XCTAssertLessThan(fittedError, shippedError / 2, "the calibration-period fit predicts these customers' holdout better than CDNOW's model")

        let tooFew = ModelCalibration(purchaseDays: Array(days.prefix(20)), cutOffDay: 400, endDay: 500, model: ScoringPolicy().purchaseModel, unitDays: 7, fitCalibrationPeriod: true)
        XCTAssertNil(tooFew.calibrationFit)
        XCTAssertNotNil(tooFew.calibrationFitRefusal)
        XCTAssertNil(tooFew.buckets.first?.predictedByCalibrationFit)
    }

    func expectedPurchases(_ driver: TopologyTestDriver, _ settings: ScoringSettings, _ user: String) -> Double? {
        driver.records(settings.profilesTopic).last { $0.key == Array(user.utf8) }
            .flatMap { try? JSONParser.parse($0.value ?? []).objectValue?["churn"]?.objectValue?["expected_purchases_90d"]?.numberValue?.doubleValue }
    }

    func testScorersTakeADeployedModelWithoutARestartAndKeepTheirsWhenARecordIsBad() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-scorer")
        let settings = ScoringSettings()
        let driver = try TopologyTestDriver(ScorerService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        for day in [200, 120, 60, 20] as [Int64] {
            driver.send(settings.inputTopic, key: "ann", value: UserEvent(id: "ann-\(day)", userID: "ann", type: .purchase, timeMillis: now - day * 86_400_000,
                                                                          properties: JSONObject([(key: "order_id", value: .string("o\(day)")), (key: "amount_minor", value: .number(JSONNumber(5_000))),
                                                                                                  (key: "currency", value: .string("USD"))])).encoded())
        }
        try driver.run()
        try driver.punctuate()
        let configured = try XCTUnwrap(expectedPurchases(driver, settings, "ann"))

        // A refit arrives on the models topic: every user is re-evaluated with it.
        var fit = ChurnModelFit(timeUnitDays: 1, purchases: BGNBDModel(r: 2, alpha: 40, a: 0.5, b: 5), spend: nil, customers: 500, repeatCustomers: 200,
                                logLikelihood: -1000, iterations: 100, spendCustomers: 0, spendLogLikelihood: nil)
        driver.send(settings.modelsTopic, key: ModelRecord.deployedKey, value: ModelRecord.deployed(fit, keptSpend: settings.policy.spendModel, source: "test", fittedAtMillis: now))
        try driver.punctuate()
        let deployed = try XCTUnwrap(expectedPurchases(driver, settings, "ann"))
        XCTAssertNotEqual(deployed, configured, accuracy: 0.01)
        var expected = UserState()
        var policy = settings.policy
        policy.purchaseModel = fit.purchases
        policy.modelTimeUnitDays = 1
        for day in [200, 120, 60, 20] as [Int64] {
            _ = expected.apply(UserEvent(id: "ann-\(day)", userID: "ann", type: .purchase, timeMillis: now - day * 86_400_000,
                                         properties: JSONObject([(key: "order_id", value: .string("o\(day)")), (key: "amount_minor", value: .number(JSONNumber(5_000))),
                                                                 (key: "currency", value: .string("USD"))])), policy: policy)
        }
        let history = try XCTUnwrap(ProfileEvaluator(policy: policy).history(expected, today: UserState.day(now)))
        XCTAssertEqual(deployed, fit.purchases.expectedPurchases(in: 90, history), accuracy: 0.001, "the profile is the deployed model's")

        // A bad record is dead-lettered once (with its field) and the deployed model stays.
        let dead = driver.records(settings.deadLettersTopic).count
        driver.send(settings.modelsTopic, key: ModelRecord.deployedKey, value: Array(#"{"version":1,"bgnbd":{"r":"x"}}"#.utf8))
        try driver.punctuate()
        try driver.punctuate()
        let letters = driver.records(settings.deadLettersTopic).dropFirst(dead)
        XCTAssertEqual(letters.count, 1)
        XCTAssertTrue(String(decoding: letters.first?.value ?? [], as: UTF8.self).contains("the churn models are not used (the models in use stay)"))
        driver.send(settings.inputTopic, key: "ann", value: UserEvent(id: "ann-login", userID: "ann", type: .login, timeMillis: now - 1000, properties: JSONObject()).encoded())
        try driver.run()
        XCTAssertEqual(try XCTUnwrap(expectedPurchases(driver, settings, "ann")), deployed, accuracy: 0.001)

        // The attempt record is not a model: scorers ignore it. A restart reads the table again.
        // (A bad record as the latest would leave a restarted scorer on its configured models,
        // dead-lettered again: `orbit model fit --apply` checks what it publishes.)
        fit.customers = 600
        driver.send(settings.modelsTopic, key: ModelRecord.deployedKey, value: ModelRecord.deployed(fit, keptSpend: settings.policy.spendModel, source: "test", fittedAtMillis: now))
        driver.send(settings.modelsTopic, key: ModelRecord.attemptKey, value: ModelRecord.attempt(.failure(.tooFewCustomers(1, minimum: 200)), source: "test", atMillis: now))
        try driver.restart()
        try driver.punctuate()
        XCTAssertEqual(try XCTUnwrap(expectedPurchases(driver, settings, "ann")), deployed, accuracy: 0.001)

        // Deleted: back to the configured models.
        driver.send(settings.modelsTopic, key: ModelRecord.deployedKey, value: nil)
        try driver.punctuate()
        XCTAssertEqual(try XCTUnwrap(expectedPurchases(driver, settings, "ann")), configured, accuracy: 0.001)
    }
}
