import ArgumentParser
import Foundation
import Histogram
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// `orbit bench pipeline`: the four services as processes on the local broker, fed at a fixed rate
/// by an outside producer; latency from each event's publication to its first record downstream
/// (`.valid`, its profile, its ledger entry, its notification), and sustained throughput with 1, 2
/// and 3 scorer instances.
///
/// Beside the services, in the same run on the same broker, every event is also published to a
/// chain of three pass-through stages (the runtime's pipeline with no work, the services'
/// processing settings): the latency the broker and the runtime alone allow one, two and three
/// hops at this rate. Each service's stage is compared with the chain after as many hops as it
/// makes from publication: ingest one, the profile two, the ledger and the outbox three (through
/// their routers).
struct PipelineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "End-to-end latency p50/p99/p99.9 at a fixed input rate against a pass-through chain with the same hops (target: each stage's p99 at most 2x the chain's at 1,000 events/s for 60 s), and throughput with 1-3 scorers.")

    @Option(help: "Events per second published during the latency run (the target is stated at 1,000).") var rate = 1000
    @Option(help: "Seconds of the latency run (after a warm-up of 5 s that is not counted; the target is stated for 60).") var seconds = 60
    @Option(help: "Distinct users.") var users = 20_000
    @Option(help: "Scorer instances for the throughput runs, comma-separated.") var scorers = "1,2,3"
    @Option(help: "Events of each throughput run.") var throughputEvents = 1_000_000
    @Option(help: "Partitions per Orbit topic.") var partitions = 12
    @Option(help: "fetch.wait.max.ms of the services: the local broker holds every fetch that meets an idle partition this long, so it is a latency floor per hop (real Kafka answers as soon as data arrives).")
    var fetchWaitMs = 5
    @Flag(help: "Only the latency run.") var latencyOnly = false

    func validate() throws {
        try OptionChecks.require(rate, "rate", in: OptionChecks.positive)
        try OptionChecks.require(seconds, "seconds", in: OptionChecks.positive)
        try OptionChecks.require(users, "users", in: OptionChecks.positive)
        _ = try OptionChecks.instanceCounts(scorers, "scorers", in: 1...16)
        try OptionChecks.require(throughputEvents, "throughput-events", in: OptionChecks.positive)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(fetchWaitMs, "fetch-wait-ms", in: OptionChecks.fetchWaitMs)
    }

    func run() async throws {
        BenchCommand.quietLogs()
        Output.line("orbit bench pipeline: \(rate) events/s for \(seconds) s (+5 s warm-up), \(users) users, \(partitions) partitions, fetch.wait.max.ms \(fetchWaitMs), \(ProcessInfo.processInfo.activeProcessorCount) CPUs")
        try latencyRun()
        guard !latencyOnly else { return }
        for count in try OptionChecks.instanceCounts(scorers, "scorers", in: 1...16) {
            try throughputRun(scorers: count)
        }
    }

    /// The stack, with every service sealing batches as soon as its input is drained (the shipped default).
    func stack(scorers: Int = 1) throws -> LocalStack {
        // The shipped evaluation intervals (`orbit up` shortens them to a few seconds for demos).
        try LocalStack.start(partitions: partitions, configDirectory: "deploy/config", quiet: true,
                             environment: ["ORBIT__NOTIFY__QUIET_HOURS": "", "ORBIT__SCORING__EVALUATION_INTERVAL_SECONDS": "60",
                                           "ORBIT__MEMBERSHIP__EVALUATION_INTERVAL_SECONDS": "60", "ORBIT__NOTIFY__EVALUATION_INTERVAL_SECONDS": "60",
                                           "ORBIT__KAFKA__FETCH_WAIT_MAX_MS": String(fetchWaitMs)],
                             scorers: scorers)
    }

    func latencyRun() throws {
        let stack = try stack()
        defer { stack.stop() }
        let kafka = KafkaConfiguration(LocalProfile.kafkaOverrides.merging(["bootstrap.servers": stack.broker.bootstrapServers]) { a, _ in a })
        try waitForGroups(kafka)
        let stages: [(name: String, topic: String, timeField: [String])] = [
            ("publish -> input", OrbitTopics.userEvents, ["time"]),  // the broker alone: the floor every stage stands on
            ("ingest -> .valid", OrbitTopics.validEvents, ["time"]),
            ("scorer -> profile", OrbitTopics.userProfiles, ["last_event_time"]),
            ("members -> ledger", OrbitTopics.pointsLedger, ["time"]),
            ("notify -> outbox", OrbitTopics.notifications, ["created"]),
        ]
        // The reference: three pass-through stages reading what the publisher also writes to
        // chain-0, each hop with the processing settings of the service stage it stands for
        // (ingestion, then the scorer, then membership's ledger).
        let chainTopics = (0...3).map { "bench.chain-\($0)" }
        for topic in chainTopics { try stack.broker.createTopic(TopicSpec(name: topic, partitions: partitions)) }
        let chain = try zip(1...3, ["ingest.yaml", "scoring.yaml", "membership.yaml"]).map { hop, file in
            var runtime = try RuntimeSettings(document: ConfigDocument.load(path: "deploy/config/\(file)", environment: [:]),
                                              defaultServiceName: "bench-chain", defaultHTTPPort: 0)
            runtime.kafka = kafka.merging(["fetch.wait.max.ms": String(fetchWaitMs)])
            return StreamPipeline(settings: .init(groupID: "bench-chain-\(hop)", inputTopics: [chainTopics[hop - 1]], runtime: runtime),
                                  processor: PassThroughProcessor(outputTopic: chainTopics[hop]), logger: Logger(label: "orbit.bench"))
        }
        let running = RunningPipelines(chain)
        defer { running.stop() }
        // Every hop of the chain owns its partitions before the first event, as the services do.
        let chainReady = Date().addingTimeInterval(60)
        while chain.contains(where: { $0.status.snapshot.assigned.isEmpty }) {
            try running.checkNoneFailed("the reference chain")
            guard Date() < chainReady else { throw CLIError("the reference chain's groups did not form in 60 s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let references: [(name: String, topic: String, timeField: [String])] = (1...3).map { hop in
            ("chain, \(hop) hop\(hop == 1 ? "" : "s")", chainTopics[hop], ["time"])
        }
        // The chain after as many hops as each service stage makes from publication.
        let hopsOfStage = [OrbitTopics.validEvents: 1, OrbitTopics.userProfiles: 2, OrbitTopics.pointsLedger: 3, OrbitTopics.notifications: 3]
        let measured = stages + references
        let watcher = try LatencyWatcher(kafka: kafka, stages: measured.map { ($0.topic, $0.timeField) })
        let warmUpEnds = Date().addingTimeInterval(5)
        let started = Date()
        var cpuAtWarmUpEnd: CPUSnapshot?
        let published = try publish(kafka, rate: rate, duration: TimeInterval(seconds + 5), alsoTo: chainTopics[0]) {
            watcher.poll()
            if cpuAtWarmUpEnd == nil, Date() >= warmUpEnds { cpuAtWarmUpEnd = CPUSnapshot(stack.services) }
        }
        let publishSeconds = Date().timeIntervalSince(started)
        let cpuAtPublishEnd = CPUSnapshot(stack.services)
        // Let the last events through.
        let drainUntil = Date().addingTimeInterval(15)
        while Date() < drainUntil { watcher.poll() }
        Output.line(String(format: "published %d events in %.1f s (%.0f events/s); latency from publication to the first record downstream (events after the warm-up):",
                           published, publishSeconds, Double(published) / publishSeconds))
        Output.line("  stage                   records      p50       p99     p99.9       max   p99 / chain's")
        let counted = Int64(warmUpEnds.timeIntervalSince1970 * 1000)
        let histograms = measured.indices.map { index in
            var histogram = Histogram<UInt64>(highestTrackableValue: 600_000, numberOfSignificantValueDigits: .three)
            for (eventTime, latency) in watcher.samples[index] where eventTime >= counted { histogram.record(UInt64(max(0, latency))) }
            return histogram
        }
        /// A stage's p99 over its reference chain's (nil for the chain itself, or without records).
        func ratio(_ index: Int) -> Double? {
            guard let hops = hopsOfStage[measured[index].topic], histograms[index].totalCount > 0 else { return nil }
            let reference = histograms[stages.count + hops - 1]
            guard reference.totalCount > 0 else { return nil }
            return Double(histograms[index].valueAtPercentile(99)) / Double(max(1, reference.valueAtPercentile(99)))
        }
        for (index, (stage, histogram)) in zip(measured, histograms).enumerated() {
            guard histogram.totalCount > 0 else { Output.line("  \(stage.name.padding(toLength: 22, withPad: " ", startingAt: 0))  no records"); continue }
            Output.line(String(format: "  %@ %8d %6d ms %6d ms %6d ms %6d ms   %@", stage.name.padding(toLength: 22, withPad: " ", startingAt: 0), histogram.totalCount,
                               histogram.valueAtPercentile(50), histogram.valueAtPercentile(99), histogram.valueAtPercentile(99.9), histogram.max,
                               ratio(index).map { String(format: "%.2f", $0) } ?? "-"))
        }
        printWindows(stages: measured.map(\.name), samples: watcher.samples, from: counted)
        if let cpuAtWarmUpEnd { cpuAtPublishEnd.printShares(since: cpuAtWarmUpEnd) }
        try running.checkNoneFailed("the reference chain")
        for (stage, histogram) in zip(stages, histograms) where stage.topic == OrbitTopics.userProfiles || stage.topic == OrbitTopics.pointsLedger {
            let p99 = histogram.totalCount > 0 ? histogram.valueAtPercentile(99) : .max
            Output.line("  (the earlier absolute target, p99 < 100 ms at 5,000 events/s, for information: \(stage.name) p99 \(p99) ms at \(rate) events/s)")
        }
        for index in stages.indices where hopsOfStage[stages[index].topic] != nil {
            guard let ratio = ratio(index) else {
                Output.line("  target p99 <= 2x the chain's, \(stages[index].name): BELOW TARGET (no records)")
                continue
            }
            Output.line(String(format: "  target p99 <= 2x the chain's, %@: %@ (%.2f)", stages[index].name, ratio <= 2 ? "PASS" : "BELOW TARGET", ratio))
        }
    }

    /// The p99 of each stage per 5-second window of publication after the warm-up. A latency that
    /// climbs from window to window at a steady input rate is a cost that grows with the run, not a
    /// stage's own: on the local broker, each fetch walks the partition's batches from the oldest
    /// (README, "Where the time goes").
    func printWindows(stages: [String], samples: [[(eventMillis: Int64, latencyMillis: Int64)]], from start: Int64) {
        let width: Int64 = 5_000
        let windows = Int((Int64(seconds) * 1000 + width - 1) / width)  // the last may be shorter
        guard windows > 1 else { return }
        Output.line("  p99 by 5 s window of publication (ms):")
        for (name, stageSamples) in zip(stages, samples) {
            var perWindow = Array(repeating: [Int64](), count: windows)
            for sample in stageSamples where sample.eventMillis >= start {
                let window = Int((sample.eventMillis - start) / width)
                if window < windows { perWindow[window].append(max(0, sample.latencyMillis)) }
            }
            let figures = perWindow.map { values -> String in
                guard !values.isEmpty else { return "     -" }
                // Nearest rank, as the histogram's percentiles: the smallest value at or above 99 %.
                let sorted = values.sorted()
                return String(format: "%6d", sorted[(sorted.count * 99 + 99) / 100 - 1])
            }
            Output.line("  \(name.padding(toLength: 22, withPad: " ", startingAt: 0))\(figures.joined())")
        }
    }

    /// Waits until the stack works end to end (groups joined, partitions assigned): a few warm-up
    /// logins, one per partition on average, have their profiles.
    func waitForGroups(_ kafka: KafkaConfiguration) throws {
        let producer = try KafkaProducer(configuration: kafka, name: "bench-warmup", logger: Logger(label: "orbit.bench"))
        defer { producer.close() }
        let batch = DeliveryBatch()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for i in 0..<partitions * 4 {
            try producer.send(ProducerRecord(topic: OrbitTopics.userEvents, key: Array("warm\(i)".utf8), value: Self.event(id: "warm-\(i)", user: "warm\(i)", type: "login", millis: now)), in: batch)
        }
        try batch.waitForAll()
        let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.userProfiles, OrbitTopics.pointsLedger])
        _ = try reader.read(timeout: 60) { $0[OrbitTopics.userProfiles, default: []].count >= partitions * 4 }
    }

    /// Publishes at `rate` for `duration`, each event to the input and, when given, the same to
    /// `alsoTo`; calls `between` while it waits. Returns the count.
    func publish(_ kafka: KafkaConfiguration, rate: Int, duration: TimeInterval, alsoTo copy: String? = nil, between: () -> Void) throws -> Int {
        let producer = try KafkaProducer(configuration: kafka.merging(["linger.ms": "1"]), name: "bench-publisher", logger: Logger(label: "orbit.bench"))
        defer { producer.close() }
        let batch = DeliveryBatch()
        let start = Date()
        var sent = 0
        var random = SystemRandomNumberGenerator()
        var seen = Set<Int>()
        while true {
            let elapsed = Date().timeIntervalSince(start)
            if elapsed >= duration { break }
            let due = Int(elapsed * Double(rate))
            while sent < due {
                let user = Int.random(in: 0..<users, using: &random)
                let type = seen.insert(user).inserted ? "signup" : (Bool.random(using: &random) ? "purchase" : "login")
                let millis = Int64(Date().timeIntervalSince1970 * 1000)
                let value = Self.event(id: "bench-\(sent)", user: "b\(user)", type: type, millis: millis)
                try producer.send(ProducerRecord(topic: OrbitTopics.userEvents, key: Array("b\(user)".utf8), value: value), in: batch)
                if let copy { try producer.send(ProducerRecord(topic: copy, key: Array("b\(user)".utf8), value: value), in: batch) }
                sent += 1
            }
            between()
        }
        try batch.waitForAll()
        return sent
    }

    static func event(id: String, user: String, type: String, millis: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("user_id"); w.string(user)
        w.key("type"); w.string(type)
        w.key("time"); w.timestamp(millis: millis)
        if type == "purchase" {
            w.key("properties"); w.beginObject()
            w.key("order_id"); w.string("o-\(id)")
            w.key("amount"); w.int(Int64(19 + millis % 80))
            w.key("currency"); w.string("USD")
            w.endObject()
        }
        w.endObject()
        return w.bytes
    }

    /// Scorer throughput: `throughputEvents` valid events already on `.valid`, then `scorers`
    /// instances start; events/s from their start to the group's last commit (group join included).
    func throughputRun(scorers count: Int) throws {
        let broker = try LocalBroker.startOrbit(partitions: partitions)
        defer { LocalBrokerAddress.remove(); broker.stop() }
        let kafka = KafkaConfiguration(LocalProfile.kafkaOverrides.merging(["bootstrap.servers": broker.bootstrapServers]) { a, _ in a })
        let producer = try KafkaProducer(configuration: kafka, name: "bench-loader", logger: Logger(label: "orbit.bench"))
        let batch = DeliveryBatch()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for i in 0..<throughputEvents {
            let user = "t\(i % users)"
            let bytes = UserEvent(id: "t-\(i)", userID: user, type: i % 3 == 0 ? .purchase : .login, timeMillis: now - Int64(i % 86_400_000),
                                  properties: i % 3 == 0 ? JSONObject([(key: "order_id", value: .string("o\(i)")), (key: "amount_minor", value: .number(JSONNumber(1999))), (key: "currency", value: .string("USD"))]) : JSONObject()).encoded()
            try producer.send(ProducerRecord(topic: OrbitTopics.validEvents, key: Array(user.utf8), value: bytes), in: batch)
        }
        try batch.waitForAll()
        producer.close()
        let launched = Date()
        let services = ServiceProcesses()
        defer { services.stopAll() }
        var environment = LocalProfile.environment(bootstrap: broker.bootstrapServers)
        environment["ORBIT__SERVICE__HTTP_PORT"] = "0"
        for copy in 0..<count {
            try services.start(name: "scorer-\(copy + 1)", executable: "orbit-scorer", arguments: ["--config", "deploy/config/scoring.yaml"], environment: environment, quiet: true)
        }
        // From the instances' start until the group has committed every input offset, group
        // joining included (about 3 s here): commits trail processing by the batches in flight,
        // so a commit-to-commit rate would measure the commit cadence, not the scorers. One probe
        // consumer reads the committed offsets every 20 ms without joining the group.
        let probe = try KafkaConsumer(configuration: kafka.merging(["group.id": "orbit-scorer"]), name: "bench-probe", logger: Logger(label: "orbit.bench"))
        defer { probe.close() }
        let inputs = (0..<partitions).map { TopicPartition(OrbitTopics.validEvents, Int32($0)) }
        var firstCommit: Date?
        let deadline = Date().addingTimeInterval(600)
        var committed: Int64 = 0
        while committed < Int64(throughputEvents) {
            if let failed = services.exited.first { throw CLIError("\(failed.name) exited with \(failed.status)") }
            guard Date() < deadline else { throw CLIError("the scorers did not finish in 600 s (\(committed) committed)") }
            Thread.sleep(forTimeInterval: 0.02)
            guard let offsets = try? probe.committed(inputs, timeout: .seconds(5)) else { continue }
            committed = offsets.reduce(0) { $0 + max(0, $1.offset) }
            if firstCommit == nil, committed > 0 { firstCommit = Date() }
        }
        guard let firstCommit else { throw CLIError("no commit seen") }
        let seconds = Date().timeIntervalSince(launched)
        Output.line(String(format: "throughput with %d scorer instance%@: %.0f events/s (%d events from start to the last commit in %.1f s, group join included; first commit after %.1f s)",
                           count, count == 1 ? "" : "s", Double(throughputEvents) / seconds, throughputEvents, seconds, firstCommit.timeIntervalSince(launched)))
    }
}

