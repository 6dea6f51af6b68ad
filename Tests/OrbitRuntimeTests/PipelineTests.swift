import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitTestSupport
import Synchronization
import XCTest

/// The runtime itself against the local broker: routing by key, global tables, batch commits,
/// restore; and its typed store without a broker.
final class PipelineTests: XCTestCase {
    let logger = Logger(label: "test.pipeline")

    enum Kind: String, InputKind { case left, right }

    /// Runs `pipeline` on its own thread until `body` returns, then stops it.
    func running(_ pipeline: StreamPipeline, _ body: () throws -> Void) throws {
        let stop = StopSignal()
        let done = DispatchSemaphore(value: 0)
        let box = PipelineBox(pipeline)
        Thread { try? box.pipeline.run(until: stop); done.signal() }.start()
        defer { stop.set(); done.wait() }
        try body()
    }

    func runtime(_ broker: LocalBroker, batch: Int = 100) -> RuntimeSettings {
        var runtime = RuntimeSettings(serviceName: "test", kafka: KafkaConfiguration(LocalProfile.kafkaOverrides.merging(["bootstrap.servers": broker.bootstrapServers]) { a, _ in a }),
                                      maxBatchRecords: batch, maxBatchWait: .milliseconds(50))
        runtime.maxInFlightBatches = 2
        return runtime
    }

