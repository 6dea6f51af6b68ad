import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime

/// `orbit bench members`: the membership service (its whole topology as in production: router and
/// ledger, with the mall's stages idle beside them) against raw pass-through on the same broker,
/// in the same run, with the same stream threads. Two references beside it say what the broker
/// alone allows a service of this shape: the same two hops copying and doing no work, then
/// writing as many records as the ledger did.
struct MembersBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "members", abstract: "Membership events/s vs raw pass-through (target >= 0.50).")

    @Option(help: "Events per round (300,000, as for ingest: on 100,000 the pass-through reads what its consumer had already fetched, at 4x its real rate).") var events = 300_000
    @Option(help: "Members.") var users = 20_000
    @Option(help: "Partitions.") var partitions = 16
    @Option(help: "Rounds.") var rounds = 2
    @Option(help: "Records per batch (commit interval), for every measurement (default: membership.yaml's max_batch_records).") var batchRecords: Int?

    func validate() throws {
        try OptionChecks.require(events, "events", in: OptionChecks.positive)
        try OptionChecks.require(users, "users", in: OptionChecks.positive)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(rounds, "rounds", in: OptionChecks.rounds)
        if let batchRecords { try OptionChecks.require(batchRecords, "batch-records", in: OptionChecks.positive) }
    }

    func run() async throws {
        let bench = try BenchBroker(input: "bench-members-input", partitions: partitions)
        defer { bench.broker.stop() }
        let (broker, kafka, input, logger) = (bench.broker, bench.kafka, bench.input, bench.logger)
        let records = ScorerBench.events(events, users: users)
        try bench.load(records)
        Output.line("orbit bench members: \(records.count) events from \(users) members, \(partitions) partitions, \(rounds) rounds")

        let document = try ConfigDocument.load(path: "deploy/config/membership.yaml", environment: [:])
        var bestRaw = 0.0, bestChained = 0.0, bestFannedOut = 0.0, bestMembers = 0.0
        for round in 1...rounds {
            let prefix = "bench-members-r\(round)"
            for suffix in ["raw", "copy", "copy-out", "fan", "fan-out"] {
                try broker.createTopic(TopicSpec(name: "\(prefix)-\(suffix)", partitions: partitions))
            }
            // The shipped processing settings (batches, batches in flight, stream threads), as
            // orbit-members runs them; the pass-through runs with the same.
            var runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
            runtime.kafka = kafka
            if let batchRecords { runtime.maxBatchRecords = batchRecords }
            let (raw, rawCPU) = try IngestBench().measureWithCPU((0..<runtime.streamThreads).map { _ in PassThroughProcessor(outputTopic: "\(prefix)-raw") }, group: "\(prefix)-raw", input: input, runtime: runtime, expected: records.count, logger: logger)
            Output.line(String(format: "  round %d raw pass-through: %8.0f events/s, %5.1f µs CPU per event", round, raw, rawCPU))

            // The floor of any two-stage service: the same two hops as the router and the ledger,
            // copying and doing no work, run and timed exactly as membership is below.
            let (chained, chainedCPU) = try twoHops(prefix + "-copy", from: input, perRecord: 1, runtime: runtime, expected: records.count, logger: logger)
            Output.line(String(format: "  round %d two pass-throughs in a row: %8.0f events/s, %5.1f µs CPU per event (the Kafka floor of two stages)", round, chained, chainedCPU))

            let members = try BenchMembership(try MembershipSettings(document: document), runtime: runtime, prefix: prefix, events: input,
                                              broker: broker, partitions: partitions)
            let pipelines = try members.topology.pipelines(runtime: members.runtime, logger: logger)
            // Events enter at the router and end at the ledger (the mall's stages idle beside them).
            let (rate, cpu) = try StagedBench.measure(pipelines, entry: members.stage(0, of: pipelines), exit: members.stage(1, of: pipelines), expected: records.count)
            Output.line(String(format: "  round %d members:          %8.0f events/s, %5.1f µs CPU per event (router and ledger together)", round, rate, cpu))
            // What the ledger wrote per event (the router's copy aside). Each is a produce, and for a
            // reader a fetch, that the two copies above do not pay; so the same two hops are run
            // again writing as many records, still doing no work: the most a membership service
            // with these outputs could score on this broker, however cheap its own rules.
            let outputs = [("ledger", "ledger"), ("accounts", "accounts"), ("events", "member_events"), ("changelog", "state_changelog")]
            let ends = try members.records(on: outputs.map(\.1), kafka: kafka)
            let written = outputs.map { output in (output.0, ends[output.1]!) }
            let perEvent = Double(written.reduce(0) { $0 + $1.1 }) / Double(records.count)
            Output.line("    (records written per event besides the router's copy: "
                + written.map { String(format: "%@ %.2f", $0.0, Double($0.1) / Double(records.count)) }.joined(separator: ", ")
                + String(format: "; %.2f in all)", perEvent))
            let (fannedOut, fannedOutCPU) = try twoHops(prefix + "-fan", from: input, perRecord: perEvent, runtime: runtime, expected: records.count, logger: logger)
            Output.line(String(format: "  round %d the same two hops writing %.2f records per event: %8.0f events/s, %5.1f µs CPU per event", round, perEvent, fannedOut, fannedOutCPU))
            bestRaw = max(bestRaw, raw)
            bestChained = max(bestChained, chained)
            bestFannedOut = max(bestFannedOut, fannedOut)
            bestMembers = max(bestMembers, rate)
        }
        let ratio = bestMembers / bestRaw
        Output.line(String(format: "raw pass-through: %.0f events/s", bestRaw))
        Output.line(String(format: "two pass-throughs in a row: %.0f events/s (ratio %.2f: what a two-stage service with no work of its own would score)", bestChained, bestChained / bestRaw))
        Output.line(String(format: "the same writing membership's outputs: %.0f events/s (ratio %.2f: the most membership could score here with no work of its own)", bestFannedOut, bestFannedOut / bestRaw))
        Output.line(String(format: "members:          %.0f events/s (%.2f of the same two hops writing its outputs)", bestMembers, bestMembers / bestFannedOut))
        Output.line(String(format: "ratio:            %.2f (target >= 0.50) %@", ratio, ratio >= 0.5 ? "PASS" : "BELOW TARGET"))
    }

    /// Two stages with no work of their own, per stream thread: `from` → `name` (a copy) →
    /// `name`-out (`perRecord` copies of each record), timed as a service's stages are.
    private func twoHops(_ name: String, from input: String, perRecord: Double, runtime: RuntimeSettings, expected: Int, logger: Logger) throws -> (rate: Double, cpuMicros: Double) {
        let pipelines = (0..<runtime.streamThreads).flatMap { _ -> [StreamPipeline] in
            [StreamPipeline(settings: .init(groupID: name, inputTopics: [input], runtime: runtime),
                            processor: PassThroughProcessor(outputTopic: name), logger: logger),
             StreamPipeline(settings: .init(groupID: name + "-out", inputTopics: [name], runtime: runtime),
                            processor: FanOutProcessor(outputTopic: name + "-out", perRecord: perRecord), logger: logger)]
        }
        return try StagedBench.measure(pipelines, stages: 2, expected: expected)
    }
}

/// Writes each record it reads to `outputTopic` `perRecord` times on average (an exact running
/// share: after n records, floor(n × perRecord) written), unchanged: output volume without work.
/// `forwardingOnce`: the first copy goes to `outputTopic` (the next hop reads each record once) and
/// the others to `sideTopic`.
final class FanOutProcessor: RecordProcessor {
    let outputTopic: String
    let perRecord: Double
    let forwardingOnce: Bool
    let sideTopic: String
    private var read = 0
    private var written = 0
    init(outputTopic: String, perRecord: Double, forwardingOnce: Bool = false, sideTopic: String = "") {
        (self.outputTopic, self.perRecord, self.forwardingOnce, self.sideTopic) = (outputTopic, perRecord, forwardingOnce, sideTopic)
    }

    func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) {
        read += 1
        let due = Int(Double(read) * perRecord)
        var first = true
        while written < due {
            let topic = forwardingOnce && !first ? sideTopic : outputTopic
            outputs.append(ProducerRecord(topic: topic, key: record.key, value: record.value, headers: record.headers, timestampMillis: record.timestampMillis))
            written += 1
            first = false
        }
    }
}
