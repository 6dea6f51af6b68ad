import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitDemoData
import OrbitIngest
import OrbitKafka
import OrbitRuntime

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print their figures.",
        subcommands: [IngestBench.self, ScorerBench.self, MembersBench.self, NotifyBench.self, RedeemBench.self, PipelineBench.self, StateBench.self, QueryBench.self, JourneysBench.self]
    )

    /// Warnings and worse only: a benchmark's own figures are its output.
    static func quietLogs() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
    }
}

/// `orbit bench ingest`: ingestion's events/s against raw pass-through on the same broker, in the
/// same run. Pass-through runs the same runtime with a processor that copies each record's bytes
/// unchanged, so the ratio isolates what ingestion itself costs (parsing, validation,
/// normalisation, deduplication, its changelog).
struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "Ingestion events/s vs raw pass-through (targets: ratio >= 0.70, <= 5 µs CPU per event).")

    /// 300,000 so that both sides fetch from the broker while they are timed. On 100,000 the
    /// input is already in the client's fetch queue when pass-through reads its first record, so
    /// pass-through then measures no fetching at all while ingestion, slower, does.
    @Option(help: "Events per round (300,000: enough that pass-through, too, fetches while it is timed; on 100,000 it reads what is already fetched).") var events = 300_000
    @Option(help: "Rounds (each runs pass-through then ingestion; the best of each is reported).") var rounds = 2
    @Option(help: "Input partitions.") var partitions = 16
    @Option(help: "Records per batch (commit interval; default: the shipped ingest.yaml).") var batchRecords: Int?
    @Option(help: "Sealed batches that may wait for acknowledgements at once (default: the shipped ingest.yaml).") var inFlight: Int?
    @Option(help: "Use this Kafka instead of an embedded local broker.") var bootstrap: String?
    @Flag(help: "Measure only the processor, without Kafka (for profiling).") var coreOnly = false

    func validate() throws {
        try OptionChecks.require(events, "events", in: OptionChecks.positive)
        try OptionChecks.require(rounds, "rounds", in: OptionChecks.rounds)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(batchRecords, "batch-records", in: OptionChecks.positive)
        try OptionChecks.require(inFlight, "in-flight", in: OptionChecks.positive)
    }

    func run() async throws {
        BenchCommand.quietLogs()
        let population = Self.population(events)
        if coreOnly {
            for _ in 0..<rounds { print(String(format: "core only: %.0f events/s", Self.coreRate(population, input: "bench-input"))) }
            return
        }
        var localBroker: LocalBroker? = nil
        let servers: String
        if let bootstrap {
            servers = bootstrap
        } else {
            let broker = try LocalBroker(topics: [])
            localBroker = broker
            servers = broker.bootstrapServers
        }
        defer { localBroker?.stop() }
        let run = UUID().uuidString.prefix(8)
        let input = "bench-\(run)-input"
        try localBroker?.createTopic(TopicSpec(name: input, partitions: partitions))
        let kafka = KafkaConfiguration(LocalProfile.kafkaOverrides.merging(["bootstrap.servers": servers]) { a, _ in a })
        let logger = Logger(label: "orbit.bench")

        let shipped = try RuntimeSettings(document: ConfigDocument.load(path: "deploy/config/ingest.yaml", environment: [:]), defaultServiceName: "bench", defaultHTTPPort: 0)
        let batchRecords = self.batchRecords ?? shipped.maxBatchRecords
        let inFlight = self.inFlight ?? shipped.maxInFlightBatches
        print("orbit bench ingest: \(population.count) events (\(population.reduce(0) { $0 + $1.value.count } / population.count) bytes average), \(partitions) partitions, \(rounds) rounds, batches of \(batchRecords), \(inFlight) in flight")
        let producer = try KafkaProducer(configuration: kafka, name: "bench-loader", logger: logger)
        let loadStart = ContinuousClock.now
        let batch = DeliveryBatch()
        for record in population { try producer.send(ProducerRecord(topic: input, key: record.key, value: record.value), in: batch) }
        try batch.waitForAll()
        producer.close()
        let loadSeconds = (ContinuousClock.now - loadStart).seconds
        print(String(format: "  load:         %8.0f events/s (producer only)", Double(population.count) / loadSeconds))

        print(String(format: "  core only:    %8.0f events/s (ingestion's processor alone, no Kafka)", Self.coreRate(population, input: input)))

        var bestRaw = 0.0
        var bestIngest = 0.0
        var bestRawCPU = Double.infinity
        var bestIngestCPU = Double.infinity
        for round in 1...rounds {
            let prefix = "bench-\(run)-r\(round)"
            for suffix in ["raw", "valid", "dlq", "dedup"] {
                try localBroker?.createTopic(TopicSpec(name: "\(prefix)-\(suffix)", partitions: suffix == "dedup" ? partitions : partitions))
            }
            var runtime = RuntimeSettings(serviceName: "bench", kafka: kafka, maxBatchRecords: batchRecords)
            runtime.maxBatchWait = shipped.maxBatchWait
            runtime.maxInFlightBatches = inFlight

            let (raw, rawCPU) = try measureWithCPU(PassThroughProcessor(outputTopic: "\(prefix)-raw"), group: "\(prefix)-raw", input: input, runtime: runtime, expected: population.count, logger: logger)
            print(String(format: "  round %d raw pass-through: %8.0f events/s, %5.1f µs CPU per event", round, raw, rawCPU))

            var settings = IngestSettings()
            settings.inputTopic = input
            settings.validTopic = "\(prefix)-valid"
            settings.deadLetterTopic = "\(prefix)-dlq"
            settings.dedupChangelogTopic = "\(prefix)-dedup"
            let (ingest, ingestCPU) = try measureWithCPU(IngestProcessor(settings: settings), group: "\(prefix)-ingest", input: input, runtime: runtime, expected: population.count, logger: logger)
            print(String(format: "  round %d ingestion:        %8.0f events/s, %5.1f µs CPU per event", round, ingest, ingestCPU))
            bestIngestCPU = min(bestIngestCPU, ingestCPU)
            bestRawCPU = min(bestRawCPU, rawCPU)
            bestRaw = max(bestRaw, raw)
            bestIngest = max(bestIngest, ingest)
        }
        let ratio = bestIngest / bestRaw
        print(String(format: "raw pass-through: %.0f events/s, %.1f µs CPU per event", bestRaw, bestRawCPU))
        print(String(format: "ingestion:        %.0f events/s, %.1f µs CPU per event (target <= 5)", bestIngest, bestIngestCPU))
        print(String(format: "ratio:            %.2f (target >= 0.70) %@", ratio, ratio >= 0.7 ? "PASS" : "BELOW TARGET"))
    }

    /// Runs one pipeline over the whole input and returns events/s, timed from its first record to
    /// its last commit (group joining is not counted: it is the broker's rebalance delay).
    func measure(_ processor: any RecordProcessor, group: String, input: String, runtime: RuntimeSettings, expected: Int, logger: Logger) throws -> Double {
        try measureWithCPU(processor, group: group, input: input, runtime: runtime, expected: expected, logger: logger).rate
    }

    /// The rate, and the CPU microseconds per event the whole client side spent (every thread but
    /// the embedded broker's) from the pipeline's start to its last record.
    func measureWithCPU(_ processor: any RecordProcessor, group: String, input: String, runtime: RuntimeSettings, expected: Int, logger: Logger) throws -> (rate: Double, cpuMicros: Double) {
        try measureWithCPU([processor], group: group, input: input, runtime: runtime, expected: expected, logger: logger)
    }

    /// The same for a stage run as several stream threads: one pipeline per processor, all in one
    /// group, timed from the first record any of them reads until they have read `expected`.
    func measureWithCPU(_ processors: [any RecordProcessor], group: String, input: String, runtime: RuntimeSettings, expected: Int, logger: Logger) throws -> (rate: Double, cpuMicros: Double) {
        let cpuBefore = ThreadCPU.seconds()
        let timed = processors.map { TimedProcessor($0) }
        let pipelines = timed.map { StreamPipeline(settings: .init(groupID: group, inputTopics: [input], runtime: runtime), processor: $0, logger: logger) }
        let stop = StopSignal()
        let done = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        for pipeline in pipelines {
            let box = UncheckedBox(pipeline)
            Thread {
                do { try box.value.run(until: stop) } catch { failure.set("\(error)") }
                done.signal()
            }.start()
        }
        func read() -> Int { pipelines.reduce(0) { $0 + $1.status.snapshot.recordsIn } }
        let deadline = Date().addingTimeInterval(600)
        while read() < expected {
            if let message = failure.value { throw CLIError("pipeline failed: \(message)") }
            if Date() > deadline { stop.set(); for _ in pipelines { done.wait() }; throw CLIError("timed out: \(read()) of \(expected) records") }
            usleep(2000)
        }
        let end = ContinuousClock.now
        let cpu = ThreadCPU.seconds() - cpuBefore
        let waited = pipelines.map(\.status.snapshot)
        print(String(format: "    (pipeline waited %.2f s for records, %.2f s for acknowledgements)",
                     waited.reduce(0) { $0 + $1.waitedForRecords.seconds }, waited.reduce(0) { $0 + $1.waitedForAcknowledgements.seconds }))
        stop.set()
        for _ in pipelines { done.wait() }
        guard let first = timed.compactMap(\.firstRecordAt).min() else { throw CLIError("no record was processed") }
        if let assigned = timed.compactMap(\.firstAssignedAt).min() {
            print(String(format: "    (first record %.3f s after the first assignment)", (first - assigned).seconds))
        }
        return (Double(expected) / (end - first).seconds, cpu * 1e6 / Double(expected))
    }

    /// The processor's own speed: every event through `IngestProcessor.process`, no broker involved.
    static func coreRate(_ population: [DemoPopulation.Record], input: String) -> Double {
        var settings = IngestSettings()
        settings.inputTopic = input
        let processor = IngestProcessor(settings: settings)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let records = population.enumerated().map { index, record in
            ConsumerRecord(topic: input, partition: Int32(index % 16), offset: Int64(index), key: record.key, value: record.value, headers: [], timestampMillis: now)
        }
        var outputs: [ProducerRecord] = []
        let start = ContinuousClock.now
        for record in records {
            outputs.removeAll(keepingCapacity: true)
            processor.process(record, context: ProcessingContext(nowMillis: now), outputs: &outputs)
        }
        _ = processor.takeStateChanges()
        return Double(records.count) / (ContinuousClock.now - start).seconds
    }

    static func population(_ count: Int) -> [DemoPopulation.Record] {
        var users = max(10, count / 20)
        while true {
            let records = DemoPopulation(users: users, seed: 7, now: Int64(Date().timeIntervalSince1970 * 1000)).generate()
            if records.count >= count { return Array(records.prefix(count)) }
            users = users * 3 / 2 + 1
        }
    }
}

