import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring

/// `orbit bench state`: the scorer's typed store on the disk backend (SQLite) holding millions of
/// users: resident memory while it fills and after, then the restart a local checkpoint allows.
struct StateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "The scorer's store on disk (state.store: disk): resident memory with 5M users (target < 300 MB) and a restore from the local checkpoint (target < 2 s).")

    @Option(help: "Users written to the store.") var users = 5_000_000
    @Option(help: "Store (and changelog) partitions.") var partitions = 64
    @Option(help: "Users per batch (one transaction per partition file, as a pipeline's batch).") var batch = 50_000
    @Option(help: "SQLite page cache per partition file, KiB (state.cache_kib).") var cacheKib = 1024
    @Option(help: "Changelog records another writer appends after the checkpoint (the restore reads them).") var tail = 10_000
    @Option(help: "Directory for the SQLite files (removed afterwards); default: a temporary one.") var dir: String?

    func run() async throws {
        let bench = try BenchBroker(input: "bench-state-input", partitions: partitions)
        defer { bench.broker.stop() }
        let (broker, kafka, logger) = (bench.broker, bench.kafka, bench.logger)
        let changelog = "bench-state-changelog"
        try broker.createTopic(TopicSpec(name: changelog, partitions: partitions))
        let directory = dir ?? NSTemporaryDirectory() + "orbit-bench-state-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let backend = StateStoreKind.disk(directory: directory, cacheKiB: cacheKib)
        let reader = ChangelogReader(kafka: kafka, logger: logger)
        let assigned = (0..<Int32(partitions)).map { TopicPartition(bench.input, $0) }
        Output.line("orbit bench state: \(users) users in the scorer's store on disk, \(partitions) partition files, \(cacheKib) KiB page cache each, batches of \(batch)")

        // Fill, as a scorer's batches would: each user's state put once, changes taken per batch.
        let baseline = Memory.residentBytes()
        var store: KeyedStore<UserState>? = KeyedStore<UserState>(changelogTopic: changelog, cachePolicy: .perBatch, backend: backend)
        try store!.restoreNewlyAssigned(assigned, of: bench.input, reader: reader, logger: logger, noun: "users")
        let started = ContinuousClock.now
        var peak = 0
        var lastChanges: [ProducerRecord] = []
        var states = ScorerBench.states(users).makeIterator()
        var written = 0
        while written < users {
            for index in written..<min(users, written + batch) {
                let key = "user-\(index)"
                let state = states.next()!
                try store!.update(KeyPartitioner.partition(of: key, partitionCount: partitions), key, initial: { state }) { _ in true }
            }
            written = min(users, written + batch)
            lastChanges = store!.takeChanges()
            peak = max(peak, Memory.residentBytes())
            if written % 1_000_000 == 0 { Output.line("  \(written) users written, resident \(peak / 1_000_000) MB at most so far") }
        }
        let fillSeconds = (ContinuousClock.now - started).seconds
        // The last batch's changelog records reach Kafka, as a pipeline's would before it commits
        // (the earlier batches' are left out: the local broker keeps 5 MiB per partition).
        try Self.publish(lastChanges, kafka: kafka, logger: logger)
        Memory.trim()
        let resident = Memory.residentBytes()
        Output.line(String(format: "fill:             %d users in %.1f s (%.0f users/s); %d held", users, fillSeconds, Double(users) / fillSeconds, store!.count))
        Output.line(String(format: "memory:           resident %.0f MB with %d users (peak while filling %.0f MB, process baseline %.0f MB; target < 300 MB) %@",
                           Double(resident) / 1e6, store!.count, Double(peak) / 1e6, Double(baseline) / 1e6, max(peak, resident) < 300_000_000 ? "PASS" : "ABOVE TARGET"))
        Output.line(String(format: "disk:             %.0f MB in %@", Double(Self.bytes(under: directory)) / 1e6, directory))

        // A clean stop: every changelog record acknowledged, a checkpoint per partition file.
        store!.drop(assigned, of: bench.input, cleanly: true)
        store = nil
        // Another writer appends after the checkpoints: the restore must read those records.
        try Self.publish((0..<tail).map { index in
            let key = "late-\(index)"
            return ProducerRecord(topic: changelog, partition: KeyPartitioner.partition(of: key, partitionCount: partitions), key: Array(key.utf8), value: UserState().encoded())
        }, kafka: kafka, logger: logger)

        let restarted = KeyedStore<UserState>(changelogTopic: changelog, cachePolicy: .perBatch, backend: backend)
        let restoreStarted = ContinuousClock.now
        try restarted.restoreNewlyAssigned(assigned, of: bench.input, reader: reader, logger: logger, noun: "users")
        let restoreSeconds = (ContinuousClock.now - restoreStarted).seconds
        Output.line(String(format: "restore:          %.2f s from the local checkpoints (%d changelog records after them), %d users held (target < 2 s) %@",
                           restoreSeconds, tail, restarted.count, restoreSeconds < 2 ? "PASS" : "ABOVE TARGET"))
        guard restarted.count == users + tail else { throw ValidationError("the restarted store holds \(restarted.count) users, not \(users + tail)") }
        // Spot check: users decode, and hold what was written.
        var generator = SystemRandomNumberGenerator()
        let lookupsStarted = ContinuousClock.now
        for _ in 0..<1000 {
            let index = Int.random(in: 0..<users, using: &generator)
            let key = "user-\(index)"
            guard let state = try restarted.get(KeyPartitioner.partition(of: key, partitionCount: partitions), key), state.grossMinor % 1000 == Int64(index % 1000) else {
                throw ValidationError("user \(key) did not come back as written")
            }
        }
        Output.line(String(format: "reads:            1000 random users decoded and checked in %.1f ms (cold cache)", (ContinuousClock.now - lookupsStarted).seconds * 1000))
        restarted.drop(assigned, of: bench.input, cleanly: false)
    }

    static func publish(_ records: [ProducerRecord], kafka: KafkaConfiguration, logger: Logger) throws {
        let producer = try KafkaProducer(configuration: kafka, name: "bench-state", logger: logger)
        defer { producer.close() }
        let batch = DeliveryBatch()
        for record in records { try producer.send(record, in: batch) }
        try batch.waitForAll()
    }

    static func bytes(under directory: String) -> Int {
        guard let files = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var total = 0
        for case let file as String in files {
            total += ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + file))?[.size] as? Int) ?? 0
        }
        return total
    }
}
