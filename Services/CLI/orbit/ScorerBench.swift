import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring

/// `orbit bench scorer`: scoring events/s against raw pass-through on the same broker, in the same
/// run; then how long a scorer takes to restore 1M users from its changelog, and what they cost in
/// memory.
struct ScorerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scorer", abstract: "Scorer events/s vs raw pass-through (target >= 0.30); restore time and bytes per user for 1M users (targets < 20 s, <= 400 B).")

    @Option(help: "Events per throughput round.") var events = 100_000
    @Option(help: "Users in the throughput input.") var users = 20_000
    @Option(help: "Users in the restore measurement.") var restoreUsers = 1_000_000
    @Option(help: "Partitions (64 keeps 1M users' changelog under the local broker's 5 MiB per partition).") var partitions = 64
    @Option(help: "Rounds of the throughput measurement.") var rounds = 2
    @Flag(help: "Measure only the scoring processor with the shipped rules and batch size, without Kafka (steady figures for profiling and for comparing builds).") var coreOnly = false
    @Option(help: "Operators' segments defined (--core-only): each round runs without them and with them, and prints the CPU ratio (target <= 1.5 with 20).") var segments = 0

    func validate() throws {
        try OptionChecks.require(events, "events", in: OptionChecks.positive)
        try OptionChecks.require(users, "users", in: OptionChecks.positive)
        try OptionChecks.require(restoreUsers, "restore-users", in: OptionChecks.positive)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(rounds, "rounds", in: OptionChecks.rounds)
        try OptionChecks.require(segments, "segments", in: 0...SegmentDefinition.maxDefinitions)
    }

    /// `count` segments of two or three conditions each over different fields, as an operator
    /// might define them: spend bands, lifecycle sets, recency windows, engagement.
    static func benchSegments(_ count: Int) -> GlobalTableView {
        let view = GlobalTableView()
        let stages = ["new", "active", "at_risk", "churned"]
        for i in 0..<count {
            let predicate: SegmentPredicate = .all([
                .compare(.profile(.monetaryMinor), .gte, .number(Double(1_000 * (i + 1)))),
                .oneOf(.profile(.lifecycle), [.text(stages[i % 4]), .text(stages[(i + 1) % 4])]),
                i % 2 == 0 ? .between(.profile(.recencyDays), Double(i), Double(i + 60)) : .not(.compare(.profile(.superUser), .eq, .flag(true))),
                // The portrait's fields: a recent-event count and a derived tag.
                i % 2 == 0 ? .compare(.recentEvents(.login, .month), .gte, .number(Double(i % 3))) : .not(.compare(.profile(.community), .eq, .text("none"))),
            ])
            let definition = SegmentDefinition(id: "bench-\(i)", name: "Bench \(i)", predicate: predicate)
            view.apply(key: definition.id, value: definition.encoded())
        }
        return view
    }

    func run() async throws {
        if coreOnly { return try measureCoreOnly() }
        let bench = try BenchBroker(input: "bench-scorer-input", partitions: partitions)
        defer { bench.broker.stop() }
        let (broker, kafka, input, logger) = (bench.broker, bench.kafka, bench.input, bench.logger)

        // Throughput.
        let records = Self.events(events, users: users)
        try bench.load(records)
        let producer = try KafkaProducer(configuration: kafka, name: "bench-loader", logger: logger)
        Output.line("orbit bench scorer: \(records.count) valid events from \(users) users, \(partitions) partitions, \(rounds) rounds, the shipped scoring.yaml (rules, batches, stream threads)")
        var bestRaw = 0.0, bestScorer = 0.0
        let ingestBench = IngestBench()
        for round in 1...rounds {
            let prefix = "bench-scorer-r\(round)"
            for suffix in ["raw", "profiles", "changes", "credits", "changelog"] {
                try broker.createTopic(TopicSpec(name: "\(prefix)-\(suffix)", partitions: partitions))
            }
            try broker.createTopic(TopicSpec(name: "\(prefix)-sketches", partitions: 1))
            // The shipped processing settings too (batch size and wait, stream threads); the
            // pass-through runs with the same, so the ratio isolates what scoring costs.
            let document = try ConfigDocument.load(path: "deploy/config/scoring.yaml", environment: [:])
            var runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
            runtime.kafka = kafka
            let threads = runtime.streamThreads
            let (raw, rawCPU) = try ingestBench.measureWithCPU((0..<threads).map { _ in PassThroughProcessor(outputTopic: "\(prefix)-raw") },
                                                               group: "\(prefix)-raw", input: input, runtime: runtime, expected: records.count, logger: logger)
            Output.line(String(format: "  round %d raw pass-through: %8.0f events/s, %5.1f µs CPU per event", round, raw, rawCPU))
            // The shipped rules (deploy/config/scoring.yaml), as orbit-scorer runs them.
            var settings = try ScoringSettings(document: document)
            settings.inputTopic = input
            settings.profilesTopic = "\(prefix)-profiles"
            settings.segmentChangesTopic = "\(prefix)-changes"
            settings.referralCreditsTopic = "\(prefix)-credits"
            settings.stateChangelogTopic = "\(prefix)-changelog"
            settings.sketchesTopic = "\(prefix)-sketches"
            let scorers = (0..<threads).map { _ in
                StageProcessor.keeping(partitionedLike: input) { stores in
                    ScoringProcessor(settings: settings, partitionCount: partitions, sketches: GlobalTableView(),
                                     deadLetters: DeadLetters(topic: "\(prefix)-dlq", service: "bench"), logger: logger, stores: stores)
                }.kept
            }
            let (scorer, scorerCPU) = try ingestBench.measureWithCPU(scorers, group: "\(prefix)-scorer",
                                                 input: input, runtime: runtime, expected: records.count, logger: logger)
            Output.line(String(format: "  round %d scorer:           %8.0f events/s, %5.1f µs CPU per event (profiles evaluated and published each batch)", round, scorer, scorerCPU))
            bestRaw = max(bestRaw, raw)
            bestScorer = max(bestScorer, scorer)
        }
        let ratio = bestScorer / bestRaw
        Output.line(String(format: "raw pass-through: %.0f events/s", bestRaw))
        Output.line(String(format: "scorer:           %.0f events/s", bestScorer))
        Output.line(String(format: "ratio:            %.2f (target >= 0.30) %@", ratio, ratio >= 0.3 ? "PASS" : "BELOW TARGET"))

        // Restore of 1M users.
        let changelog = "bench-scorer-restore-changelog"
        try broker.createTopic(TopicSpec(name: changelog, partitions: partitions))
        let writer = DeliveryBatch()
        var totalBytes = 0
        for (index, state) in Self.states(restoreUsers).enumerated() {
            let key = "user-\(index)"
            let bytes = state.encoded()
            totalBytes += bytes.count
            try producer.send(ProducerRecord(topic: changelog, partition: Int32(index % partitions), key: Array(key.utf8), value: bytes), in: writer)
        }
        try writer.waitForAll()
        producer.close()
        Output.line("restore: \(restoreUsers) user states in the changelog (\(totalBytes / restoreUsers) bytes each encoded)")
        let store = ChangelogStore(changelogTopic: changelog)
        let before = Memory.residentBytes()
        let started = ContinuousClock.now
        try store.restore((0..<Int32(partitions)).map { $0 }, reader: ChangelogReader(kafka: kafka.merging(["queued.max.messages.kbytes": "16384"]), logger: logger))
        let seconds = (ContinuousClock.now - started).seconds
        Memory.trim()
        let after = Memory.residentBytes()
        let perUser = Double(after - before) / Double(store.count)
        Output.line(String(format: "restore time:     %.2f s for %d users (target < 20 s) %@", seconds, store.count, seconds < 20 ? "PASS" : "ABOVE TARGET"))
        Output.line(String(format: "memory:           %.0f bytes per user (RSS growth %.0f MB; target <= 400) %@", perUser, Double(after - before) / 1e6, perUser <= 400 ? "PASS" : "ABOVE TARGET"))
    }

    /// The scoring processor alone, driven as its pipeline drives it: the same records, rules and
    /// batch size as the Kafka measurement, but no broker, client or threads. Its CPU per event is
    /// what the processor itself costs; the difference to the full run is the Kafka client's share.
    /// Far steadier than a run through the broker on a busy machine, so builds compare on it.
    func measureCoreOnly() throws {
        BenchCommand.quietLogs()
        let document = try ConfigDocument.load(path: "deploy/config/scoring.yaml", environment: [:])
        let runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
        let settings = try ScoringSettings(document: document)
        let records = Self.events(events, users: users)
        let batch = runtime.maxBatchRecords
        Output.line("orbit bench scorer --core-only: \(records.count) valid events from \(users) users, \(partitions) partitions, the shipped scoring.yaml, batches of \(batch), \(rounds) rounds")
        let lastEventMillis = Int64(1_767_225_600_000) + Int64(records.count) * 60_000
        var cpuWithout = Double.infinity, cpuWith = Double.infinity
        for run in 1...(segments > 0 ? 2 * rounds : rounds) {
            let round = segments > 0 ? (run + 1) / 2 : run
            let defined = segments > 0 && run % 2 == 0 ? segments : 0
            // The processor called directly (its type known, as the pipeline's generic code knows
            // it); its store's changes taken as the runtime takes them (``StageProcessor``).
            let (processor, kept) = StageProcessor.keeping(partitionedLike: settings.inputTopic) { stores in
                ScoringProcessor(settings: settings, partitionCount: partitions, sketches: GlobalTableView(),
                                 deadLetters: DeadLetters(topic: "bench-dlq", service: "bench"), logger: Logger(label: "orbit.bench"), stores: stores,
                                 definitions: Self.benchSegments(defined))
            }
            // The processor driven as the pipeline drives it (records with consecutive offsets per
            // partition, one clock, a flush and the state changes at each batch's end).
            let context = ProcessingContext(nowMillis: lastEventMillis + 3_600_000)
            var offsets: [Int32: Int64] = [:]
            let input = records.map { record in
                let partition = KeyPartitioner.partition(of: record.key, partitionCount: partitions)
                defer { offsets[partition, default: 0] += 1 }
                return ConsumerRecord(topic: settings.inputTopic, partition: partition, offset: offsets[partition, default: 0],
                                      key: record.key, value: record.value, headers: [], timestampMillis: nil)
            }
            var counts: [String: Int] = [:]
            var digest = OutputsDigest()
            func count(_ outputs: [ProducerRecord]) {
                for output in outputs {
                    counts[output.topic, default: 0] += 1
                    digest.add(output)
                }
            }
            // Only the processor is timed: a batch's outputs are kept as the pipeline keeps them, and
            // counted and hashed at its end with the clocks stopped.
            var cpu = 0.0
            var seconds = 0.0
            var batchOutputs: [ProducerRecord] = []
            var cpuBefore = ThreadCPU.seconds()
            var started = ContinuousClock.now
            for (index, record) in input.enumerated() {
                try processor.process(record, context: context, outputs: &batchOutputs)
                if (index + 1) % batch == 0 || index + 1 == input.count {
                    var outputs: [ProducerRecord] = []
                    try processor.flush(context: context, outputs: &outputs) { part in
                        batchOutputs += part
                        part.removeAll()
                    }
                    let changes = kept.takeStateChanges()
                    seconds += (ContinuousClock.now - started).seconds
                    cpu += ThreadCPU.seconds() - cpuBefore
                    count(batchOutputs)
                    count(outputs)
                    count(changes)
                    batchOutputs.removeAll(keepingCapacity: true)
                    cpuBefore = ThreadCPU.seconds()
                    started = ContinuousClock.now
                }
            }
            let perEvent = cpu * 1e6 / Double(input.count)
            if defined > 0 { cpuWith = min(cpuWith, perEvent) } else { cpuWithout = min(cpuWithout, perEvent) }
            Output.line(String(format: "  round %d core only%@: %8.0f events/s, %5.1f µs CPU per event; ", round, defined > 0 ? " with \(defined) segments" : "",
                               Double(input.count) / seconds, perEvent)
                        + "\(counts[settings.profilesTopic] ?? 0) profiles, \(counts[settings.segmentChangesTopic] ?? 0) segment changes, "
                        + "\(counts[settings.stateChangelogTopic] ?? 0) state records, \(counts[settings.referralCreditsTopic] ?? 0) referral credits; "
                        + "outputs digest \(String(digest.value, radix: 16))")
            let unexpected = counts.keys.filter { ![settings.profilesTopic, settings.segmentChangesTopic, settings.stateChangelogTopic, settings.referralCreditsTopic].contains($0) }
            if !unexpected.isEmpty { throw ValidationError("the scorer wrote to \(unexpected.sorted()): the input was not all valid") }
        }
        if segments > 0 {
            let ratio = cpuWith / cpuWithout
            Output.line(String(format: "CPU per event with %d segments ÷ without (best rounds): %.2f (%.1f ÷ %.1f µs; target <= 1.5) %@", segments, ratio, cpuWith, cpuWithout,
                               ratio <= 1.5 ? "PASS" : "ABOVE TARGET"))
        }
    }

    /// Valid events in `.valid` form: each user signs up, buys a few times, posts, refers.
    static func events(_ count: Int, users: Int) -> [(key: [UInt8], value: [UInt8])] {
        var result: [(key: [UInt8], value: [UInt8])] = []
        result.reserveCapacity(count)
        let start = Int64(1_767_225_600_000)  // 2026-01-01
        var i = 0
        while result.count < count {
            let user = "user-\(i % users)"
            let kind = i % 7
            let type: EventType = [.login, .purchase, .post, .checkIn, .purchase, .like, .referral][kind]
            var properties: [(key: String, value: JSONValue)] = []
            if type == .purchase {
                properties = [(key: "order_id", value: .string("o\(i)")), (key: "amount_minor", value: .number(JSONNumber(Int64(500 + (i * 7919) % 20_000)))), (key: "currency", value: .string("USD"))]
            } else if type == .referral {
                properties = [(key: "referred_user_id", value: .string("user-\((i * 31) % users)"))]
            }
            let event = UserEvent(id: "b\(i)", userID: user, type: type, timeMillis: start + Int64(i) * 60_000, properties: JSONObject(properties))
            result.append((Array(user.utf8), event.encoded()))
            i += 1
        }
        return result
    }

    /// Plausible user states: a few purchases over some months, some community activity.
    static func states(_ count: Int) -> LazyMapSequence<Range<Int>, UserState> {
        var policy = ScoringPolicy()
        policy.currencyDigits = ["USD": 2]
        let base: UserState = {
            var state = UserState()
            let start = Int64(1_767_225_600_000)
            var n = 0
            func event(_ type: EventType, _ day: Int64, _ properties: [(key: String, value: JSONValue)] = []) {
                n += 1
                _ = state.alreadyApplied(input: 0, offset: Int64(n), id: "e\(n)")
                _ = state.apply(UserEvent(id: "e\(n)", userID: "u", type: type, timeMillis: start + day * 86_400_000, properties: JSONObject(properties)), policy: policy)
            }
            event(.signup, 0)
            for d in [3, 40, 95, 160] as [Int64] {
                event(.purchase, d, [(key: "amount_minor", value: .number(JSONNumber(Int64(2_500)))), (key: "currency", value: .string("USD"))])
            }
            for d in [5, 6, 50] as [Int64] { event(.post, d) }
            event(.checkIn, 7)
            return state
        }()
        return (0..<count).lazy.map { index in
            var state = base
            state.grossMinor += Int64(index % 1000)
            return state
        }
    }
}