/// Reads the stages' output topics from their ends and records, per record, the time it carries
/// (the event's publication) and how long after that it was seen here.
final class LatencyWatcher {
    private let consumer: KafkaConsumer
    private let stages: [(topic: String, timeField: [String])]
    private(set) var samples: [[(eventMillis: Int64, latencyMillis: Int64)]]

    init(kafka: KafkaConfiguration, stages: [(topic: String, timeField: [String])]) throws {
        self.stages = stages
        samples = stages.map { _ in [] }
        consumer = try KafkaConsumer(configuration: kafka.merging(["fetch.wait.max.ms": "5"]), name: "bench-latency", logger: Logger(label: "orbit.bench"))
        var offsets: [TopicPartitionOffset] = []
        for stage in stages {
            let count = try consumer.partitionCount(of: stage.topic)
            offsets += (0..<count).map { TopicPartitionOffset(TopicPartition(stage.topic, Int32($0)), offset: TopicPartitionOffset.end) }
        }
        try consumer.assign(offsets)
    }

    deinit { consumer.close() }

    func poll() {
        while let record = try? consumer.poll(timeout: .milliseconds(1)) {
            let seen = Int64(Date().timeIntervalSince1970 * 1000)
            guard let index = stages.firstIndex(where: { $0.topic == record.topic }), let value = record.value,
                  let object = try? JSONParser.parse(value).objectValue else { continue }
            var node: JSONValue? = .object(object)
            for field in stages[index].timeField { node = node?.objectValue?[field] }
            guard let text = node?.stringValue, let millis = try? RFC3339.parse(text) else { continue }
            samples[index].append((millis, seen - millis))
        }
    }
}

