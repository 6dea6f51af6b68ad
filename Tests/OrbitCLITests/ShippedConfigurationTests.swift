import OrbitIngest
import OrbitMembership
import OrbitRuntime
import OrbitScoring
import OrbitTestSupport
import XCTest

/// The configuration files the project ships load and validate as they are.
final class ShippedConfigurationTests: XCTestCase {
    func load(_ name: String) throws -> ConfigDocument {
        let path = ServiceProcess.repositoryRoot.appendingPathComponent("deploy/config/\(name)").path
        return try ConfigDocument.load(path: path, environment: ["ORBIT__KAFKA__BOOTSTRAP_SERVERS": "localhost:9092"])
    }

    func testIngestConfiguration() throws {
        let document = try load("ingest.yaml")
        XCTAssertEqual(try RuntimeSettings(document: document, defaultServiceName: "x", defaultHTTPPort: 1).serviceName, "orbit-ingest")
        XCTAssertEqual(try IngestSettings(document: document).policy.maxPayloadBytes, 65_536)
    }

    func testScoringConfigurationAndItsModelFile() throws {
        let document = try load("scoring.yaml")
        _ = try RuntimeSettings(document: document, defaultServiceName: "x", defaultHTTPPort: 1)
        let scoring = try ScoringSettings(document: document)
        XCTAssertEqual(scoring.policy.purchaseModel.r, 0.2426, accuracy: 0.0001, "the fitted model file is read")
        XCTAssertEqual(scoring.policy.superUser.minConvertedReferrals, nil, "null switches a criterion off")
        XCTAssertEqual(scoring.policy.tier.weights, TierWeights.defaults, "the file repeats the default weights")
    }

    func testMembershipConfiguration() throws {
        let document = try load("membership.yaml")
        _ = try RuntimeSettings(document: document, defaultServiceName: "x", defaultHTTPPort: 1)
        let membership = try MembershipSettings(document: document)
        XCTAssertEqual(membership.policy.engine.rules.count, 9)
        XCTAssertEqual(membership.policy.levels.levels.map(\.name), ["bronze", "silver", "gold"])
        XCTAssertTrue(membership.policy.canEarn("frozen"))
        XCTAssertFalse(membership.policy.canSpend("frozen"))
    }

    func testAMistakeInARuleNamesItsLine() throws {
        let yaml = "membership:\n  rules:\n    - {id: a, kind: spending, points_per_unit: 1}\n    - {id: b, kind: teleport, points: 5}\n"
        XCTAssertThrowsError(try MembershipSettings(document: ConfigDocument(yaml: yaml, file: "m.yaml"))) { error in
            let config = error as? ConfigError
            XCTAssertEqual(config?.field, "membership.rules[1].kind")
            XCTAssertEqual(config?.line, 4)
        }
    }

    /// Settings that were once parsed and then ignored now fail, naming the field.
    func testSettingsThatCouldOnlyBeIgnoredAreErrors() {
        func field(_ make: () throws -> Void) -> String? {
            do { try make(); return nil } catch let error as ConfigError { return error.field } catch { return "\(error)" }
        }
        XCTAssertEqual(field { _ = try ScoringSettings(document: ConfigDocument(yaml: "scoring:\n  tier:\n    weights:\n      margin: 0.5\n", file: "s.yaml")) },
                       "scoring.tier.weights.margin", "events carry no margin")
        XCTAssertEqual(field { _ = try ScoringSettings(document: ConfigDocument(yaml: "scoring:\n  rfm:\n    window_days: 400\n", file: "s.yaml")) },
                       "scoring.rfm.window_days", "the state keeps 13 months")
        XCTAssertNil(field { _ = try ScoringSettings(document: ConfigDocument(yaml: "scoring:\n  rfm:\n    window_days: 390\n", file: "s.yaml")) })
        XCTAssertEqual(field { _ = try IngestSettings(document: ConfigDocument(yaml: "ingest:\n  dedup_window_days: 8\n", file: "i.yaml")) },
                       "ingest.dedup_window_days", "the dedup changelog keeps 7 days")
        let multiplier = "membership:\n  rules:\n    - {id: m, kind: multiplier, factor: 2, skus: [a]}\n"
        XCTAssertEqual(field { _ = try MembershipSettings(document: ConfigDocument(yaml: multiplier, file: "m.yaml")) }, "membership.rules[0].skus",
                       "a multiplier reads categories, not skus")
    }
}
