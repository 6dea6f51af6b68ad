import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime

/// `orbit bench redeem`: redemptions by reward per second through orbit-members (router, ledger and
/// stock stage together, as in production) against a pass-through chain of the same hops on the
/// same broker in the same run. A redemption makes five hops: the router, the ledger (hold, stock
/// request), the stock stage (answer), the router again, the ledger again (commit or release,
/// result), and a coupon a sixth: the coupon stage (issued). The chain has as many stages with no
/// work of their own, each writing as many records per redemption as the service's stage wrote
/// on its pass (a stage met twice counts half on each). Two cases: coupon redemptions spread over
/// many rewards, and goods all on one hot reward whose stock runs out halfway.
struct RedeemBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "redeem", abstract: "Redemptions/s vs a pass-through chain of the same hops, spread and on one hot reward (target >= 0.5 for both).")

    @Option(help: "Redemptions per case.") var redemptions = 100_000
    @Option(help: "Members (each redeems redemptions/members times; signup points pay for them).") var members = 20_000
    @Option(help: "Rewards the spread case uses.") var rewards = 1_000
    @Option(help: "Partitions.") var partitions = 16
    @Flag(help: "Measure only the four stages' processors in one thread, without Kafka: each stage's CPU per redemption and a digest of every output (for profiling, and for checking that a faster build writes the same bytes).") var coreOnly = false
    @Option(help: "Rounds of --core-only.") var rounds = 3

    func validate() throws {
        try OptionChecks.require(redemptions, "redemptions", in: OptionChecks.positive)
        try OptionChecks.require(members, "members", in: OptionChecks.positive)
        try OptionChecks.require(rewards, "rewards", in: OptionChecks.positive)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(rounds, "rounds", in: OptionChecks.rounds)
        guard redemptions / max(1, members) <= 10 else { throw ValidationError("at most 10 redemptions per member (--members at least \(redemptions / 10))") }
    }

    func run() async throws {
        if coreOnly { return try measureCoreOnly() }
        let bench = try BenchBroker(input: "bench-redeem-signups", partitions: partitions)
        defer { bench.broker.stop() }
        let start = Int64(1_795_435_200_000)
        // Every member signs up (the shipped rules give 100 points); a redemption costs 10.
        try bench.load((0..<members).map { i in
            (Array("m\(i)".utf8), UserEvent(id: "s\(i)", userID: "m\(i)", type: .signup, timeMillis: start + Int64(i), properties: JSONObject()).encoded())
        })
        Output.line("orbit bench redeem: \(redemptions) redemptions by \(members) members, \(partitions) partitions")
        var ratios: [String] = []
        for (name, hot) in [("spread over \(rewards) rewards", false), ("one hot reward, stock \(redemptions / 2)", true)] {
            let shapes = try hopShapes(hot: hot)
            let (rate, cpu, written) = try measureService(bench, hot: hot, start: start)
            Output.line(String(format: "  %@: orbit-members %8.0f redemptions/s, %5.1f µs CPU per redemption", name, rate, cpu))
            Output.line(String(format: "    (records written per redemption: router %.2f, ledger %.2f, stock %.2f, coupons %.2f)", written[0], written[1], written[2], written[3]))
            // Each stage's hops with as many records as it wrote through Kafka: the same records
            // only, or also the same topics and sizes as its processors write them.
            let shaped = HopShape.fitted(shapes, stages: Array([0, 1, 2, 0, 1, 3].prefix(shapes.count)), written: written)
            let recordsOnly = shaped.map(\.recordsOnly)
            Output.line("    (each hop of the chain of the same hops, per redemption: " + shaped.map(\.summary).joined(separator: "; ") + ")")
            let (counted, countedCPU) = try measureChain(bench, hot: hot, shapes: recordsOnly, name: "chain")
            Output.line(String(format: "  %@: pass-through chain, the same records per hop %8.0f redemptions/s, %5.1f µs CPU per redemption (ratio %.2f)",
                               name, counted, countedCPU, rate / counted))
            let (chain, chainCPU) = try measureChain(bench, hot: hot, shapes: shaped, name: "shaped")
            Output.line(String(format: "  %@: pass-through chain, the same records, topics and sizes %8.0f redemptions/s, %5.1f µs CPU per redemption",
                               name, chain, chainCPU))
            let ratio = rate / chain
            ratios.append(String(format: "%@ %.2f", name, ratio))
            Output.line(String(format: "  %@: ratio %.2f of the chain of the same hops (target >= 0.50) %@", name, ratio, ratio >= 0.5 ? "PASS" : "BELOW TARGET"))
        }
        Output.line("ratios: " + ratios.joined(separator: "; "))
    }

    /// The catalogue: many rewards with stock to spare, or one whose stock runs out halfway.
    func catalogue(hot: Bool) -> [Reward] {
        hot ? [Reward(id: "hot", names: ["en": "Hot", "zh-CN": "热门"], pricePoints: 10, stock: .limited(Int64(redemptions / 2)), issue: .goods(sku: "HOT"))]
            : (0..<rewards).map { Reward(id: "r\($0)", names: ["en": "R\($0)", "zh-CN": "R\($0)"], pricePoints: 10, stock: .limited(1_000_000_000),
                                         issue: .coupon(valueMinor: 100, currency: "USD", validityDays: 30)) }
    }

    /// The `n`th redemption command (by member `n` modulo the members, of the hot reward or the
    /// `n`th modulo the rewards).
    func command(_ n: Int, hot: Bool) -> (key: [UInt8], value: [UInt8]) {
        let user = "m\(n % members)", reward = hot ? "hot" : "r\(n % rewards)"
        return (Array(user.utf8), Array(#"{"type":"redeem_reward","request_id":"b\#(n)","user_id":"\#(user)","reward_id":"\#(reward)"}"#.utf8))
    }

    private func commandsTopic(hot: Bool) -> String { "bench-redeem-\(hot ? "hot" : "spread")-commands" }

    /// The membership topology on fresh topics: members signed up first, then every redemption
    /// command, timed from the first command read until the last hops (the ledger's second visit,
    /// the coupon stage) have read every record and had their outputs acknowledged.
    private func measureService(_ bench: BenchBroker, hot: Bool, start: Int64) throws -> (rate: Double, cpu: Double, written: [Double]) {
        let prefix = "bench-redeem-\(hot ? "hot" : "spread")"
        let document = try ConfigDocument.load(path: "deploy/config/membership.yaml", environment: [:])
        var settings = try MembershipSettings(document: document)
        settings.groupID = "\(prefix)-members"
        // Every topic the service names, renamed for this case (the catalogue on one partition),
        // but the sign-ups it reads.
        for (key, path) in MembershipSettings.topicKeys where key != "events" {
            settings[keyPath: path] = "\(prefix)-\(key)"
            try bench.broker.createTopic(TopicSpec(name: settings[keyPath: path], partitions: key == "rewards" ? 1 : partitions))
        }
        settings.eventsTopic = bench.input
        var runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
        runtime.kafka = bench.kafka
        runtime.privacy.requestsTopic = "\(prefix)-privacy"
        try bench.broker.createTopic(TopicSpec(name: runtime.privacy.requestsTopic, partitions: partitions))
        let producer = try KafkaProducer(configuration: bench.kafka, name: "bench-redeem", logger: bench.logger)
        defer { producer.close() }
        let loaded = DeliveryBatch()
        for reward in catalogue(hot: hot) { try producer.send(ProducerRecord(topic: settings.rewardsTopic, key: Array(reward.id.utf8), value: reward.encoded()), in: loaded) }
        try loaded.waitForAll()

        let topology = MembershipService.topology(settings, runtime: runtime)
        let pipelines = try topology.pipelines(runtime: runtime, logger: bench.logger)
        let stages = topology.stages.count
        let running = RunningPipelines(pipelines)
        defer { running.stop() }
        // Pipelines come per stream thread in the topology's order: router, ledger, stock, coupons.
        func stage(_ index: Int) -> [StreamPipeline] { pipelines.enumerated().filter { $0.offset % stages == index }.map(\.element) }
        func recordsIn(_ index: Int) -> Int { stage(index).reduce(0) { $0 + $1.status.snapshot.recordsIn } }
        func recordsOut(_ index: Int) -> Int { stage(index).reduce(0) { $0 + $1.status.snapshot.recordsOut } }
        let setupStarted = ContinuousClock.now
        while recordsIn(1) < members {
            if ContinuousClock.now - setupStarted > .seconds(300) { throw CLIError("timed out signing members up: \(recordsIn(1)) of \(members)") }
            usleep(5000)
        }
        usleep(500_000)  // the sign-ups' batches end and their outputs are written
        let before = (0..<stages).map(recordsOut)
        let routedBefore = recordsIn(0)
        let (ledgerBefore, couponsBefore) = (recordsIn(1), recordsIn(3))

        let commands = DeliveryBatch()
        for n in 0..<redemptions {
            let (key, value) = command(n, hot: hot)
            try producer.send(ProducerRecord(topic: settings.commandsTopic, key: key, value: value), in: commands)
        }
        try commands.waitForAll()
        let cpuBefore = ThreadCPU.seconds()
        let waitStarted = ContinuousClock.now
        while recordsIn(0) == routedBefore && ContinuousClock.now - waitStarted < .seconds(60) { usleep(1000) }
        let first = ContinuousClock.now
        // Done when the last hops have read everything and their outputs are acknowledged (a
        // pipeline counts a batch's records then): the ledger's two visits of each redemption (the
        // command, the stock answer) and the coupon stage's requests. These are the pipelines' own
        // counts, as the chain's end is; a probe client made every 20 ms to read the member
        // events' offsets, as this loop had, cost the service's side CPU the chain never paid.
        func finished() -> Bool { recordsIn(1) - ledgerBefore >= 2 * redemptions && (hot || recordsIn(3) - couponsBefore >= redemptions) }
        while !finished() {
            if ContinuousClock.now - first > .seconds(600) { throw CLIError("timed out: the ledger read \(recordsIn(1) - ledgerBefore) of \(2 * redemptions) records") }
            usleep(2000)
        }
        let elapsed = (ContinuousClock.now - first).seconds
        let cpu = (ThreadCPU.seconds() - cpuBefore) * 1e6 / Double(redemptions)
        // Untimed: every redemption ended with its result on the member events topic (a result
        // each, reward_redeemed for each issued, coupon_issued for each coupon; the hot reward's
        // stock alert besides).
        let expected = Int64(redemptions) + (hot ? Int64(redemptions / 2) : 2 * Int64(redemptions))
        let events = try consumerPositions(kafka: bench.kafka, group: "\(prefix)-count", topics: [settings.memberEventsTopic]).values.reduce(0) { $0 + $1.high }
        guard events >= expected else { throw CLIError("\(events) member events written, \(expected) expected") }
        let written = (0..<stages).map { Double(recordsOut($0) - before[$0]) / Double(redemptions) }
        return (Double(redemptions) / elapsed, cpu, written)
    }

    /// Stages with no work of their own (router, ledger, stock, router, ledger, and coupons when
    /// coupons are issued), per stream thread, reading the same commands: each passes every record
    /// on once and writes beside it what `shapes` says its service hop wrote.
    private func measureChain(_ bench: BenchBroker, hot: Bool, shapes: [HopShape], name: String) throws -> (rate: Double, cpu: Double) {
        let prefix = "bench-redeem-\(hot ? "hot" : "spread")-\(name)"
        let hops = shapes.count
        func sideTopics(_ hop: Int) -> [String] { shapes[hop].sides.indices.map { "\(prefix)-\(hop + 1)-side-\($0)" } }
        for hop in 0..<hops {
            for topic in ["\(prefix)-\(hop + 1)"] + sideTopics(hop) { try bench.broker.createTopic(TopicSpec(name: topic, partitions: partitions)) }
        }
        let document = try ConfigDocument.load(path: "deploy/config/membership.yaml", environment: [:])
        var runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
        runtime.kafka = bench.kafka
        let inputs = [commandsTopic(hot: hot)] + (1..<hops).map { "\(prefix)-\($0)" }
        let pipelines = (0..<runtime.streamThreads).flatMap { _ in
            (0..<hops).map { hop in
                StreamPipeline(settings: .init(groupID: "\(prefix)-\(hop + 1)-group", inputTopics: [inputs[hop]], runtime: runtime),
                               processor: ShapedHopProcessor(forwardTopic: "\(prefix)-\(hop + 1)", shape: shapes[hop], sideTopics: sideTopics(hop)),
                               logger: bench.logger)
            }
        }
        let (rate, cpu) = try StagedBench.measure(pipelines, stages: hops, expected: redemptions)
        return (rate, cpu)
    }
}
