import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitTestSupport
import XCTest

/// orbit-ingest as a real process while the local broker misbehaves the way Apache Kafka can:
/// it goes away, answers with retriable errors, answers late. Each test checks the outputs
/// against the inputs: nothing lost, nothing doubled.
final class BrokerFaultTests: XCTestCase {
    let logger = Logger(label: "test.faults")
    /// Small batches, so a run has many commits for the faults to meet.
    let settings = ["ORBIT__PROCESSING__MAX_BATCH_RECORDS": "300", "ORBIT__PROCESSING__MAX_BATCH_WAIT_MS": "50"]

    func publish(_ records: [ProducerRecord], to broker: LocalBroker) throws {
        try broker.publish(records, logger: logger)
    }

    /// Every valid id on `.valid` exactly once.
    func assertExactlyOnce(_ reader: TopicReader, _ ids: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        var copies: [String: Int] = [:]
        for record in reader.records[OrbitTopics.validEvents]! {
            copies[try UserEvent.decode(record.value!).id, default: 0] += 1
        }
        XCTAssertEqual(Set(copies.keys), Set(ids), "no valid event lost", file: file, line: line)
        XCTAssertEqual(copies.values.filter { $0 > 1 }.count, 0, "no event doubled", file: file, line: line)
    }

    func testBrokerDownForTenSecondsMidRunDegradesHealthThenLosesNothingAndDoublesNothing() throws {
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics())
        defer { broker.stop() }
        let first = IngestWorkload.make(valid: 3_000, users: 300, duplicates: 0, badRepeats: 0, idPrefix: "before")
        let second = IngestWorkload.make(valid: 3_000, users: 300, duplicates: 0, badRepeats: 0, idPrefix: "after")
        try publish(first.records, to: broker)
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.validEvents])
        let service = try ServiceProcess.ingest(bootstrap: broker.bootstrapServers, extraEnvironment: settings)
        defer { service.killHard() }
        let port = try service.httpPort()
        XCTAssertTrue(try reader.read(timeout: 120) { $0[OrbitTopics.validEvents]!.count >= first.validIDs.count }, "the first wave arrives")
        XCTAssertEqual(try HTTPProbe.get(port: port, path: "/health/live").status, 200)
        XCTAssertEqual(try HTTPProbe.get(port: port, path: "/health/ready").status, 200, "running, nothing restoring: ready")

        try broker.apply(.down(broker: nil))
        let downAt = Date()
        // Still running, and /health says degraded and why (the service cannot reach Kafka).
        XCTAssertTrue(try eventually(timeout: 10) { (try? HTTPProbe.health(port: port))?.json["degraded"] as? Bool == true },
                      "health reports degraded while the broker is down")
        let health = try HTTPProbe.health(port: port)
        XCTAssertEqual(health.status, 200, "degraded is not failed: a restart would not help")
        XCTAssertEqual(health.json["status"] as? String, "running")
        XCTAssertEqual(try HTTPProbe.get(port: port, path: "/health/live").status, 200, "live while degraded: a restart would not bring the broker back")
        XCTAssertFalse((health.json["kafka_last_error"] as? String ?? "").isEmpty, "health says why: \(health.json)")
        print("broker down: /health said degraded: \(health.json["kafka_last_error"] ?? "")")
        Thread.sleep(forTimeInterval: max(0, 10 - Date().timeIntervalSince(downAt)))
        XCTAssertTrue(service.isRunning, "the service rides out 10 s without a broker")
        try broker.apply(.up(broker: nil))

        try publish(second.records, to: broker)
        let all = first.validIDs + second.validIDs
        XCTAssertTrue(try reader.read(timeout: 120) { $0[OrbitTopics.validEvents]!.count >= all.count }, "everything arrives after the broker returns")
        try reader.drain(for: 2)
        try assertExactlyOnce(reader, all)
        XCTAssertTrue(try eventually(timeout: 30) { (try? HTTPProbe.health(port: port))?.json["degraded"] as? Bool == false }, "health recovers")
        XCTAssertEqual(try service.terminate(), 0)
    }

    func testRetriableErrorsOnProduceFetchAndCommitLeaveTheSameOutputs() throws {
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics())
        defer { broker.stop() }
        let workload = IngestWorkload.make(valid: 6_000, users: 300, duplicates: 0, badRepeats: 0)
        // Injected errors meet whichever client sends the next request of that kind, so the test
        // publishes first: after that the service is the only producer.
        try publish(workload.records, to: broker)
        try broker.apply(.requestErrors(api: .produce, errors: [.notLeaderOrFollower, .requestTimedOut, .notEnoughReplicas, .leaderNotAvailable]))
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.validEvents])
        let service = try ServiceProcess.ingest(bootstrap: broker.bootstrapServers, extraEnvironment: settings)
        defer { service.killHard() }
        XCTAssertTrue(try reader.read(timeout: 120) { $0[OrbitTopics.validEvents]!.count >= 500 }, "the service is working")
        // Mid-run: fetches and commits fail, as a busy or moving cluster makes them.
        try broker.apply(.requestErrors(api: .fetch, errors: Array(repeating: [.notLeaderOrFollower, .requestTimedOut, .unknownTopicOrPartition], count: 2).flatMap { $0 }))
        try broker.apply(.requestErrors(api: .offsetCommit, errors: [.coordinatorLoadInProgress, .requestTimedOut, .notCoordinator, .coordinatorNotAvailable]))
        XCTAssertTrue(try reader.read(timeout: 120) { $0[OrbitTopics.validEvents]!.count >= workload.validIDs.count }, "everything arrives")
        try reader.drain(for: 2)
        try assertExactlyOnce(reader, workload.validIDs)
        XCTAssertTrue(service.isRunning)
        XCTAssertEqual(try service.terminate(), 0)
    }

    func testTwoHundredMillisecondsOfRoundTripSlowsThePipelineAndLosesNothing() throws {
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics())
        defer { broker.stop() }
        let workload = IngestWorkload.make(valid: 3_000, users: 300, duplicates: 0, badRepeats: 0)
        try broker.apply(.roundTrip(milliseconds: 200))
        try publish(workload.records, to: broker)
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.validEvents])
        let service = try ServiceProcess.ingest(bootstrap: broker.bootstrapServers, extraEnvironment: settings)
        defer { service.killHard() }
        XCTAssertTrue(try reader.read(timeout: 180) { $0[OrbitTopics.validEvents]!.count >= workload.validIDs.count }, "everything arrives, late")
        try reader.drain(for: 2)
        try assertExactlyOnce(reader, workload.validIDs)
        XCTAssertEqual(try service.terminate(), 0)
    }

    func testAFencedProducerStopsTheServiceWithAClearMessageAndExitCode() throws {
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics())
        defer { broker.stop() }
        let workload = IngestWorkload.make(valid: 2_000, users: 200, duplicates: 0, badRepeats: 0)
        try publish(workload.records, to: broker)
        // Another instance took over this producer's identity: librdkafka raises a fatal error,
        // and the producer must not be used again.
        try broker.apply(.requestErrors(api: .produce, errors: Array(repeating: .producerFenced, count: 5)))
        let service = try ServiceProcess.ingest(bootstrap: broker.bootstrapServers, extraEnvironment: settings)
        defer { service.killHard() }
        XCTAssertTrue(try eventually(timeout: 60) { !service.isRunning }, "the service stops")
        let status = service.exitStatus
        XCTAssertNotNil(status)
        XCTAssertEqual(status, ServiceMain.fatalKafkaExitCode, "a fatal Kafka error has its own exit code (75, EX_TEMPFAIL)")
        let output = service.output.joined(separator: "\n")
        XCTAssertTrue(output.contains("fatal Kafka error") && output.contains("PRODUCER_FENCED"), "the log says what and why:\n\(output.suffix(3000))")
        print("fenced producer: exit status \(status ?? -1); last lines:\n\(service.output.suffix(4).joined(separator: "\n"))")
    }
}