/// Copies each record's key, value and headers to another topic: the pass-through baseline.
final class PassThroughProcessor: RecordProcessor {
    let outputTopic: String
    init(outputTopic: String) { self.outputTopic = outputTopic }

    func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) {
        outputs.append(ProducerRecord(topic: outputTopic, key: record.key, value: record.value, headers: record.headers, timestampMillis: record.timestampMillis))
    }
}

/// Notes when the first record arrives; otherwise the wrapped processor unchanged.
final class TimedProcessor: RecordProcessor {
    let inner: any RecordProcessor
    private(set) var firstRecordAt: ContinuousClock.Instant?
    private(set) var firstAssignedAt: ContinuousClock.Instant?
    init(_ inner: any RecordProcessor) { self.inner = inner }

    func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {
        if firstAssignedAt == nil { firstAssignedAt = .now }
        try inner.partitionsAssigned(partitions, restorer: restorer)
    }
    func partitionsRevoked(_ partitions: [TopicPartition]) { inner.partitionsRevoked(partitions) }
    func partitionsRevoked(_ partitions: [TopicPartition], cleanly: Bool) { inner.partitionsRevoked(partitions, cleanly: cleanly) }
    func takeStateChanges() -> [ProducerRecord] { inner.takeStateChanges() }
    func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws {
        try inner.flush(context: context, outputs: &outputs, deliver: deliver)
    }
    func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) throws { try inner.punctuate(context: context, outputs: &outputs) }
    var hasPendingPunctuation: Bool { inner.hasPendingPunctuation }
    func continuePunctuation(context: ProcessingContext, outputs: inout [ProducerRecord]) throws { try inner.continuePunctuation(context: context, outputs: &outputs) }
    func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        if firstRecordAt == nil { firstRecordAt = .now }
        try inner.process(record, context: context, outputs: &outputs)
    }
}

/// `@unchecked Sendable`: handed to one thread, which alone uses it until the caller joins it.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

final class FailureBox: @unchecked Sendable {
    // `@unchecked Sendable`: `stored` is only touched under `lock`.
    private let lock = NSLock()
    private var stored: String?
    var value: String? { lock.lock(); defer { lock.unlock() }; return stored }
    func set(_ message: String) { lock.lock(); stored = message; lock.unlock() }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
