import Foundation
import Logging
import OrbitKafka
import OrbitRuntime
import OrbitTestSupport
import XCTest

/// The disk-backed store (SQLite) against the local broker: values survive in their files, a clean
/// drop leaves a checkpoint that the next restore resumes from, and anything else (a crash, a file
/// of another partition) restores from the whole changelog, as memory does.
final class DiskStateTests: XCTestCase {
    let logger = Logger(label: "test.disk-state")
    var directory = ""

    override func setUp() {
        directory = NSTemporaryDirectory() + "orbit-disk-state-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func partitions(_ numbers: [Int32]) -> [TopicPartition] { numbers.map { TopicPartition("in", $0) } }

    func diskStore() -> KeyedStore<Count> {
        KeyedStore<Count>(changelogTopic: "changelog", cachePolicy: .perBatch, backend: .disk(directory: directory, cacheKiB: 256))
    }

    func values(_ store: KeyedStore<Count>, _ partition: Int32) throws -> [String: Int] {
        var values: [String: Int] = [:]
        try store.forEach(partition) { key, value in values[key] = value.value }
        return values
    }

    func testACleanDropLeavesACheckpointAndACrashRestoresFromTheChangelog() throws {
        let broker = try LocalBroker(topics: [TopicSpec(name: "changelog", partitions: 2)])
        defer { broker.stop() }
        let kafka = KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers])
        let reader = ChangelogReader(kafka: kafka, logger: logger)

        var store = diskStore()
        try store.restoreNewlyAssigned(partitions([0, 1]), of: "in", reader: reader, logger: logger, noun: "counts")
        for i in 0..<100 { store.put(Int32(i % 2), "k\(i)", Count(value: i)) }
        try broker.publish(store.takeChanges())
        // The store writes k0 = 1000; the changelog gets another value for it (so the file and the
        // changelog can be told apart below; the number of records is what the checkpoint checks).
        store.put(0, "k0", Count(value: 1000))
        XCTAssertEqual(store.takeChanges().count, 1)
        try broker.publish([ProducerRecord(topic: "changelog", partition: 0, key: Array("k0".utf8), value: Array("555".utf8))])
        XCTAssertEqual(store.count, 100)
        store.drop(partitions([0, 1]), of: "in", cleanly: true)

        // Another writer appends after the checkpoint: the restore reads only that tail, over the file.
        try broker.publish([ProducerRecord(topic: "changelog", partition: 1, key: Array("late".utf8), value: Array("7".utf8))])
        store = diskStore()
        XCTAssertEqual(try store.restoreNewlyAssigned(partitions([0, 1]), of: "in", reader: reader, logger: logger, noun: "counts"), [0, 1])
        XCTAssertEqual(store.count, 101)
        XCTAssertEqual(try store.get(0, "k0")?.value, 1000, "the file's own value: restored from the checkpoint, not from the changelog")
        XCTAssertEqual(try store.get(1, "late")?.value, 7, "the changelog after the checkpoint is applied")
        XCTAssertEqual(try values(store, 0).count, 50)

        // Dropped without acknowledgements (a failed drain, or a crash): no checkpoint is kept, and
        // the next restore rebuilds the files from the changelog alone.
        store.drop(partitions([0, 1]), of: "in", cleanly: false)
        store = diskStore()
        try store.restoreNewlyAssigned(partitions([0, 1]), of: "in", reader: reader, logger: logger, noun: "counts")
        XCTAssertEqual(try store.get(0, "k0")?.value, 555, "the changelog's value")
        XCTAssertEqual(try store.get(1, "late")?.value, 7)
        XCTAssertEqual(store.count, 101)

        // A clean drop whose changelog does not end where this copy left it (a record of this store
        // never reached Kafka; or another owner wrote) keeps no checkpoint either.
        store.put(0, "k0", Count(value: 2000))
        _ = store.takeChanges()
        store.drop(partitions([0, 1]), of: "in", cleanly: true)
        store = diskStore()
        try store.restoreNewlyAssigned(partitions([0, 1]), of: "in", reader: reader, logger: logger, noun: "counts")
        XCTAssertEqual(try store.get(0, "k0")?.value, 555, "no checkpoint: the unacknowledged 2000 is gone")
        store.drop(partitions([0, 1]), of: "in", cleanly: true)

