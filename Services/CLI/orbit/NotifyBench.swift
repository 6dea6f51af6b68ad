import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitNotify
import OrbitRuntime

/// `orbit bench notify`: the notification service (router, notify and delivery stages together,
/// as in production) against raw pass-through on the same broker, in the same run. Every input is
/// a sign-up: the `welcome` trigger renders an e-mail (suppressed: no contact, recorded) and an
/// in-app message (rendered, on the outbox, delivered to the inbox topic), so a notification here
/// is the whole path without a network peer's speed in it.
struct NotifyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "notify", abstract: "Notifications/s vs raw pass-through (target >= 0.5).")

    @Option(help: "Sign-ups per round (one in-app notification each; 300,000, as for ingest: on fewer the pass-through reads what its consumer had already fetched, at 3-4x its real rate).") var events = 300_000
    @Option(help: "Partitions.") var partitions = 16
    @Option(help: "Rounds.") var rounds = 2
    @Option(help: "fetch.wait.max.ms of every stage and of pass-through.") var fetchWaitMs = 100

    func validate() throws {
        try OptionChecks.require(events, "events", in: OptionChecks.positive)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(rounds, "rounds", in: OptionChecks.rounds)
        try OptionChecks.require(fetchWaitMs, "fetch-wait-ms", in: OptionChecks.fetchWaitMs)
    }

    func run() async throws {
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
        var bestRaw = 0.0, bestNotify = 0.0
        for round in 1...rounds {
            let prefix = "bench-notify-r\(round)"
            var settings = try NotifySettings(document: document)
            let renamed: [WritableKeyPath<NotifySettings, String>] = [\.segmentChangesTopic, \.memberEventsTopic, \.ledgerTopic, \.profilesTopic, \.accountsTopic,
                                                                       \.contactsTopic, \.preferencesTopic, \.tagsTopic, \.commandsTopic, \.inputsTopic,
                                                                       \.notificationsTopic, \.deliveriesTopic, \.inboxTopic, \.outcomesTopic, \.progressTopic,
                                                                       \.recipientsChangelogTopic, \.campaignsChangelogTopic, \.retriesChangelogTopic, \.deadLettersTopic]
            for (index, path) in renamed.enumerated() {
                settings[keyPath: path] = "\(prefix)-\(index)"
                try broker.createTopic(TopicSpec(name: "\(prefix)-\(index)", partitions: partitions))
            }
            try broker.createTopic(TopicSpec(name: "\(prefix)-raw", partitions: partitions))
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
            bestRaw = max(bestRaw, raw)
            bestNotify = max(bestNotify, rate)
        }
        let ratio = bestNotify / bestRaw
        Output.line(String(format: "raw pass-through: %.0f records/s", bestRaw))
        Output.line(String(format: "notify:           %.0f notifications/s", bestNotify))
        Output.line(String(format: "ratio:            %.2f (target >= 0.50) %@", ratio, ratio >= 0.5 ? "PASS" : "BELOW TARGET"))
    }
}