/// CPU seconds so far of the embedded broker's thread, of the rest of this process (publisher and
/// latency reader) and of each service process: where the two cores went during the latency run.
struct CPUSnapshot {
    let taken = Date()
    let broker = ThreadCPU.liveThreadSeconds(named: ["rdk:mock"])
    let bench = ThreadCPU.seconds()
    let services: [(name: String, seconds: Double)]

    init(_ processes: ServiceProcesses) { services = processes.cpuSeconds }

    /// One line: each part's share of one core between `earlier` and this snapshot.
    func printShares(since earlier: CPUSnapshot) {
        let wall = taken.timeIntervalSince(earlier.taken)
        guard wall > 0 else { return }
        func share(_ seconds: Double) -> String { String(format: "%.0f %%", 100 * seconds / wall) }
        var parts = [("local broker", broker - earlier.broker), ("publisher and reader", bench - earlier.bench)]
        for service in services {
            guard let before = earlier.services.first(where: { $0.name == service.name }) else { continue }
            parts.append((service.name, service.seconds - before.seconds))
        }
        let total = parts.reduce(0) { $0 + $1.1 }
        Output.line("  CPU after the warm-up, % of one core (of \(ProcessInfo.processInfo.activeProcessorCount * 100) %): "
                    + parts.map { "\($0.0) \(share($0.1))" }.joined(separator: ", ") + ", total \(share(total))")
    }
}