        // A checkpoint is deleted when its file is opened: a crash after a fast restart (no drop)
        // restores from the changelog again.
        store = diskStore()
        try store.restoreNewlyAssigned(partitions([0]), of: "in", reader: reader, logger: logger, noun: "counts")
        store.drop(partitions([0]), of: "in", cleanly: false)  // what a crash leaves: the file, no checkpoint
        store = diskStore()
        try store.restoreNewlyAssigned(partitions([0]), of: "in", reader: reader, logger: logger, noun: "counts")
        XCTAssertEqual(try store.get(0, "k0")?.value, 555)
        store.drop(partitions([0]), of: "in", cleanly: false)
    }

    func testFilesOfPartitionsHeldElsewhereAreDeletedUnlessTheyHaveAFreshCheckpoint() throws {
        let broker = try LocalBroker(topics: [TopicSpec(name: "changelog", partitions: 3)])
        defer { broker.stop() }
        let reader = ChangelogReader(kafka: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        var store = diskStore()
        try store.restoreNewlyAssigned(partitions([0, 1, 2]), of: "in", reader: reader, logger: logger, noun: "counts")
        for p in [0, 1, 2] as [Int32] { store.put(p, "user-\(p)", Count(value: 1)) }
        try broker.publish(store.takeChanges())
        store.drop(partitions([1]), of: "in", cleanly: true)   // handed over cleanly: kept for a quick return
        store.drop(partitions([2]), of: "in", cleanly: false)  // no checkpoint: of no use to anyone
        store.drop(partitions([0]), of: "in", cleanly: false)
        store = diskStore()
        try store.restoreNewlyAssigned(partitions([0]), of: "in", reader: reader, logger: logger, noun: "counts")
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: directory + "/changelog").filter { $0.hasSuffix(".sqlite") })
        XCTAssertEqual(files, ["0.sqlite", "1.sqlite"], "the file without a checkpoint is deleted, user data and all")
    }

    func testAnOpenPartitionFileIsHeldByOneStoreOnly() throws {
        let broker = try LocalBroker(topics: [TopicSpec(name: "changelog", partitions: 1)])
        defer { broker.stop() }
        let reader = ChangelogReader(kafka: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        let first = diskStore()
        try first.restoreNewlyAssigned(partitions([0]), of: "in", reader: reader, logger: logger, noun: "counts")
        let started = Date()
        XCTAssertThrowsError(try diskStore().restoreNewlyAssigned(partitions([0]), of: "in", reader: reader, logger: logger, noun: "counts")) { error in
            XCTAssertTrue("\(error)".contains("another store holds"), "\(error)")
        }
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 9, "it waits for a hand-over before giving up")
        first.drop(partitions([0]), of: "in", cleanly: false)
        let second = diskStore()
        XCTAssertEqual(try second.restoreNewlyAssigned(partitions([0]), of: "in", reader: reader, logger: logger, noun: "counts"), [0])
    }

    func testDiskAndMemoryGiveTheSameValuesInTheSameOrder() throws {
        let broker = try LocalBroker(topics: [TopicSpec(name: "changelog", partitions: 1)])
        defer { broker.stop() }
        let reader = ChangelogReader(kafka: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        let memory = KeyedStore<Count>(changelogTopic: "changelog", cachePolicy: .perBatch)
        let disk = diskStore()
        for store in [memory, disk] {
            try store.restoreNewlyAssigned(partitions([0]), of: "in", reader: reader, logger: logger, noun: "counts")
            for key in ["b", "d", "f", "Z", "é", "b\u{0}x"] { store.put(0, key, Count(value: key.utf8.count)) }
            _ = store.takeChanges()
            // This batch: one stored key changed, one deleted, two new ones between the stored keys.
            try store.update(0, "d", initial: { Count(value: 0) }) { $0.value = 40; return true }
            store.delete(0, "f")
            store.put(0, "c", Count(value: 3))
            store.put(0, "a", Count(value: 1))
        }
        var sequences: [[String]] = []
        for store in [memory, disk] {
            var sequence: [String] = []
            try store.forEach(0) { key, value in sequence.append("\(key)=\(value.value)") }
            sequences.append(sequence)
        }
        XCTAssertEqual(sequences[0], ["Z=1", "a=1", "b=1", "b\u{0}x=3", "c=3", "d=40", "é=2"], "byte order of the keys, this batch's values")
        XCTAssertEqual(sequences[1], sequences[0])
        // A pass in parts (as the scorer's daily re-evaluation goes, a batch's worth at a time)
        // sees the same values in the same order, whatever the part size, with either backend.
        for store in [memory, disk] {
            for size in 1...8 {
                var sequence: [String] = []
                var cursor: String?
                var parts = 0
                repeat {
                    cursor = try store.forEach(0, after: cursor, limit: size) { key, value in sequence.append("\(key)=\(value.value)") }
                    parts += 1
                } while cursor != nil && parts < 100
                XCTAssertEqual(sequence, sequences[0], "parts of \(size)")
            }
        }
        XCTAssertEqual(memory.takeChanges().map(\.key), disk.takeChanges().map(\.key))
        XCTAssertEqual(disk.count, 7, "a key with U+0000 is a key of its own")
        XCTAssertEqual(memory.count, 7)
        XCTAssertNil(try disk.get(0, "f"))
    }

    func testAnErasedValueLeavesNoBytesInTheFile() throws {
        let broker = try LocalBroker(topics: [TopicSpec(name: "changelog", partitions: 1)])
        defer { broker.stop() }
        let reader = ChangelogReader(kafka: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        let store = diskStore()
        try store.restoreNewlyAssigned(partitions([0]), of: "in", reader: reader, logger: logger, noun: "counts")
        for i in 0..<200 { store.put(0, "keep-\(i)", Count(value: i)) }
        store.put(0, "erase-me-user-4711", Count(value: 987_654_321_987))
        try broker.publish(store.takeChanges())
        store.delete(0, "erase-me-user-4711")
        try broker.publish(store.takeChanges())
        func traces() throws -> [String] {
            var found: [String] = []
            for name in try FileManager.default.contentsOfDirectory(atPath: directory + "/changelog") {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/changelog/" + name))
                for marker in ["erase-me-user-4711", "987654321987"] where bytes.range(of: Data(marker.utf8)) != nil { found.append("\(name): \(marker)") }
            }
            return found
        }
        XCTAssertEqual(try traces(), [], "while running: nothing of an erased key or value stays in the file or its write-ahead log")
        store.drop(partitions([0]), of: "in", cleanly: true)
        XCTAssertEqual(try traces(), [], "after the stop")
    }

    func testAnUnusableFileIsRebuiltFromTheChangelog() throws {
        let broker = try LocalBroker(topics: [TopicSpec(name: "changelog", partitions: 1)])
        defer { broker.stop() }
        try broker.publish([ProducerRecord(topic: "changelog", partition: 0, key: Array("a".utf8), value: Array("5".utf8))])
        let reader = ChangelogReader(kafka: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        let folder = directory + "/changelog"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("not a database, whatever its name says".utf8).write(to: URL(fileURLWithPath: folder + "/0.sqlite"))
        let store = diskStore()
        try store.restoreNewlyAssigned(partitions([0]), of: "in", reader: reader, logger: logger, noun: "counts")
        XCTAssertEqual(try store.get(0, "a")?.value, 5)
        XCTAssertEqual(store.count, 1)
    }

    func testTheStateSectionChoosesTheStore() throws {
        func settings(_ yaml: String) throws -> RuntimeSettings {
            try RuntimeSettings(document: try ConfigDocument(yaml: yaml, file: "orbit.yaml"), defaultServiceName: "orbit-test", defaultHTTPPort: 0)
        }
        XCTAssertEqual(try settings("service: {}\n").stateStore, .memory)
        XCTAssertEqual(try settings("state:\n  store: disk\n  dir: /var/lib/orbit\n  cache_kib: 2048\n").stateStore, .disk(directory: "/var/lib/orbit", cacheKiB: 2048))
        XCTAssertThrowsError(try settings("state:\n  store: rocksdb\n")) { error in
            XCTAssertTrue("\(error)".contains("orbit.yaml") && "\(error)".contains("state.store"), "\(error)")
        }
    }
}
