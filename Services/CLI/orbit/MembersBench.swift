import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime

/// `orbit bench members`: the membership service (both stages, router and ledger, running
/// together as in production) against raw pass-through on the same broker, in the same run.
struct MembersBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "members", abstract: "Membership events/s vs raw pass-through (target >= 0.50).")

    @Option(help: "Events per round.") var events = 100_000
    @Option(help: "Members.") var users = 20_000
    @Option(help: "Partitions.") var partitions = 16
    @Option(help: "Rounds.") var rounds = 2
    @Option(help: "Records per batch (commit interval), for both measurements: membership.yaml's max_batch_records.") var batchRecords = 20_000

    func validate() throws {
        try OptionChecks.require(events, "events", in: OptionChecks.positive)
        try OptionChecks.require(users, "users", in: OptionChecks.positive)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(rounds, "rounds", in: OptionChecks.rounds)
        try OptionChecks.require(batchRecords, "batch-records", in: OptionChecks.positive)
    }

    func run() async throws {
        let bench = try BenchBroker(input: "bench-members-input", partitions: partitions)
        defer { bench.broker.stop() }
        let (broker, kafka, input, logger) = (bench.broker, bench.kafka, bench.input, bench.logger)
        let records = ScorerBench.events(events, users: users)
        try bench.load(records)
        Output.line("orbit bench members: \(records.count) events from \(users) members, \(partitions) partitions, \(rounds) rounds")

        let document = try ConfigDocument.load(path: "deploy/config/membership.yaml", environment: [:])
        var bestRaw = 0.0, bestMembers = 0.0
        for round in 1...rounds {
            let prefix = "bench-members-r\(round)"
            for suffix in ["raw", "segments", "commands", "internal", "inputs", "ledger", "accounts", "events", "changelog"] {
                try broker.createTopic(TopicSpec(name: "\(prefix)-\(suffix)", partitions: partitions))
            }
            // The shipped processing settings (batches, batches in flight, stream threads), as
            // orbit-members runs them; the pass-through runs with the same.
            var runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
            runtime.kafka = kafka
            runtime.maxBatchRecords = batchRecords
            let (raw, rawCPU) = try IngestBench().measureWithCPU(PassThroughProcessor(outputTopic: "\(prefix)-raw"), group: "\(prefix)-raw", input: input, runtime: runtime, expected: records.count, logger: logger)
            Output.line(String(format: "  round %d raw pass-through: %8.0f events/s, %5.1f µs CPU per event", round, raw, rawCPU))

            var settings = try MembershipSettings(document: document)
            settings.groupID = "\(prefix)-members"
            settings.eventsTopic = input
            settings.segmentChangesTopic = "\(prefix)-segments"
            settings.commandsTopic = "\(prefix)-commands"
            settings.internalTopic = "\(prefix)-internal"
            settings.inputsTopic = "\(prefix)-inputs"
            settings.ledgerTopic = "\(prefix)-ledger"
            settings.accountsTopic = "\(prefix)-accounts"
            settings.memberEventsTopic = "\(prefix)-events"
            settings.stateChangelogTopic = "\(prefix)-changelog"
            let pipelines = try MembershipService.makePipelines(runtime: runtime, settings: settings, logger: logger)
            // Pipelines come in pairs per stream thread: router, then ledger.
            let (rate, cpu) = try StagedBench.measure(pipelines, entry: pipelines.enumerated().filter { $0.offset % 2 == 0 }.map(\.element),
                                                      exit: pipelines.enumerated().filter { $0.offset % 2 == 1 }.map(\.element), expected: records.count)
            Output.line(String(format: "  round %d members:          %8.0f events/s, %5.1f µs CPU per event (router and ledger together)", round, rate, cpu))
            bestRaw = max(bestRaw, raw)
            bestMembers = max(bestMembers, rate)
        }
        let ratio = bestMembers / bestRaw
        Output.line(String(format: "raw pass-through: %.0f events/s", bestRaw))
        Output.line(String(format: "members:          %.0f events/s", bestMembers))
        Output.line(String(format: "ratio:            %.2f (target >= 0.50) %@", ratio, ratio >= 0.5 ? "PASS" : "BELOW TARGET"))
    }
}
