import OrbitKafka
import OrbitRuntime
import XCTest

/// `orbit broker --faults PLAN.yaml`: the plan is read and checked like any configuration, and
/// each fault reaches the local broker.
final class BrokerFaultPlanTests: XCTestCase {
    func plan(_ yaml: String) throws -> BrokerFaultPlan {
        try BrokerFaultPlan(document: ConfigDocument(yaml: yaml, file: "plan.yaml"))
    }

    func testAPlanReadsInTimeOrder() throws {
        let plan = try plan("""
        steps:
          - at_seconds: 20
            broker_up: all
          - at_seconds: 10
            broker_down: all
          - at_seconds: 12.5
            request_errors:
              api: offset_commit
              errors: [COORDINATOR_LOAD_IN_PROGRESS, REQUEST_TIMED_OUT]
              repeat: 2
          - at_seconds: 25
            round_trip_ms: 200
          - at_seconds: 30
            leader: {topic: orbit.user-events, partition: 3, broker: 2}
          - at_seconds: 31
            broker_down: 2
        """)
        XCTAssertEqual(plan.steps, [
            .init(atMillis: 10_000, fault: .down(broker: nil)),
            .init(atMillis: 12_500, fault: .requestErrors(api: .offsetCommit, errors: [.coordinatorLoadInProgress, .requestTimedOut, .coordinatorLoadInProgress, .requestTimedOut])),
            .init(atMillis: 20_000, fault: .up(broker: nil)),
            .init(atMillis: 25_000, fault: .roundTrip(milliseconds: 200)),
            .init(atMillis: 30_000, fault: .leader(topic: "orbit.user-events", partition: 3, broker: 2)),
            .init(atMillis: 31_000, fault: .down(broker: 2)),
        ])
        XCTAssertEqual(plan.steps[1].fault.description, "next 4 offset_commit requests fail (COORDINATOR_LOAD_IN_PROGRESS, REQUEST_TIMED_OUT)")
    }

    func testMistakesNameTheFileLineAndField() {
        func error(_ yaml: String) -> ConfigError? {
            do { _ = try plan(yaml); return nil } catch { return error as? ConfigError }
        }
        let unknownAPI = error("steps:\n  - at_seconds: 1\n    request_errors:\n      api: produc\n      errors: [REQUEST_TIMED_OUT]\n")
        XCTAssertEqual(unknownAPI?.field, "steps[0].request_errors.api")
        XCTAssertEqual(unknownAPI?.line, 4)
        XCTAssertTrue(unknownAPI?.message.hasPrefix("unknown API \"produc\"") == true, unknownAPI?.message ?? "")
        XCTAssertEqual(error("steps:\n  - at_seconds: 1\n    request_errors: {api: fetch, errors: [NOT_A_CODE]}\n")?.field, "steps[0].request_errors.errors")
        XCTAssertEqual(error("steps:\n  - at_seconds: 1\n    broker_down: all\n    broker_up: all\n")?.message,
                       "each step has exactly one fault (one of broker_down, broker_up, round_trip_ms, request_errors, leader)")
        XCTAssertEqual(error("steps:\n  - broker_down: all\n")?.field, "steps[0].at_seconds")
        XCTAssertEqual(error("steps:\n  - at_seconds: 1\n    broker_down: zero\n")?.message, "is \"all\" or a broker id from 1 to 64")
        XCTAssertEqual(error("steps:\n  - at_seconds: 1\n    broker_sideways: all\n")?.field, "steps[0].broker_sideways")
        XCTAssertEqual(error("step: []\n")?.field, "step")
    }

    func testEveryFaultReachesTheLocalBroker() throws {
        let broker = try LocalBroker(brokers: 2, topics: [TopicSpec(name: "faulty", partitions: 2)])
        defer { broker.stop() }
        try broker.apply(.down(broker: 1))
        try broker.apply(.up(broker: 1))
        try broker.apply(.down(broker: nil))
        try broker.apply(.up(broker: nil))
        try broker.apply(.roundTrip(milliseconds: 50))
        try broker.apply(.roundTrip(milliseconds: 0))
        try broker.apply(.requestErrors(api: .produce, errors: [.notLeaderOrFollower]))
        try broker.apply(.leader(topic: "faulty", partition: 1, broker: 2))
        broker.stop()
        XCTAssertThrowsError(try broker.apply(.down(broker: nil)), "a stopped broker refuses faults")
    }
}