    /// Records from a CRC32-hashing producer land, merged, on their key's murmur2 partition, each
    /// topic's records of a key in their original order, with their kind.
    func testTheRouterPlacesRecordsByKeyAndKeepsEachKeysOrder() throws {
        let broker = try LocalBroker(topics: ["left", "right", "merged"].map { TopicSpec(name: $0, partitions: 6) } + [TopicSpec(name: "dlq", partitions: 1)])
        defer { broker.stop() }
        let router = InputRouter<Kind>(sources: ["left": .left, "right": .right], output: "merged", partitionCount: 6,
                                       deadLetters: DeadLetters(topic: "dlq", service: "test"))
        let pipeline = StreamPipeline(settings: .init(groupID: "router", inputTopics: router.inputTopics, runtime: runtime(broker)), processor: router, logger: logger)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers, "partitioner": "consistent_random"]), logger: logger)
        let batch = DeliveryBatch()
        for i in 0..<600 {
            try producer.send(ProducerRecord(topic: i % 3 == 0 ? "right" : "left", key: "user-\(i % 40)", value: Array("\(i)".utf8)), in: batch)
        }
        try producer.send(ProducerRecord(topic: "left", key: nil, value: Array("no key".utf8)), in: batch)
        try batch.waitForAll()
        producer.close()
        try running(pipeline) {
            let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: ["merged", "dlq"])
            XCTAssertTrue(try reader.read(timeout: 60) { $0["merged"]!.count >= 600 && $0["dlq"]!.count >= 1 })
            var seen: [String: [Int]] = [:]
            for record in reader.records["merged"]!.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
                let key = String(decoding: record.key!, as: UTF8.self)
                XCTAssertEqual(record.partition, KeyPartitioner.partition(of: key, partitionCount: 6), key)
                let kind = InputRouter<Kind>.kind(of: record)
                let value = Int(String(decoding: record.value!, as: UTF8.self))!
                XCTAssertEqual(kind, value % 3 == 0 ? .right : .left)
                seen["\(key)/\(kind!.rawValue)", default: []].append(value)
            }
            for (key, values) in seen { XCTAssertEqual(values, values.sorted(), "order of \(key)") }
            let letter = try JSONParser.parse(reader.records["dlq"]![0].value!).objectValue
            XCTAssertEqual(letter?["error"]?.objectValue?["code"]?.stringValue, "missing_key")
        }
    }

    /// A registered global table is read from its beginning and brought up to date before each
    /// punctuation; the processor only looks at the view.
    func testGlobalTablesAreFedBeforeEachPunctuation() throws {
        let broker = try LocalBroker(topics: [TopicSpec(name: "in", partitions: 2), TopicSpec(name: "table", partitions: 1)])
        defer { broker.stop() }
        let view = GlobalTableView()
        let processor = TableWatcher(view: view)
        var settings = StreamPipeline.Settings(groupID: "watcher", inputTopics: ["in"], runtime: runtime(broker), punctuationInterval: .milliseconds(100),
                                               globalTables: [GlobalTableRegistration(topic: "table", view: view)])
        settings.clock = { 1_000 }
        let pipeline = StreamPipeline(settings: settings, processor: processor, logger: logger)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        defer { producer.close() }
        try running(pipeline) {
            for (key, value) in [("a", "1"), ("b", "2"), ("a", "3")] {
                let batch = DeliveryBatch()
                try producer.send(ProducerRecord(topic: "table", key: key, value: Array(value.utf8)), in: batch)
                try batch.waitForAll()
            }
            XCTAssertTrue(eventually(timeout: 30) { processor.seen.withLock { $0 } == ["a": "3", "b": "2"] }, "\(processor.seen.withLock { $0 })")
            XCTAssertEqual(processor.clock.withLock { $0 }, 1_000, "punctuation is given the runtime's clock")
        }
    }

    /// Work a punctuation leaves for later is done in parts right after it, each part sealed as a
    /// batch of its own (not all outputs in one batch, and not one part per interval), while
    /// records keep flowing between parts.
    func testWorkAPunctuationLeavesIsDoneInPartsABatchEach() throws {
        let broker = try LocalBroker(topics: ["in", "out"].map { TopicSpec(name: $0, partitions: 1) })
        defer { broker.stop() }
        let processor = PartedPunctuation(parts: 10, perPart: 5, output: "out")
        let pipeline = StreamPipeline(settings: .init(groupID: "parted", inputTopics: ["in"], runtime: runtime(broker, batch: 1000), punctuationInterval: .seconds(2)),
                                      processor: processor, logger: logger)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        defer { producer.close() }
        try running(pipeline) {
            let batch = DeliveryBatch()
            for i in 0..<20 { try producer.send(ProducerRecord(topic: "in", key: "k", value: Array("\(i)".utf8)), in: batch) }
            try batch.waitForAll()
            let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: ["out"])
            XCTAssertTrue(try reader.read(timeout: 60) { $0["out"]!.count >= 70 })
            let parts = reader.records["out"]!.compactMap { String(decoding: $0.value!, as: UTF8.self).split(separator: "/").first.map(String.init) }
            XCTAssertEqual(Set(parts.filter { $0.hasPrefix("part") }).count, 10)
        }
        let sealed = processor.partsPerSeal.withLock { $0 }
        XCTAssertEqual(sealed.filter { $0 > 0 }.count, 10, "each part sealed on its own: \(sealed)")
        XCTAssertTrue(sealed.allSatisfy { $0 <= 1 }, "never two parts in one batch: \(sealed)")
        XCTAssertEqual(processor.punctuationsWhenDone.withLock { $0 }, 1, "the parts follow each other, not one per interval")
    }

    /// Every input offset is committed once its outputs and state are written; a new member of
    /// the group restores the state and goes on where the first stopped.
    func testCommittedBatchesAndRestoredStateContinueExactly() throws {
        let broker = try LocalBroker(topics: ["in", "out", "changelog"].map { TopicSpec(name: $0, partitions: 3) })
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        defer { producer.close() }
        func publish(_ range: Range<Int>) throws {
            let batch = DeliveryBatch()
            for i in range { try producer.send(ProducerRecord(topic: "in", key: "k\(i % 7)", value: Array("\(i)".utf8)), in: batch) }
            try batch.waitForAll()
        }
        func counterPipeline() -> StreamPipeline {
            StreamPipeline(settings: .init(groupID: "counter", inputTopics: ["in"], runtime: runtime(broker, batch: 50)),
                           processor: RunningCount(changelog: "changelog", output: "out"), logger: logger)
        }
        try publish(0..<500)
        try running(counterPipeline()) {
            let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: ["out"])
            XCTAssertTrue(try reader.read(timeout: 60) { $0["out"]!.count >= 500 })
        }
        XCTAssertEqual(try consumerLag(bootstrap: broker.bootstrapServers, group: "counter", topics: ["in"]), 0, "every offset committed")
        try publish(500..<700)
        try running(counterPipeline()) {
            let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: ["out"])
            XCTAssertTrue(try reader.read(timeout: 60) { $0["out"]!.count >= 700 })
            // The last count of each key is its number of records: the restored state went on.
            var last: [String: Int] = [:]
            for record in reader.records["out"]!.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
                last[String(decoding: record.key!, as: UTF8.self)] = Int(String(decoding: record.value!, as: UTF8.self))
            }
            XCTAssertEqual(last, Dictionary(uniqueKeysWithValues: (0..<7).map { k in ("k\(k)", (0..<700).filter { $0 % 7 == k }.count) }))
            XCTAssertEqual(reader.records["out"]!.count, 700, "a clean hand-over repeats nothing")
        }
    }

    /// Partitions written in transactions end in markers, which take an offset and are never
    /// delivered. A caught-up pipeline commits its consumer's position past them, so its group's
    /// lag reads 0 (committing the last record's offset + 1 left 1 per partition for good): after
    /// records, for a partition holding markers only, and for a marker arriving while it is idle.
    func testACaughtUpGroupCommitsPastTransactionMarkers() throws {
        let broker = try LocalBroker(topics: ["in", "out", "changelog"].map { TopicSpec(name: $0, partitions: 3) })
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        defer { producer.close() }
        let batch = DeliveryBatch()
        for i in 0..<60 { try producer.send(ProducerRecord(topic: "in", partition: Int32(i % 2), key: Array("k\(i % 7)".utf8), value: Array("\(i)".utf8)), in: batch) }
        try batch.waitForAll()
        try TransactionMarker.write(.commit, topic: "in", partition: 0, bootstrap: broker.bootstrapServers)
        try TransactionMarker.write(.commit, topic: "in", partition: 1, bootstrap: broker.bootstrapServers)
        try TransactionMarker.write(.abort, topic: "in", partition: 2, bootstrap: broker.bootstrapServers)
        func lag() throws -> Int64 { try consumerLag(bootstrap: broker.bootstrapServers, group: "marked", topics: ["in"]) }
        let pipeline = StreamPipeline(settings: .init(groupID: "marked", inputTopics: ["in"], runtime: runtime(broker, batch: 50)),
                                      processor: RunningCount(changelog: "changelog", output: "out"), logger: logger)
        try running(pipeline) {
            let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: ["out"])
            XCTAssertTrue(try reader.read(timeout: 60) { $0["out"]!.count >= 60 })
            XCTAssertTrue(try eventually(timeout: 30, interval: 0.2) { try lag() == 0 }, "lag \((try? lag()) ?? -1) with every record handled")
            // Idle, a marker arrives on its own.
            try TransactionMarker.write(.commit, topic: "in", partition: 0, bootstrap: broker.bootstrapServers)
            XCTAssertTrue(try eventually(timeout: 30, interval: 0.2) { try lag() == 0 }, "lag \((try? lag()) ?? -1) after a marker alone")
            try reader.drain(for: 0.5)
            XCTAssertEqual(reader.records["out"]!.count, 60, "markers make no outputs")
        }
    }

    /// Repeated Kafka errors show in the pipeline's status (what `/health` reports as degraded),
    /// with the last error, while the pipeline keeps running.
    func testRepeatedKafkaErrorsMakeThePipelineDegraded() throws {
        let runtime = RuntimeSettings(serviceName: "test", kafka: KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1", "reconnect.backoff.ms": "10", "reconnect.backoff.max.ms": "50"]),
                                      maxBatchRecords: 10, maxBatchWait: .milliseconds(50))
        let pipeline = StreamPipeline(settings: .init(groupID: "nowhere", inputTopics: ["in"], runtime: runtime), processor: TableWatcher(view: GlobalTableView()), logger: logger)
        try running(pipeline) {
            XCTAssertTrue(eventually(timeout: 30) { pipeline.status.snapshot.isDegraded }, "\(pipeline.status.snapshot.kafka)")
            let snapshot = pipeline.status.snapshot
            XCTAssertEqual(snapshot.state, .running)
            XCTAssertNotNil(snapshot.kafka.lastError)
        }
    }

    func testTheTypedStoreCachesCoalescesAndWritesTombstones() throws {
        let store = KeyedStore<Count>(changelogTopic: "c", cachePolicy: .perBatch)
        store.put(1, "b", Count(value: 1))
        store.put(0, "z", Count(value: 2))
        store.put(1, "a", Count(value: 3))
        store.put(1, "b", Count(value: 4))
        XCTAssertEqual(store.changedKeys.map { "\($0.partition)/\($0.key)" }, ["0/z", "1/a", "1/b"])
        var changes = store.takeChanges()
        XCTAssertEqual(changes.map { "\($0.partition!)/\(String(decoding: $0.key!, as: UTF8.self))=\($0.value.map { String(decoding: $0, as: UTF8.self) } ?? "nil")" },
                       ["0/z=2", "1/a=3", "1/b=4"], "one record per key, the latest value, in order")
        XCTAssertEqual(try store.get(1, "b")?.value, 4, "decoded again from the stored bytes")
        store.delete(1, "a")
        changes = store.takeChanges()
        XCTAssertEqual(changes.count, 1)
        XCTAssertNil(changes[0].value, "a delete is a tombstone (null value)")
        XCTAssertNil(try store.get(1, "a"))
        store.restore(2, "bad", [0xFF])
        XCTAssertThrowsError(try store.get(2, "bad")) { XCTAssertTrue($0 is UnreadableState) }
    }

    func testTheTypedStoreListsAKeyOnceWhateverHappenedToItInABatch() throws {
        for policy in [KeyedStore<Count>.CachePolicy.perBatch, .retained] {
            let store = KeyedStore<Count>(changelogTopic: "c", cachePolicy: policy)
            store.put(0, "a", Count(value: 1))
            store.put(0, "b", Count(value: 1))
            _ = store.takeChanges()
            // Updated in place twice, deleted then created again, and a key left unchanged.
            try store.update(0, "a", initial: { Count(value: 0) }) { $0.value += 1; return true }
            try store.update(0, "a", initial: { Count(value: 0) }) { $0.value += 1; return true }
            store.delete(0, "b")
            try store.update(0, "b", initial: { Count(value: 10) }) { $0.value += 1; return true }
            XCTAssertFalse(try store.update(0, "c", initial: { Count(value: 0) }) { _ in false }, "an untouched new key is not kept")
            var seen: [String] = []
            store.updateChanged { partition, key, value in seen.append("\(partition)/\(key)=\(value.value)") }
            XCTAssertEqual(seen, ["0/a=3", "0/b=11"], "\(policy)")
            var read: [String] = []
            store.forEachChanged { partition, key, value in read.append("\(partition)/\(key)=\(value.value)") }
            XCTAssertEqual(read, seen, "the read-only pass sees what the in-place one does")
            let changes = store.takeChanges()
            XCTAssertEqual(changes.map { "\(String(decoding: $0.key!, as: UTF8.self))=\($0.value.map { String(decoding: $0, as: UTF8.self) } ?? "nil")" },
                           ["a=3", "b=11"], "one record per key, in key order, after a delete and a re-creation")
            XCTAssertNil(try store.get(0, "c"))
            XCTAssertTrue(store.takeChanges().isEmpty, "nothing is written twice")
            XCTAssertEqual(try store.get(0, "a")?.value, 3)
            // A cached value the body leaves alone is not a change; one it changes is, once.
            XCTAssertFalse(try store.update(0, "a", initial: { Count(value: 0) }) { _ in false })
            XCTAssertTrue(store.changedKeys.isEmpty, "\(policy)")
            XCTAssertTrue(try store.update(0, "a", initial: { Count(value: 0) }) { $0.value += 1; return true })
            XCTAssertFalse(try store.update(0, "a", initial: { Count(value: 0) }) { _ in false })
            XCTAssertEqual(store.changedKeys.map(\.key), ["a"], "\(policy)")
            XCTAssertEqual(store.takeChanges().map { $0.value.map { String(decoding: $0, as: UTF8.self) } }, ["4"])
        }
    }

    func testTheContentHashIsStableAndTellsOutputsApart() {
        // Fixed values: the hash is kept in state, so it must not change between builds or machines.
        XCTAssertEqual(StableHash.content([]), StableHash.content([]))
        XCTAssertEqual(StableHash.content(Array("orbit".utf8)), 0x9019_7084_b320_f00d)
        var seen: Set<UInt64> = []
        let base = Array(repeating: UInt8(ascii: "x"), count: 40)
        for length in 0...40 { seen.insert(StableHash.content(Array(base.prefix(length)))) }
        for position in 0..<40 {
            var changed = base
            changed[position] = UInt8(ascii: "y")
            seen.insert(StableHash.content(changed))
        }
        XCTAssertEqual(seen.count, 81, "every length and every one-byte change gives another hash")
    }
}

