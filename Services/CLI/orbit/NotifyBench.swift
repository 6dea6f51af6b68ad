import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitNotify
import OrbitRuntime

/// `orbit bench notify`: the notification service (router, notify and delivery stages together,
/// as in production) against a pass-through chain making the same hops on the same broker, in
/// the same run: three stages with no work of their own, each consuming what the service's stage
/// consumes and producing as many records per notification as it produced (counted from the
/// service's own run). Every input is a sign-up: the `welcome` trigger renders an e-mail
/// (suppressed: no contact, recorded) and an in-app message (rendered, on the outbox, delivered to
/// the inbox topic), so a notification here is the whole path without a network peer's speed in it.
/// A raw single pass-through is printed too, for scale.
struct NotifyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "notify", abstract: "Notifications/s vs a pass-through chain with the same hops and records (target >= 0.5).")

    @Option(help: "Sign-ups per round (one in-app notification each; 300,000, as for ingest: on fewer the pass-through reads what its consumer had already fetched, at 3-4x its real rate).") var events = 300_000
    @Option(help: "Partitions.") var partitions = 16
    @Option(help: "Rounds.") var rounds = 2
    @Option(help: "fetch.wait.max.ms of every stage and of pass-through.") var fetchWaitMs = 100
    @Flag(help: "Measure only the three stages' processors in one thread, without Kafka: each stage's CPU per notification and a digest of every output (for profiling, and for checking that a faster build writes the same bytes).") var coreOnly = false

    func validate() throws {
        try OptionChecks.require(events, "events", in: OptionChecks.positive)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(rounds, "rounds", in: OptionChecks.rounds)
        try OptionChecks.require(fetchWaitMs, "fetch-wait-ms", in: OptionChecks.fetchWaitMs)
    }

    func run() async throws {
        if coreOnly { return try measureCoreOnly() }
        let bench = try BenchBroker(input: "bench-notify-input", partitions: partitions)
        defer { bench.broker.stop() }
        let (broker, kafka, input, logger) = (bench.broker, bench.kafka, bench.input, bench.logger)
        let start = Int64(1_795_435_200_000)
        let records = (0..<events).map { i in
            (key: Array("user-\(i)".utf8), value: UserEvent(id: "signup-\(i)", userID: "user-\(i)", type: .signup, timeMillis: start + Int64(i), properties: JSONObject()).encoded())
        }
        try bench.load(records)
        Output.line("orbit bench notify: \(records.count) sign-ups, \(partitions) partitions, \(rounds) rounds")

        let document = try ConfigDocument.load(path: "deploy/config/notify.yaml", environment: ["ORBIT__NOTIFY__QUIET_HOURS": ""])
        var bestRaw = 0.0, bestNotify = 0.0, bestChain = 0.0
        for round in 1...rounds {
            let prefix = "bench-notify-r\(round)"
            var settings = try NotifySettings(document: document)
            // Every topic the service names, fresh for the round (a list of its own here missed
            // the journeys' topics when they were added), but the input.
            for (key, path) in NotifySettings.topicKeys.sorted(by: { $0.key < $1.key }) where path != \.eventsTopic {
                settings[keyPath: path] = "\(prefix)-\(key)"
                try broker.createTopic(TopicSpec(name: "\(prefix)-\(key)", partitions: partitions))
            }
            for suffix in ["raw", "chain-1", "chain-1-side", "chain-2", "chain-2-side", "chain-3", "chain-3-side"] {
                try broker.createTopic(TopicSpec(name: "\(prefix)-\(suffix)", partitions: partitions))
            }
            settings.eventsTopic = input
            settings.processor.groupID = "\(prefix)-notify"
            settings.delivery.groupID = "\(prefix)-delivery"
            var runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
            runtime.kafka = kafka.merging(["fetch.wait.max.ms": String(fetchWaitMs)])
            let (raw, rawCPU) = try IngestBench().measureWithCPU((0..<runtime.streamThreads).map { _ in PassThroughProcessor(outputTopic: "\(prefix)-raw") }, group: "\(prefix)-raw", input: input, runtime: runtime, expected: records.count, logger: logger)
            Output.line(String(format: "  round %d raw pass-through: %8.0f records/s, %5.1f µs CPU per record", round, raw, rawCPU))

            let pipelines = try NotifyService.topology(settings, runtime: runtime, senders: ChannelSenders(senders: [:])).pipelines(runtime: runtime, logger: logger)
            // Pipelines come in threes per stream thread: router, notify, delivery.
            let (rate, cpu) = try StagedBench.measure(pipelines, stages: 3, expected: records.count)
            Output.line(String(format: "  round %d notify:           %8.0f notifications/s, %5.1f µs CPU per notification (all three stages)", round, rate, cpu))
            // What each stage produced per notification (outputs and changelog records, as the
            // runtime counts them), for the chain to produce as many.
            let written = (0..<3).map { stage in
                Double(pipelines.enumerated().filter { $0.offset % 3 == stage }.reduce(0) { $0 + $1.element.status.snapshot.recordsOut }) / Double(records.count)
            }
            Output.line(String(format: "    (records written per notification: router %.2f, notify %.2f, delivery %.2f)", written[0], written[1], written[2]))
            let (chain, chainCPU) = try threeHops(prefix, from: input, written: written, runtime: runtime, expected: records.count, logger: logger)
            Output.line(String(format: "  round %d the same hops as a pass-through chain: %8.0f notifications/s, %5.1f µs CPU per notification", round, chain, chainCPU))
            bestRaw = max(bestRaw, raw)
            bestNotify = max(bestNotify, rate)
            bestChain = max(bestChain, chain)
        }
        let ratio = bestNotify / bestChain
        Output.line(String(format: "raw pass-through: %.0f records/s (one hop; notify is %.2f of it, the measure before the chain)", bestRaw, bestNotify / bestRaw))
        Output.line(String(format: "chain:            %.0f notifications/s (three pass-through stages, the service's records per hop)", bestChain))
        Output.line(String(format: "notify:           %.0f notifications/s", bestNotify))
        Output.line(String(format: "ratio:            %.2f of the chain (target >= 0.50) %@", ratio, ratio >= 0.5 ? "PASS" : "BELOW TARGET"))
    }

    /// Three stages with no work of their own, per stream thread, timed as the service's are:
    /// `from` → chain-1 → chain-2 → chain-3. Each passes every record on to the next hop once and
    /// writes the rest of what the service's stage wrote per record (`written`) beside it.
    private func threeHops(_ prefix: String, from input: String, written: [Double], runtime: RuntimeSettings, expected: Int,
                           logger: Logger) throws -> (rate: Double, cpuMicros: Double) {
        let hops = [(input, "\(prefix)-chain-1", written[0]), ("\(prefix)-chain-1", "\(prefix)-chain-2", written[1]), ("\(prefix)-chain-2", "\(prefix)-chain-3", written[2])]
        let pipelines = (0..<runtime.streamThreads).flatMap { _ in
            hops.map { from, to, perRecord in
                StreamPipeline(settings: .init(groupID: "\(to)-group", inputTopics: [from], runtime: runtime),
                               processor: FanOutProcessor(outputTopic: to, perRecord: max(1, perRecord), forwardingOnce: true, sideTopic: to + "-side"),
                               logger: logger)
            }
        }
        return try StagedBench.measure(pipelines, stages: 3, expected: expected)
    }

    /// The router, notify and delivery processors as the runtime makes them (``StageProcessor``),
    /// driven one after the other in this thread: the router over every sign-up, notify over what
    /// the router wrote, delivery over the outbox, each in batches of `max_batch_records` ending
    /// with its flush and state changes, as the pipeline does.
    private func measureCoreOnly() throws {
        let document = try ConfigDocument.load(path: "deploy/config/notify.yaml", environment: ["ORBIT__NOTIFY__QUIET_HOURS": ""])
        let settings = try NotifySettings(document: document)
        let runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
        let logger = Logger(label: "orbit.bench")
        let start = Int64(1_795_435_200_000)
        let signups = (0..<events).map { i in
            ProducerRecord(topic: settings.eventsTopic, key: Array("user-\(i)".utf8),
                           value: UserEvent(id: "signup-\(i)", userID: "user-\(i)", type: .signup, timeMillis: start + Int64(i), properties: JSONObject()).encoded(),
                           timestampMillis: start + Int64(i))
        }
        Output.line("orbit bench notify --core-only: \(events) sign-ups, \(partitions) partitions, the shipped notify.yaml, batches of \(runtime.maxBatchRecords), \(rounds) rounds")
        for round in 1...rounds {
            let topology = NotifyService.topology(settings, runtime: runtime, senders: ChannelSenders(senders: [:]))
            let deadLetters = DeadLetters(topic: settings.deadLettersTopic, service: "bench")
            let stages = try topology.stages.map { stage in
                try stage.makeStageProcessor(StageContext(thread: 0, partitionCount: partitions, runtime: runtime, logger: logger,
                                                          deadLetters: deadLetters, globalTables: [:]))
            }
            var feeder = CoreStageFeeder(partitions: partitions, batch: runtime.maxBatchRecords, defaultTimestamp: start)
            var digest = OutputsDigest()
            var line = "  round \(round)"
            var total = 0.0
            var input = signups.map { feeder.consumed($0) }
            for (index, stage) in stages.enumerated() {
                let (written, took) = try feeder.run(stage, input, context: ProcessingContext(nowMillis: start + Int64(events)))
                let micros = took.seconds * 1e6 / Double(events)
                total += micros
                let bytes = written.reduce(0) { $0 + ($1.key?.count ?? 0) + ($1.value?.count ?? 0) }
                line += String(format: " %@ %.1f µs (%.0f B out)", ["router", "notify", "delivery"][index], micros, Double(bytes) / Double(events))
                for record in written { digest.add(record) }
                let next = index + 1 < topology.stages.count ? Set(topology.stages[index + 1].inputs) : []
                input = written.filter { next.contains($0.topic) }.map { feeder.consumed($0) }
            }
            Output.line(line + String(format: "; %.1f µs per notification in all; outputs digest %016llx", total, digest.value))
        }
    }
}
