import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitTestSupport
import XCTest

/// orbit-ingest as a real process against the local broker over TCP.
final class IngestServiceTests: XCTestCase {
    let logger = Logger(label: "test.ingest")

    func startBroker() throws -> LocalBroker {
        try LocalBroker(topics: TopicCatalogue.orbitTopics())
    }

    func publish(_ records: [ProducerRecord], to broker: LocalBroker) throws {
        try broker.publish(records, logger: logger)
    }

    /// Ids on `.valid`, each with every copy's bytes.
    func copiesByID(_ records: [ConsumerRecord]) throws -> [String: [[UInt8]]] {
        var result: [String: [[UInt8]]] = [:]
        for record in records {
            let event = try UserEvent.decode(record.value!)
            result[event.id, default: []].append(record.value!)
        }
        return result
    }

    func testTenThousandMixedEventsReachValidOrDeadLetterExactlyAsTheContractSays() throws {
        let broker = try startBroker()
        defer { broker.stop() }
        let workload = IngestWorkload.make(valid: 9_600, users: 300, duplicates: 100, badRepeats: 8)
        XCTAssertGreaterThanOrEqual(workload.badKinds, 30)
        XCTAssertGreaterThanOrEqual(workload.records.count, 10_000)
        let service = try ServiceProcess.ingest(bootstrap: broker.bootstrapServers)
        let port = try service.httpPort()
        try publish(workload.records, to: broker)

        let expectedBad = workload.expectedDeadLetters.values.reduce(0, +)
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.validEvents, OrbitTopics.deadLetters])
        XCTAssertTrue(try reader.read(timeout: 180) {
            $0[OrbitTopics.validEvents]!.count >= workload.validIDs.count && $0[OrbitTopics.deadLetters]!.count >= expectedBad
        }, "valid \(reader.count(OrbitTopics.validEvents))/\(workload.validIDs.count), dead letters \(reader.count(OrbitTopics.deadLetters))/\(expectedBad)")
        try reader.drain(for: 2)  // nothing more may come

        // Every valid event exactly once, the re-sent duplicates dropped.
        let valid = reader.records[OrbitTopics.validEvents]!
        let copies = try copiesByID(valid)
        XCTAssertEqual(Set(copies.keys), Set(workload.validIDs))
        XCTAssertEqual(valid.count, workload.validIDs.count, "no event twice on .valid")

        // Per-user order: one partition per user, sequence numbers increasing in offset order.
        var partitionOfUser: [String: Int32] = [:]
        var lastSeq: [String: Int] = [:]
        for record in valid.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            let event = try UserEvent.decode(record.value!)
            XCTAssertEqual(record.key, Array(event.userID.utf8), "keyed by user id")
            if let partition = partitionOfUser[event.userID] { XCTAssertEqual(partition, record.partition) }
            partitionOfUser[event.userID] = record.partition
            let seq = Int(event.properties["seq"]!.numberValue!.lexeme)!
            XCTAssertEqual(seq, workload.sequenceOfID[event.id]!.seq)
            XCTAssertGreaterThan(seq, lastSeq[event.userID] ?? -1, "user \(event.userID) out of order")
            lastSeq[event.userID] = seq
            XCTAssertNotNil(record.header("orbit-source"))
        }
        // Normalisation of amounts to minor units.
        let purchase = try valid.lazy.map { try UserEvent.decode($0.value!) }.first { $0.type == .purchase && $0.id == "e-2" }
        XCTAssertEqual(purchase?.properties["amount_minor"]?.numberValue?.int64Value, 202)

        // Every bad record on the dead-letter topic with the right code and its payload untouched.
        var codes: [RejectionCode: Int] = [:]
        for record in reader.records[OrbitTopics.deadLetters]! {
            let letter = try JSONParser.parse(record.value!).objectValue!
            let code = RejectionCode(rawValue: letter["error"]!.objectValue!["code"]!.stringValue!)!
            codes[code, default: 0] += 1
            XCTAssertNotNil(letter["error"]!.objectValue!["message"]!.stringValue)
            let source = letter["source"]!.objectValue!
            XCTAssertEqual(source["topic"]?.stringValue, OrbitTopics.userEvents)
            XCTAssertNotNil(source["offset"]?.numberValue?.int64Value)
            XCTAssertEqual(record.header("orbit-error-code"), Array(code.rawValue.utf8))
        }
        XCTAssertEqual(codes, workload.expectedDeadLetters)
        XCTAssertGreaterThanOrEqual(workload.expectedDeadLetters.count, 15, "distinct codes exercised")

        // The service is still up and healthy.
        XCTAssertTrue(service.isRunning)
        let health = try HTTPProbe.health(port: port)
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json["status"] as? String, "running")
        let metrics = try HTTPProbe.get(port: port, path: "/metrics")
        XCTAssertTrue(metrics.body.contains("orbit_ingest_valid_total"), "Prometheus metrics exported")
        XCTAssertTrue(metrics.body.contains("orbit_ingest_duplicates_total 100"), "duplicates counted")
        XCTAssertEqual(try service.terminate(), 0, "SIGTERM stops cleanly")
        XCTAssertTrue(service.output.contains { $0.contains("pipeline stopped cleanly") })
    }

    func testSigkillMidStreamLosesNothingAndRepeatsOnlyIdenticalRecords() throws {
        let broker = try startBroker()
        defer { broker.stop() }
        let workload = IngestWorkload.make(valid: 20_000, users: 400, duplicates: 0, badRepeats: 0)
        try publish(workload.records, to: broker)
        let batchSize = 500
        let inFlight = 4
        let settings = ["ORBIT__PROCESSING__MAX_BATCH_RECORDS": "\(batchSize)", "ORBIT__PROCESSING__MAX_BATCH_WAIT_MS": "50",
                        "ORBIT__PROCESSING__MAX_IN_FLIGHT_BATCHES": "\(inFlight)"]

        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.validEvents])
        let first = try ServiceProcess.ingest(bootstrap: broker.bootstrapServers, extraEnvironment: settings)
        XCTAssertTrue(try reader.read(timeout: 120) { $0[OrbitTopics.validEvents]!.count >= 4_000 }, "first instance made progress")
        first.killHard()  // SIGKILL mid-stream: no chance to finish the batch or commit
        let beforeKill = reader.count(OrbitTopics.validEvents)
        XCTAssertLessThan(beforeKill, workload.validIDs.count, "killed before the end")

        let second = try ServiceProcess.ingest(bootstrap: broker.bootstrapServers, extraEnvironment: settings)
        XCTAssertTrue(try reader.read(timeout: 180) { records in
            Set(records[OrbitTopics.validEvents]!.compactMap { try? UserEvent.decode($0.value!).id }).count >= workload.validIDs.count
        }, "all events arrive after the restart")
        try reader.drain(for: 2)
        XCTAssertTrue(second.isRunning)

        let copies = try copiesByID(reader.records[OrbitTopics.validEvents]!)
        XCTAssertEqual(Set(copies.keys), Set(workload.validIDs), "no valid event lost")
        let repeated = copies.values.filter { $0.count > 1 }
        for versions in repeated {
            XCTAssertTrue(versions.allSatisfy { $0 == versions[0] }, "a repeat is an identical copy")
        }
        // The documented bound: the batches not yet committed when the process died, at most
        // max_in_flight_batches + 1 batches.
        let bound = (inFlight + 1) * batchSize
        let duplicates = repeated.reduce(0) { $0 + $1.count - 1 }
        XCTAssertLessThanOrEqual(duplicates, bound)
        print("SIGKILL test: \(beforeKill) records on .valid before the kill, \(duplicates) repeated after the restart (bound \(bound))")
        XCTAssertEqual(try second.terminate(), 0)
    }

    func testTwoInstancesSplitThePartitionsAndOneTakesOverWhenTheOtherStops() throws {
        let broker = try startBroker()
        defer { broker.stop() }
        let all = (0..<TopicCatalogue.defaultPartitions).map { "\(OrbitTopics.userEvents)/\($0)" }
        // The input's partitions (privacy requests are split between the instances too).
        func owned(_ port: Int) -> [String] { HTTPProbe.assignedPartitions(port: port).filter { $0.hasPrefix(OrbitTopics.userEvents + "/") } }
        let a = try ServiceProcess.ingest(bootstrap: broker.bootstrapServers)
        let portA = try a.httpPort()
        XCTAssertTrue(eventually(timeout: 60) { owned(portA).count == all.count }, "A owns everything alone")

        let b = try ServiceProcess.ingest(bootstrap: broker.bootstrapServers)
        let portB = try b.httpPort()
        XCTAssertTrue(eventually(timeout: 90) {
            let ownedA = owned(portA), ownedB = owned(portB)
            return !ownedA.isEmpty && !ownedB.isEmpty && Set(ownedA).isDisjoint(with: ownedB) && Set(ownedA + ownedB) == Set(all)
        }, "A: \(owned(portA)) B: \(owned(portB))")

        let firstWave = IngestWorkload.make(valid: 2_000, users: 200, duplicates: 0, badRepeats: 0, idPrefix: "w1")
        try publish(firstWave.records, to: broker)
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.validEvents])
        XCTAssertTrue(try reader.read(timeout: 120) { $0[OrbitTopics.validEvents]!.count >= 2_000 })
        // Both committed part of the input (a batch is committed up to max_batch_wait_ms after its records).
        func committed(_ port: Int) -> Int { (try? HTTPProbe.health(port: port))?.json["records_in"] as? Int ?? 0 }
        XCTAssertTrue(eventually(timeout: 30) { committed(portA) + committed(portB) == 2_000 }, "A \(committed(portA)) + B \(committed(portB))")
        XCTAssertGreaterThan(committed(portA), 0, "A processed its share")
        XCTAssertGreaterThan(committed(portB), 0, "B processed its share")

        XCTAssertEqual(try a.terminate(), 0)
        XCTAssertTrue(eventually(timeout: 90) { owned(portB).count == all.count }, "B took over A's partitions")
        let secondWave = IngestWorkload.make(valid: 2_000, users: 200, duplicates: 0, badRepeats: 0, idPrefix: "w2")
        try publish(secondWave.records, to: broker)
        XCTAssertTrue(try reader.read(timeout: 120) { $0[OrbitTopics.validEvents]!.count >= 4_000 })
        try reader.drain(for: 2)
        let copies = try copiesByID(reader.records[OrbitTopics.validEvents]!)
        XCTAssertEqual(Set(copies.keys), Set(firstWave.validIDs + secondWave.validIDs))
        XCTAssertEqual(copies.values.filter { $0.count > 1 }.count, 0, "a graceful hand-over repeats nothing")
        XCTAssertEqual(try b.terminate(), 0)
    }

    func testAConfigurationErrorNamesFileLineAndFieldAndExits78() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-ingest-\(UUID().uuidString).yaml")
        try "kafka:\n  bootstrap.servers: 127.0.0.1:1\ningest:\n  max_payload_bytes: lots\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let service = try ServiceProcess(executable: "orbit-ingest", arguments: ["--config", file.path], environment: [:])
        XCTAssertTrue(eventually(timeout: 30) { !service.isRunning })
        XCTAssertEqual(service.exitStatus, 78)
        XCTAssertTrue(service.output.contains { $0.contains("\(file.path):4: ingest.max_payload_bytes") }, service.output.joined(separator: "\n"))
    }
}
