import Foundation
import OrbitScoring
import XCTest

/// BG/NBD and Gamma-Gamma against the published CDNOW results (see Fixtures/README.md).
final class ChurnModelTests: XCTestCase {
    static let cdnow: [CustomerHistory] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/cdnow_customers_summary_with_transactions.csv")
        return try! CustomerHistoryCSV.parse(String(contentsOf: url, encoding: .utf8))
    }()

    /// Fader, Hardie and Lee (2005), table 1.
    static let published = BGNBDModel(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)

    func testTheFixtureIsTheCDNOWSample() {
        XCTAssertEqual(Self.cdnow.count, 2357)
        XCTAssertEqual(Self.cdnow.filter { $0.frequency > 0 }.count, 946)
    }

    func testLogLikelihoodAtThePublishedParametersMatchesThePaper() {
        XCTAssertEqual(Self.published.logLikelihood(Self.cdnow), -9582.4, accuracy: 0.5)
    }

    func testFittingCDNOWRecoversThePublishedParameters() {
        let (model, logLikelihood) = BGNBDModel.fit(Self.cdnow)
        XCTAssertEqual(model.r, 0.243, accuracy: 0.002)
        XCTAssertEqual(model.alpha, 4.414, accuracy: 0.03)
        XCTAssertEqual(model.a, 0.793, accuracy: 0.01)
        XCTAssertEqual(model.b, 2.426, accuracy: 0.05)
        XCTAssertEqual(logLikelihood, -9582.43, accuracy: 0.1)
        XCTAssertGreaterThanOrEqual(logLikelihood, Self.published.logLikelihood(Self.cdnow) - 1e-6, "the optimum is at least as good as the rounded published values")
    }

    func testProbabilityAliveAndExpectedPurchasesBehaveAsTheModelSays() {
        let m = Self.published
        XCTAssertEqual(m.probabilityAlive(CustomerHistory(frequency: 0, recency: 0, age: 38.86)), 1)
        let recent = CustomerHistory(frequency: 5, recency: 38, age: 38.86)
        let lapsed = CustomerHistory(frequency: 5, recency: 5, age: 38.86)
        XCTAssertGreaterThan(m.probabilityAlive(recent), 0.85)
        XCTAssertLessThan(m.probabilityAlive(lapsed), m.probabilityAlive(recent))
        XCTAssertLessThan(m.probabilityAlive(lapsed), 0.2)
        XCTAssertGreaterThan(m.expectedPurchases(in: 39, recent), m.expectedPurchases(in: 39, lapsed))
        XCTAssertGreaterThan(m.expectedPurchases(in: 52, recent), m.expectedPurchases(in: 26, recent))
        XCTAssertEqual(m.expectedPurchases(in: 0, recent), 0)
        // Fader, Hardie and Lee (2005), section 5: a customer with x = 2, t_x = 30.43, T = 38.86
        // is expected to make 1.226 purchases in the next 39 weeks.
        XCTAssertEqual(m.expectedPurchases(in: 39, CustomerHistory(frequency: 2, recency: 30.43, age: 38.86)), 1.226, accuracy: 0.01)
    }

    func testGammaGammaFitOnCDNOWMatchesThePublishedParameters() {
        let (model, _, customers) = GammaGammaModel.fit(Self.cdnow)
        XCTAssertEqual(customers, 946)
        XCTAssertEqual(model.p, 6.25, accuracy: 0.05)
        XCTAssertEqual(model.q, 3.74, accuracy: 0.05)
        XCTAssertEqual(model.v, 15.44, accuracy: 0.3)
        // The expected value of a one-time repeat buyer leans on the population mean, of a frequent one on their own.
        let few = CustomerHistory(frequency: 1, recency: 1, age: 38, monetaryValue: 100)
        let many = CustomerHistory(frequency: 20, recency: 30, age: 38, monetaryValue: 100)
        XCTAssertLessThan(abs(model.expectedAverageValue(many) - 100), abs(model.expectedAverageValue(few) - 100))
    }

    func testLifetimeValueGrowsWithTheHorizonAndDiscounting() {
        let clv = LifetimeValue(purchases: Self.published, spend: GammaGammaModel(p: 6.25, q: 3.74, v: 15.44))
        let customer = CustomerHistory(frequency: 4, recency: 30, age: 38.86, monetaryValue: 40)
        let year = clv.value(customer, months: 12, unitsPerMonth: 52.0 / 12)
        let twoYears = clv.value(customer, months: 24, unitsPerMonth: 52.0 / 12)
        XCTAssertGreaterThan(year, 0)
        XCTAssertGreaterThan(twoYears, year)
        let undiscounted = LifetimeValue(purchases: Self.published, spend: GammaGammaModel(p: 6.25, q: 3.74, v: 15.44), annualDiscountRate: 0)
        XCTAssertGreaterThan(undiscounted.value(customer, months: 12, unitsPerMonth: 52.0 / 12), year)
    }

    /// The precomputed monthly discounts give the very bits of the formula worked on the spot,
    /// within the precomputed horizon and beyond it.
    func testLifetimeValueEqualsTheMonthByMonthFormulaBitForBit() {
        func reference(_ ltv: LifetimeValue, _ c: CustomerHistory, months: Int, unitsPerMonth: Double) -> Double {
            let orderValue = ltv.spend.expectedAverageValue(c) * ltv.margin
            let monthlyRate = pow(1 + ltv.annualDiscountRate, 1.0 / 12) - 1
            var total = 0.0
            var previous = 0.0
            for month in 1...max(1, months) {
                let cumulative = ltv.purchases.expectedPurchases(in: Double(month) * unitsPerMonth, c)
                total += (cumulative - previous) * orderValue / pow(1 + monthlyRate, Double(month))
                previous = cumulative
            }
            return total
        }
        var seed: UInt64 = 7
        func next() -> UInt64 { seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return seed >> 33 }
        for rate in [0, 0.1, 0.37] {
            let ltv = LifetimeValue(purchases: Self.published, spend: GammaGammaModel(p: 6.25, q: 3.74, v: 15.44), margin: 0.8, annualDiscountRate: rate)
            for months in [1, 12, 59, 60, 61, 120] {
                let frequency = Double(next() % 20)
                let age = 1 + Double(next() % 400) / 10
                let c = CustomerHistory(frequency: frequency, recency: frequency > 0 ? age * 0.7 : 0, age: age, monetaryValue: 5 + Double(next() % 500))
                XCTAssertEqual(ltv.value(c, months: months, unitsPerMonth: 4.348).bitPattern,
                               reference(ltv, c, months: months, unitsPerMonth: 4.348).bitPattern, "rate \(rate), \(months) months")
            }
        }
    }

    func testCSVErrorsNameTheLine() {
        XCTAssertThrowsError(try CustomerHistoryCSV.parse("frequency,recency,T\n1,2,3\n2,x,4\n")) { error in
            XCTAssertEqual((error as? CustomerHistoryCSV.ParseError)?.line, 3)
        }
        XCTAssertThrowsError(try CustomerHistoryCSV.parse("a,b,c\n1,2,3\n")) { error in
            XCTAssertEqual((error as? CustomerHistoryCSV.ParseError)?.line, 1)
        }
        XCTAssertThrowsError(try CustomerHistoryCSV.parse("frequency,recency,T\n1,5,3\n"), "recency beyond T")
        XCTAssertThrowsError(try CustomerHistoryCSV.parse("frequency,recency,T\n1.5,2,3\n"), "fractional frequency")
        XCTAssertEqual(try CustomerHistoryCSV.parse("frequency,recency,T,monetary_value\n2,10,20,35.5\n").first?.monetaryValue, 35.5)
    }
}
