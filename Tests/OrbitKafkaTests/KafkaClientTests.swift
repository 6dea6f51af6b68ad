import Foundation
import Logging
import OrbitKafka
import OrbitTestSupport
import XCTest

/// The Kafka layer against the local broker, over TCP.
final class KafkaClientTests: XCTestCase {
    let logger = Logger(label: "test.kafka")

    func makeBroker(_ topics: [TopicSpec]) throws -> LocalBroker {
        try LocalBroker(topics: topics)
    }

    func config(_ broker: LocalBroker, _ extra: [String: String] = [:]) -> KafkaConfiguration {
        KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers, "fetch.wait.max.ms": "50",
                            "session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]).merging(extra)
    }

    func testProducedRecordsKeepKeysHeadersTimestampsAndNullValues() async throws {
        let broker = try makeBroker([TopicSpec(name: "t", partitions: 3)])
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: config(broker), logger: logger)
        let sent = try await producer.send(ProducerRecord(topic: "t", partition: 1, key: Array("k1".utf8), value: Array("v1".utf8),
                                                          headers: [KafkaHeader("h", "x"), KafkaHeader("empty", nil)], timestampMillis: 1_700_000_000_123))
        XCTAssertEqual(sent.topicPartition, TopicPartition("t", 1))
        XCTAssertEqual(sent.offset, 0)
        let batch = DeliveryBatch()
        try producer.send(ProducerRecord(topic: "t", partition: 1, key: nil, value: nil), in: batch)          // tombstone
        try producer.send(ProducerRecord(topic: "t", partition: 1, key: Array("k3".utf8), value: []), in: batch)  // empty value
        try batch.waitForAll()
        XCTAssertEqual(batch.acknowledgedCount, 2)

        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: ["t"])
        XCTAssertTrue(try reader.read(timeout: 20) { $0["t"]!.count >= 3 })
        let records = reader.records["t"]!.sorted { $0.offset < $1.offset }
        XCTAssertEqual(records.map(\.offset), [0, 1, 2])
        XCTAssertEqual(records[0].key, Array("k1".utf8))
        XCTAssertEqual(records[0].value, Array("v1".utf8))
        XCTAssertEqual(records[0].header("h"), Array("x".utf8))
        XCTAssertTrue(records[0].headers.contains { $0.name == "empty" && $0.value == nil })
        XCTAssertEqual(records[0].timestampMillis, 1_700_000_000_123)
        XCTAssertNil(records[1].key)
        XCTAssertNil(records[1].value)
        XCTAssertEqual(records[2].value, [])
        producer.close()
    }

    /// A read to the end that cannot finish in time fails naming the partitions it did not reach
    /// (a tool must not report on part of a topic as if it were all of it); given time, it reads
    /// everything. Slowness comes from the broker: a second per response, one batch per partition
    /// per fetch, and 40 batches on partition 1.
    func testReadingToTheEndFailsNamingThePartitionsItDidNotReachInTime() async throws {
        let broker = try makeBroker([TopicSpec(name: "t", partitions: 2)])
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: config(broker), logger: logger)
        defer { producer.close() }
        _ = try await producer.send(ProducerRecord(topic: "t", partition: 0, key: nil, value: Array("first".utf8)))
        for n in 0..<40 {
            _ = try await producer.send(ProducerRecord(topic: "t", partition: 1, key: nil, value: Array("batch \(n)".utf8)))
        }
        try broker.setRoundTrip(milliseconds: 1000)
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: ["t"])
        do {
            try reader.readToEnd(timeout: 3)
            XCTFail("40 fetches of a second each read in 3 s")
        } catch let error as KafkaError {
            XCTAssertEqual(error.name, "_TIMED_OUT")
            XCTAssertTrue(error.message.hasPrefix("reading to the end took over 3 s; partitions short of their ends: t/1 at "), error.message)
            XCTAssertTrue(error.message.hasSuffix(" of 40"), error.message)
        }
        try broker.setRoundTrip(milliseconds: 0)
        try reader.readToEnd(timeout: 60)
        XCTAssertEqual(reader.count("t"), 41)
    }

    /// A partition that ends in a transaction marker, as every partition written in transactions
    /// does on Apache Kafka, is read to its end: the marker takes an offset and is never delivered,
    /// and the reader goes by the consumer's position, which steps over it. (Reading up to the
    /// last delivered offset waited out the whole timeout.) The consumer checks the marker's CRC.
    func testAPartitionEndingInATransactionMarkerIsReadToItsEnd() async throws {
        let broker = try makeBroker([TopicSpec(name: "t", partitions: 2)])
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: config(broker), logger: logger)
        defer { producer.close() }
        for n in 0..<3 {
            _ = try await producer.send(ProducerRecord(topic: "t", partition: 0, key: nil, value: Array("r\(n)".utf8)))
        }
        XCTAssertEqual(try TransactionMarker.write(.commit, topic: "t", partition: 0, bootstrap: broker.bootstrapServers), 3)
        XCTAssertEqual(try TransactionMarker.write(.abort, topic: "t", partition: 1, bootstrap: broker.bootstrapServers), 0)  // a marker alone
        let reader = try TopicReader(kafka: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers, "check.crcs": "true"]), topics: ["t"])
        try reader.readToEnd(timeout: 30)
        XCTAssertEqual(reader.records["t"]!.map { String(decoding: $0.value!, as: UTF8.self) }, ["r0", "r1", "r2"])
        // A record after the marker is read as usual.
        _ = try await producer.send(ProducerRecord(topic: "t", partition: 0, key: nil, value: Array("r4".utf8)))
        try reader.readToEnd(timeout: 30)
        XCTAssertEqual(reader.records["t"]!.map(\.offset), [0, 1, 2, 4])
    }

    func testKeyedRecordsOfOneKeyStayInOnePartitionInOrder() throws {
        let broker = try makeBroker([TopicSpec(name: "keyed", partitions: 8)])
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: config(broker), logger: logger)
        let batch = DeliveryBatch()
        for i in 0..<2000 {
            try producer.send(ProducerRecord(topic: "keyed", key: "user-\(i % 50)", value: Array("\(i)".utf8)), in: batch)
        }
        try batch.waitForAll()
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: ["keyed"])
        XCTAssertTrue(try reader.read(timeout: 30) { $0["keyed"]!.count >= 2000 })
        var partitionOfKey: [String: Int32] = [:]
        var lastValue: [String: Int] = [:]
        for record in reader.records["keyed"]! {
            let key = String(decoding: record.key!, as: UTF8.self)
            let value = Int(String(decoding: record.value!, as: UTF8.self))!
            if let known = partitionOfKey[key] { XCTAssertEqual(known, record.partition, "key \(key) moved partition") }
            partitionOfKey[key] = record.partition
            XCTAssertGreaterThan(value, lastValue[key] ?? -1, "key \(key) out of order")
            lastValue[key] = value
        }
        XCTAssertGreaterThan(Set(partitionOfKey.values).count, 4, "keys should spread over partitions")
    }

    func testCommittedOffsetsAreWhereANewGroupMemberResumes() throws {
        let broker = try makeBroker([TopicSpec(name: "c", partitions: 1)])
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: config(broker), logger: logger)
        let batch = DeliveryBatch()
        for i in 0..<10 { try producer.send(ProducerRecord(topic: "c", key: nil, value: Array("\(i)".utf8)), in: batch) }
        try batch.waitForAll()

        do {
            let consumer = try KafkaConsumer(configuration: config(broker, ["group.id": "g1"]), logger: logger)
            try consumer.subscribe(["c"])
            var seen: [Int64] = []
            XCTAssertTrue(try eventually(timeout: 30) {
                if let record = try consumer.poll(timeout: .milliseconds(100)) { seen.append(record.offset) }
                return seen.count >= 4
            })
            try consumer.commit([TopicPartitionOffset(TopicPartition("c", 0), offset: 4)])
            XCTAssertEqual(try consumer.committed([TopicPartition("c", 0)]).first?.offset, 4)
            consumer.close()
        }
        let second = try KafkaConsumer(configuration: config(broker, ["group.id": "g1"]), logger: logger)
        defer { second.close() }
        try second.subscribe(["c"])
        var first: ConsumerRecord?
        XCTAssertTrue(try eventually(timeout: 30) {
            first = try second.poll(timeout: .milliseconds(100))
            return first != nil
        })
        XCTAssertEqual(first?.offset, 4, "a new member resumes at the committed offset")
    }

    final class AssignmentLog: RebalanceListener {
        var assigned: [TopicPartition] = []
        var revoked: [TopicPartition] = []
        var current: Set<TopicPartition> = []
        func partitionsAssigned(_ partitions: [TopicPartition]) { assigned += partitions; current.formUnion(partitions) }
        func partitionsRevoked(_ partitions: [TopicPartition]) { revoked += partitions; current.subtract(partitions) }
    }

    func testGroupMembersSplitPartitionsAndRebalanceEventsReachTheListener() throws {
        let broker = try makeBroker([TopicSpec(name: "g", partitions: 4)])
        defer { broker.stop() }
        let logA = AssignmentLog(), logB = AssignmentLog()
        let a = try KafkaConsumer(configuration: config(broker, ["group.id": "split"]), name: "a", logger: logger, rebalanceListener: logA)
        try a.subscribe(["g"])
        XCTAssertTrue(try eventually(timeout: 30, interval: 0) { _ = try a.poll(timeout: .milliseconds(50)); return logA.current.count == 4 })

        let b = try KafkaConsumer(configuration: config(broker, ["group.id": "split"]), name: "b", logger: logger, rebalanceListener: logB)
        try b.subscribe(["g"])
        XCTAssertTrue(try eventually(timeout: 40, interval: 0) {
            _ = try a.poll(timeout: .milliseconds(20))
            _ = try b.poll(timeout: .milliseconds(20))
            return logA.current.count == 2 && logB.current.count == 2
        }, "A: \(logA.current), B: \(logB.current)")
        XCTAssertTrue(logA.current.isDisjoint(with: logB.current))
        XCTAssertFalse(logA.revoked.isEmpty, "A was told its partitions were revoked before the split")

        a.close()  // leaves the group: B takes everything
        XCTAssertTrue(try eventually(timeout: 40, interval: 0) { _ = try b.poll(timeout: .milliseconds(50)); return logB.current.count == 4 })
        b.close()
    }

    func testPauseStopsDeliveryAndSeekRewinds() throws {
        let broker = try makeBroker([TopicSpec(name: "p", partitions: 1)])
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: config(broker), logger: logger)
        let batch = DeliveryBatch()
        for i in 0..<5 { try producer.send(ProducerRecord(topic: "p", key: nil, value: Array("\(i)".utf8)), in: batch) }
        try batch.waitForAll()
        let partition = TopicPartition("p", 0)
        let consumer = try KafkaConsumer(configuration: config(broker), logger: logger)
        defer { consumer.close() }
        try consumer.assign([TopicPartitionOffset(partition, offset: TopicPartitionOffset.beginning)])
        var offsets: [Int64] = []
        XCTAssertTrue(try eventually(timeout: 20, interval: 0) {
            if let r = try consumer.poll(timeout: .milliseconds(100)) { offsets.append(r.offset) }
            return offsets.count == 5
        })
        XCTAssertEqual(try consumer.assignment(), [partition])
        try consumer.pause([partition])
        try consumer.seek(TopicPartitionOffset(partition, offset: 2))
        for _ in 0..<10 { XCTAssertNil(try consumer.poll(timeout: .milliseconds(50)), "paused partitions deliver nothing") }
        try consumer.resume([partition])
        var again: ConsumerRecord?
        XCTAssertTrue(try eventually(timeout: 20, interval: 0) { again = try consumer.poll(timeout: .milliseconds(100)); return again != nil })
        XCTAssertEqual(again?.offset, 2, "seek rewound to offset 2")
        let marks = try consumer.watermarks(partition)
        XCTAssertEqual(marks.high, 5)
        XCTAssertEqual(try consumer.partitionCount(of: "p"), 1)
    }

    func testTransactionCallsSucceedAgainstTheBroker() throws {
        // The local broker accepts the transaction protocol (it writes no markers, so isolation is
        // not checked here; see README). This proves the calls and their ordering.
        let broker = try makeBroker([TopicSpec(name: "in", partitions: 1), TopicSpec(name: "out", partitions: 1)])
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: config(broker, ["transactional.id": "tx-test"]), logger: logger)
        try producer.initTransactions()
        let consumer = try KafkaConsumer(configuration: config(broker, ["group.id": "tx-group"]), logger: logger)
        defer { consumer.close() }
        try producer.beginTransaction()
        let batch = DeliveryBatch()
        try producer.send(ProducerRecord(topic: "out", key: nil, value: Array("committed".utf8)), in: batch)
        try producer.sendOffsetsToTransaction([TopicPartitionOffset(TopicPartition("in", 0), offset: 1)], consumer: consumer)
        try producer.commitTransaction()
        try batch.waitForAll()
        try producer.beginTransaction()
        try producer.send(ProducerRecord(topic: "out", key: nil, value: Array("aborted".utf8)), in: DeliveryBatch())
        try producer.abortTransaction()
        XCTAssertNil(producer.fatalError)
        producer.close()
    }

    func testBadPropertiesAreTypedErrorsNamingTheProperty() {
        XCTAssertThrowsError(try KafkaProducer(configuration: KafkaConfiguration(["no.such.property": "1"]), logger: logger)) { error in
            guard let kafka = error as? KafkaError else { return XCTFail("not a KafkaError: \(error)") }
            XCTAssertTrue(kafka.description.contains("no.such.property"), kafka.description)
            XCTAssertFalse(kafka.isRetriable)
        }
        XCTAssertThrowsError(try KafkaConsumer(configuration: KafkaConfiguration(["session.timeout.ms": "not-a-number"]), logger: logger))
    }

    func testUnreachableBrokerFailsDeliveryWithinTheMessageTimeout() async throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": "1500"]), logger: logger)
        do {
            try await producer.send(ProducerRecord(topic: "nowhere", key: nil, value: [1]))
            XCTFail("delivery to an unreachable broker cannot succeed")
        } catch let error as KafkaError {
            XCTAssertTrue(error.isRetriable || error.name.contains("TIMED_OUT"), "\(error)")
        }
        producer.close(timeout: .seconds(1))
    }

    /// Apache Kafka's brokers turn Nagle's algorithm off; so does the local broker, on its
    /// listening sockets, and Linux hands the setting on to the connections they accept.
    func testTheLocalBrokersConnectionsHaveNagleOff() async throws {
        let broker = try LocalBroker(brokers: 3, topics: [TopicSpec(name: "t", partitions: 3)])
        defer { broker.stop() }
        XCTAssertEqual(broker.listenersWithNoDelay, 3)
        let producer = try KafkaProducer(configuration: config(broker), logger: logger)
        defer { producer.close() }
        _ = try await producer.send(ProducerRecord(topic: "t", key: Array("k".utf8), value: [1]))
        let accepted = Self.acceptedSockets(onPortsOf: broker.bootstrapServers)
        XCTAssertFalse(accepted.isEmpty, "no connection accepted by the local broker was found")
        for fd in accepted {
            var on: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            XCTAssertEqual(getsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, &size), 0)
            XCTAssertEqual(on, 1, "accepted socket \(fd) has Nagle's algorithm on")
        }
    }

    func testLearningTopicsAsksTheBrokerAndFailsTypedWhenItIsAway() throws {
        let broker = try makeBroker([TopicSpec(name: "t", partitions: 3)])
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: config(broker), logger: logger)
        XCTAssertNoThrow(try producer.learnTopics(timeout: .seconds(10)))
        producer.close()
        let away = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1"]), logger: logger)
        XCTAssertThrowsError(try away.learnTopics(timeout: .milliseconds(500))) { error in
            XCTAssertTrue((error as? KafkaError)?.isRetriable ?? false, "\(error)")
        }
        away.close(timeout: .seconds(1))
    }

    /// This process's connected TCP sockets whose local port is one of the broker's.
    static func acceptedSockets(onPortsOf bootstraps: String) -> [Int32] {
        let ports = Set(bootstraps.split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { UInt16($0) } })
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        return descriptors.filter { fd in
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            guard named == 0, address.sin_family == sa_family_t(AF_INET), ports.contains(UInt16(bigEndian: address.sin_port)) else { return false }
            var listening: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 && listening == 0
        }
    }
}
