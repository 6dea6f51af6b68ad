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
    @Flag(inversion: .prefixedNo, help: "Run the scorer's daily re-evaluation of every user on the restored store.") var reevaluate = true

    func validate() throws {
        try OptionChecks.require(users, "users", in: OptionChecks.positive)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(batch, "batch", in: OptionChecks.positive)
        try OptionChecks.require(cacheKib, "cache-kib", in: OptionChecks.positive)
        try OptionChecks.require(tail, "tail", in: 0...Int.max)
    }

    func run() async throws {
        BenchCommand.quietLogs()
        let logger = Logger(label: "orbit.bench")
        // The broker runs in a process of its own (`orbit broker`), as it would beside a scorer:
        // the local broker keeps its records in memory, and in this process they would count as
        // the store's resident memory.
        let brokerHome = NSTemporaryDirectory() + "orbit-bench-state-broker-\(getpid())"
        let brokerProcess = try Self.startBroker(home: brokerHome, partitions: partitions)
        defer {
            brokerProcess.terminate()
            brokerProcess.waitUntilExit()
            try? FileManager.default.removeItem(atPath: brokerHome)
        }
        let bootstrap = try String(contentsOfFile: brokerHome + "/bootstrap", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let kafka = KafkaConfiguration(LocalProfile.kafkaOverrides.merging(["bootstrap.servers": bootstrap]) { a, _ in a })
        // The scorer's own topics, which `orbit broker` makes (the local broker has no admin API).
        let changelog = "orbit-scorer.user-state-changelog"
        let input = "orbit.user-events.valid"
        let directory = dir ?? NSTemporaryDirectory() + "orbit-bench-state-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let backend = StateStoreKind.disk(directory: directory, cacheKiB: cacheKib)
        let reader = ChangelogReader(kafka: kafka, logger: logger)
        let assigned = (0..<Int32(partitions)).map { TopicPartition(input, $0) }
        Output.line("orbit bench state: \(users) users in the scorer's store on disk, \(partitions) partition files, \(cacheKib) KiB page cache each, batches of \(batch)")

        // Fill, as a scorer's batches would: each user's state put once, changes taken per batch.
        let baseline = Memory.residentBytes()
        var store: KeyedStore<UserState>? = KeyedStore<UserState>(changelogTopic: changelog, cachePolicy: .perBatch, backend: backend)
        try store!.restoreNewlyAssigned(assigned, of: input, reader: reader, logger: logger, noun: "users")
        let started = ContinuousClock.now
        var peak = 0
        var states = ScorerBench.states(users).makeIterator()
        var written = 0
        // Every batch's changelog records go to Kafka, acknowledged before the next batch, as a
        // pipeline's are before it commits (the local broker keeps only the newest 5 MiB of each
        // partition, but its offsets count every record: what a checkpoint is checked against).
        let producer = try KafkaProducer(configuration: kafka, name: "bench-state", logger: logger)
        while written < users {
            for index in written..<min(users, written + batch) {
                let key = "user-\(index)"
                let state = states.next()!
                try store!.update(KeyPartitioner.partition(of: key, partitionCount: partitions), key, initial: { state }) { _ in true }
            }
            written = min(users, written + batch)
            let acknowledged = DeliveryBatch()
            for record in store!.takeChanges() { try producer.send(record, in: acknowledged) }
            try acknowledged.waitForAll()
            peak = max(peak, Memory.residentBytes())
            if written % 1_000_000 == 0 { Output.line("  \(written) users written, resident \(peak / 1_000_000) MB at most so far") }
        }
        producer.close()
        let fillSeconds = (ContinuousClock.now - started).seconds
        Memory.trim()
        let resident = Memory.residentBytes()
        Output.line(String(format: "fill:             %d users in %.1f s (%.0f users/s, changelog records acknowledged per batch); %d held", users, fillSeconds, Double(users) / fillSeconds, store!.count))
        Output.line(String(format: "memory:           resident %.0f MB with %d users (peak while filling %.0f MB, process baseline %.0f MB; target < 300 MB) %@",
                           Double(resident) / 1e6, store!.count, Double(peak) / 1e6, Double(baseline) / 1e6, max(peak, resident) < 300_000_000 ? "PASS" : "ABOVE TARGET"))
        Output.line(String(format: "disk:             %.0f MB in %@", Double(Self.bytes(under: directory)) / 1e6, directory))

        // A clean stop: every changelog record acknowledged, a checkpoint per partition file.
        store!.drop(assigned, of: input, cleanly: true)
        store = nil
        // Another writer appends after the checkpoints: the restore must read those records.
        try Self.publish((0..<tail).map { index in
            let key = "late-\(index)"
            return ProducerRecord(topic: changelog, partition: KeyPartitioner.partition(of: key, partitionCount: partitions), key: Array(key.utf8), value: UserState().encoded())
        }, kafka: kafka, logger: logger)

        let restarted = KeyedStore<UserState>(changelogTopic: changelog, cachePolicy: .perBatch, backend: backend)
        let restoreStarted = ContinuousClock.now
        try restarted.restoreNewlyAssigned(assigned, of: input, reader: reader, logger: logger, noun: "users")
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
        restarted.drop(assigned, of: input, cleanly: true)
        if reevaluate {
            // Parts as the scorer sizes them for a batch of this size.
            try Self.reevaluateEveryone(assigned: assigned, partitions: partitions, part: ScoringProcessor.reevaluationPart(maxBatchRecords: batch),
                                        backend: backend, reader: reader, logger: logger)
        }
    }

    /// The scorer's daily pass over every user, by the scorer's processor on these files: every
    /// user publishes a profile (none was published yet), a batch's worth of users per part, each
    /// part's outputs and changelog records taken before the next, as the runtime does.
    static func reevaluateEveryone(assigned: [TopicPartition], partitions: Int, part: Int, backend: StateStoreKind,
                                   reader: ChangelogReader, logger: Logger) throws {
        let settings = ScoringSettings()
        let processor = StageProcessor.keeping(backend: backend, partitionedLike: settings.inputTopic, logger: logger) { stores in
            ScoringProcessor(settings: settings, partitionCount: partitions, sketches: GlobalTableView(),
                             deadLetters: DeadLetters(topic: settings.deadLettersTopic, service: "bench"), logger: logger,
                             stores: stores, reevaluationPart: part)
        }.kept
        try processor.partitionsAssigned(assigned, restorer: reader)
        Memory.trim()
        let before = Memory.residentBytes()
        var peak = before
        var largestPart = 0
        var profiles = 0
        var changes = 0
        var parts = 0
        let started = ContinuousClock.now
        let context = ProcessingContext(nowMillis: Int64(Date().timeIntervalSince1970 * 1000))
        var outputs: [ProducerRecord] = []
        func endPart() {
            let published = outputs.count { $0.topic == settings.profilesTopic }
            profiles += published
            largestPart = max(largestPart, published)
            outputs.removeAll(keepingCapacity: true)
            changes += processor.takeStateChanges().count
            parts += 1
            peak = max(peak, Memory.residentBytes())
        }
        try processor.punctuate(context: context, outputs: &outputs)
        endPart()
        while processor.hasPendingPunctuation {
            try processor.continuePunctuation(context: context, outputs: &outputs)
            endPart()
        }
        let seconds = (ContinuousClock.now - started).seconds
        Output.line(String(format: "re-evaluation:    %d profiles and %d changelog records in %.1f s, %d parts (at most %d profiles each): the scorer's daily pass over every user",
                           profiles, changes, seconds, parts, largestPart))
        Output.line(String(format: "memory:           resident %.0f MB before the pass, peak %.0f MB during it (target < 300 MB) %@",
                           Double(before) / 1e6, Double(peak) / 1e6, peak < 300_000_000 ? "PASS" : "ABOVE TARGET"))
        processor.partitionsRevoked(assigned, cleanly: false)
    }

    /// `orbit broker` (this executable) with its own home; returns once its address file exists.
    static func startBroker(home: String, partitions: Int) throws -> Process {
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        process.arguments = ["broker", "--partitions", String(partitions)]
        process.environment = ProcessInfo.processInfo.environment.merging(["ORBIT_HOME": home]) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: home + "/bootstrap") { Thread.sleep(forTimeInterval: 0.1) }
        guard FileManager.default.fileExists(atPath: home + "/bootstrap") else {
            process.terminate()
            throw ValidationError("orbit broker did not start (no \(home)/bootstrap)")
        }
        Thread.sleep(forTimeInterval: 0.2)  // the file is written once the broker listens; let it settle
        return process
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