/// `@unchecked Sendable`: handed to the one thread that runs it; the test only joins that thread.
struct PipelineBox: @unchecked Sendable {
    let pipeline: StreamPipeline
    init(_ pipeline: StreamPipeline) { self.pipeline = pipeline }
}

struct Count: StateCodable, Equatable {
    var value: Int
    init(value: Int) { self.value = value }
    init(stateBytes: [UInt8]) throws {
        guard let value = Int(String(decoding: stateBytes, as: UTF8.self)) else { throw CompactReader.Failure.malformed }
        self.value = value
    }
    func stateBytes() -> [UInt8] { Array(String(value).utf8) }
}

/// Counts records per key in a typed store and outputs the running count.
final class RunningCount: RecordProcessor {
    let store: KeyedStore<Count>
    let output: String
    init(changelog: String, output: String) {
        store = KeyedStore(changelogTopic: changelog)
        self.output = output
    }
    func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {
        try store.restoreNewlyAssigned(partitions, of: "in", reader: restorer, logger: Logger(label: "test"), noun: "keys")
    }
    func partitionsRevoked(_ partitions: [TopicPartition]) { store.drop(partitions, of: "in") }
    func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        let key = String(decoding: record.key!, as: UTF8.self)
        let count = Count(value: (try store.get(record.partition, key)?.value ?? 0) + 1)
        store.put(record.partition, key, count)
        outputs.append(ProducerRecord(topic: output, key: record.key, value: count.stateBytes()))
    }
    func takeStateChanges() -> [ProducerRecord] { store.takeChanges() }
}

