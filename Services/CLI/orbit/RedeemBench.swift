import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime

/// `orbit bench redeem`: redemptions by reward per second through orbit-members (router, ledger,
/// stock and coupon stages together, as in production) against a pass-through chain of the same
/// hops on the same broker in the same run. A redemption makes five hops: the router, the ledger
/// (hold, stock request), the stock stage (answer), the router again, the ledger again (commit or
/// release, result), and a coupon a sixth: the coupon stage (issued). The chain has a stage with
/// no work of its own per hop, each writing what the service's hop wrote, to as many topics, as
/// large and on the same keys (``HopShape``); a chain with the same records only prints beside it.
/// Two cases: coupon redemptions spread over many rewards, and goods all on one hot reward whose
/// stock runs out halfway.
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
        // Signing up gives 100 points and a redemption costs 10: an eleventh would be refused and
        // the bench would wait for a commit that never comes.
        guard redemptions <= 10 * members else { throw ValidationError("at most 10 redemptions per member (--members at least \((redemptions + 9) / 10))") }
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
            let outputs = try hopOutputs(hot: hot)
            let (rate, cpu, written, byTopic) = try measureService(bench, hot: hot, start: start)
            Output.line(String(format: "  %@: orbit-members %8.0f redemptions/s, %5.1f µs CPU per redemption", name, rate, cpu))
            Output.line(String(format: "    (records written per redemption: router %.2f, ledger %.2f, stock %.2f, coupons %.2f)", written[0], written[1], written[2], written[3]))
            let sameHops = HopShape.shapes(outputs, written: byTopic, inputs: redemptions)
            Output.line("    (the chain's hops, per redemption: " + sameHops.map(\.summary).joined(separator: "; ") + ")")
            let (sameRecords, sameRecordsCPU) = try measureChain(bench, hot: hot, shapes: sameHops.map(\.recordsOnly), name: "records")
            Output.line(String(format: "  %@: pass-through chain, the same records per hop %8.0f redemptions/s, %5.1f µs CPU per redemption (ratio %.2f)",
                               name, sameRecords, sameRecordsCPU, rate / sameRecords))
            let (chain, chainCPU) = try measureChain(bench, hot: hot, shapes: sameHops, name: "hops")
            Output.line(String(format: "  %@: pass-through chain of the same hops (records, topics, keys, sizes) %8.0f redemptions/s, %5.1f µs CPU per redemption",
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
    /// command, timed from the router's first batch of them until the last hops (the ledger's
    /// second visit, the coupon stage) have read every record and had their outputs acknowledged.
    /// Returns, besides the rate and CPU, the records each stage wrote per redemption and the
    /// records per redemption on each topic the service writes, by topic key.
    private func measureService(_ bench: BenchBroker, hot: Bool, start: Int64) throws -> (rate: Double, cpu: Double, written: [Double], byTopic: [String: Double]) {
        let prefix = "bench-redeem-\(hot ? "hot" : "spread")"
        let document = try ConfigDocument.load(path: "deploy/config/membership.yaml", environment: [:])
        var runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
        runtime.kafka = bench.kafka
        let service = try BenchMembership(try MembershipSettings(document: document), runtime: runtime, prefix: prefix, events: bench.input,
                                          broker: bench.broker, partitions: partitions)
        let settings = service.settings
        let producer = try KafkaProducer(configuration: bench.kafka, name: "bench-redeem", logger: bench.logger)
        defer { producer.close() }
        let loaded = DeliveryBatch()
        for reward in catalogue(hot: hot) { try producer.send(ProducerRecord(topic: settings.rewardsTopic, key: Array(reward.id.utf8), value: reward.encoded()), in: loaded) }
        try loaded.waitForAll()

        let pipelines = try service.topology.pipelines(runtime: service.runtime, logger: bench.logger)
        let stages = service.topology.stages.count
        let running = RunningPipelines(pipelines)
        defer { running.stop() }
        func stage(_ index: Int) -> [StreamPipeline] { service.stage(index, of: pipelines) }
        func recordsIn(_ index: Int) -> Int { stage(index).reduce(0) { $0 + $1.status.snapshot.recordsIn } }
        func recordsOut(_ index: Int) -> Int { stage(index).reduce(0) { $0 + $1.status.snapshot.recordsOut } }
        let setupStarted = ContinuousClock.now
        while recordsIn(1) < members {
            try running.checkNoneFailed()
            if ContinuousClock.now - setupStarted > .seconds(300) { throw CLIError("timed out signing members up: \(recordsIn(1)) of \(members)") }
            usleep(5000)
        }
        usleep(500_000)  // the sign-ups' batches end and their outputs are written
        // Records on each topic the service writes (not its inputs), read outside the clock.
        let outputKeys = MembershipSettings.topicKeys.keys.filter { !["events", "rewards", "commands", "segment_changes", "tags"].contains($0) }.sorted()
        func topicEnds() throws -> [String: Int64] { try service.records(on: outputKeys, kafka: bench.kafka) }
        let topicsBefore = try topicEnds()
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
        while recordsIn(0) == routedBefore && ContinuousClock.now - waitStarted < .seconds(60) {
            try running.checkNoneFailed()
            usleep(1000)
        }
        let first = ContinuousClock.now
        // Done when the last hops have read everything and their outputs are acknowledged (a
        // pipeline counts a batch's records then): the ledger's two visits of each redemption (the
        // command, the stock answer) and the coupon stage's requests. These are the pipelines' own
        // counts, as the chain's end is; a probe client made every 20 ms to read the member
        // events' offsets, as this loop had, cost the service's side CPU the chain never paid.
        func finished() -> Bool { recordsIn(1) - ledgerBefore >= 2 * redemptions && (hot || recordsIn(3) - couponsBefore >= redemptions) }
        while !finished() {
            try running.checkNoneFailed()
            if ContinuousClock.now - first > .seconds(600) {
                throw CLIError("timed out: the ledger read \(recordsIn(1) - ledgerBefore) of \(2 * redemptions) records, the coupon stage \(recordsIn(3) - couponsBefore) of \(hot ? 0 : redemptions)")
            }
            usleep(2000)
        }
        let elapsed = (ContinuousClock.now - first).seconds
        let cpu = (ThreadCPU.seconds() - cpuBefore) * 1e6 / Double(redemptions)
        // Untimed: every redemption ended with its result on the member events topic (a result
        // each, reward_redeemed for each issued, coupon_issued for each coupon; the hot reward's
        // stock alert besides). A stage's clock ticks are records too, so the end above may come
        // a few records early: the last of them are waited for here.
        let expected = Int64(redemptions) + (hot ? Int64(redemptions / 2) : 2 * Int64(redemptions))
        let checkStarted = ContinuousClock.now
        while try topicEnds()["member_events", default: 0] - topicsBefore["member_events", default: 0] < expected {
            try running.checkNoneFailed()
            if ContinuousClock.now - checkStarted > .seconds(60) { throw CLIError("fewer member events than the \(expected) of \(redemptions) redemptions") }
            usleep(100_000)
        }
        let written = (0..<stages).map { Double(recordsOut($0) - before[$0]) / Double(redemptions) }
        let byTopic = try topicEnds().mapValues(Double.init).merging(topicsBefore.mapValues { -Double($0) }, uniquingKeysWith: +).mapValues { $0 / Double(redemptions) }
        return (Double(redemptions) / elapsed, cpu, written, byTopic)
    }

    /// Stages with no work of their own (router, ledger, stock, router, ledger, and coupons when
    /// coupons are issued), per stream thread, reading the same commands: each passes every record
    /// on (but the last) and writes beside it what `shapes` says its service hop wrote.
    private func measureChain(_ bench: BenchBroker, hot: Bool, shapes: [HopShape], name: String) throws -> (rate: Double, cpu: Double) {
        let prefix = "bench-redeem-\(hot ? "hot" : "spread")-\(name)"
        let hops = shapes.count
        func forwardTopic(_ hop: Int) -> String? { hop + 1 < hops ? "\(prefix)-\(hop + 1)" : nil }
        func sideTopics(_ hop: Int) -> [String] { shapes[hop].sides.indices.map { "\(prefix)-\(hop + 1)-side-\($0)" } }
        for hop in 0..<hops {
            for topic in [forwardTopic(hop)].compactMap({ $0 }) + sideTopics(hop) { try bench.broker.createTopic(TopicSpec(name: topic, partitions: partitions)) }
        }
        let document = try ConfigDocument.load(path: "deploy/config/membership.yaml", environment: [:])
        var runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
        runtime.kafka = bench.kafka
        let inputs = [commandsTopic(hot: hot)] + (1..<hops).map { "\(prefix)-\($0)" }
        let pipelines = (0..<runtime.streamThreads).flatMap { _ in
            (0..<hops).map { hop in
                StreamPipeline(settings: .init(groupID: "\(prefix)-\(hop + 1)-group", inputTopics: [inputs[hop]], runtime: runtime),
                               processor: ShapedHopProcessor(forwardTopic: forwardTopic(hop), shape: shapes[hop], sideTopics: sideTopics(hop)),
                               logger: bench.logger)
            }
        }
        let (rate, cpu) = try StagedBench.measure(pipelines, stages: hops, expected: redemptions)
        return (rate, cpu)
    }
}