/// The process's resident memory, from /proc (Linux).
enum Memory {
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") else { return 0 }
        return kb * 1024
    }

    /// Returns freed heap to the system, so RSS shows what is still in use.
    static func trim() { Allocator.releaseFreedMemory() }
}

/// A local broker for a benchmark, with quiet logs and one input topic to load.
struct BenchBroker {
    let broker: LocalBroker
    let kafka: KafkaConfiguration
    let input: String
    let logger = Logger(label: "orbit.bench")

    init(input: String, partitions: Int) throws {
        BenchCommand.quietLogs()
        broker = try LocalBroker(topics: [])
        kafka = KafkaConfiguration(LocalProfile.kafkaOverrides.merging(["bootstrap.servers": broker.bootstrapServers]) { a, _ in a })
        self.input = input
        try broker.createTopic(TopicSpec(name: input, partitions: partitions))
    }

    /// Produces the records to the input topic and waits for every acknowledgement.
    func load(_ records: [(key: [UInt8], value: [UInt8])]) throws {
        let producer = try KafkaProducer(configuration: kafka, name: "bench-loader", logger: logger)
        defer { producer.close() }
        let batch = DeliveryBatch()
        for record in records { try producer.send(ProducerRecord(topic: input, key: record.key, value: record.value), in: batch) }
        try batch.waitForAll()
    }
}