/// Echoes records; its first punctuation leaves `parts` parts of `perPart` outputs each for later.
final class PartedPunctuation: RecordProcessor {
    let parts: Int
    let perPart: Int
    let output: String
    private var started = false
    private var left = 0
    private var partsSinceSeal = 0
    private var punctuations = 0
    let partsPerSeal = Mutex<[Int]>([])
    let punctuationsWhenDone = Mutex<Int>(0)
    init(parts: Int, perPart: Int, output: String) {
        self.parts = parts
        self.perPart = perPart
        self.output = output
    }
    func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) {
        outputs.append(ProducerRecord(topic: output, key: record.key, value: Array("record/".utf8) + (record.value ?? [])))
    }
    func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) {
        punctuations += 1
        guard !started else { return }
        started = true
        left = parts
    }
    var hasPendingPunctuation: Bool { left > 0 }
    func continuePunctuation(context: ProcessingContext, outputs: inout [ProducerRecord]) {
        let part = parts - left
        for n in 0..<perPart { outputs.append(ProducerRecord(topic: output, key: "p", value: Array("part\(part)/\(n)".utf8))) }
        left -= 1
        partsSinceSeal += 1
        if left == 0 { punctuationsWhenDone.withLock { [punctuations] in $0 = punctuations } }
    }
    func takeStateChanges() -> [ProducerRecord] {
        let count = partsSinceSeal
        partsSinceSeal = 0
        partsPerSeal.withLock { $0.append(count) }
        return []
    }
}

/// Copies what the global table view holds at each punctuation.
final class TableWatcher: RecordProcessor {
    let view: GlobalTableView
    let seen = Mutex<[String: String]>([:])
    let clock = Mutex<Int64>(0)
    init(view: GlobalTableView) { self.view = view }
    func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) {}
    func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) {
        let values = view.snapshot.values.mapValues { String(decoding: $0, as: UTF8.self) }
        seen.withLock { $0 = values }
        clock.withLock { $0 = context.nowMillis }
    }
}
