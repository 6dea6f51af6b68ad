import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime

/// `orbit bench redeem --core-only`: the four stages' processors in one thread, without Kafka. A
/// redemption's records go through the stages in the order the service's topics would carry them
/// (router, ledger, stock, router, ledger, coupons), each stage in batches of the configured size
/// (its outputs, accounts and state changes at each batch's end, as the runtime writes them).
/// Prints each stage's CPU per redemption and a digest of every record written: the part of the
/// service's cost that is its own work, repeatable to a few percent, and the check that a faster
/// build writes the same bytes.
extension RedeemBench {
    func measureCoreOnly() throws {
        let document = try ConfigDocument.load(path: "deploy/config/membership.yaml", environment: [:])
        let settings = try MembershipSettings(document: document)
        let runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
        let logger = Logger(label: "orbit.bench")
        Output.line("orbit bench redeem --core-only: \(redemptions) redemptions by \(members) members, \(partitions) partitions, "
                    + "the shipped membership.yaml, batches of \(runtime.maxBatchRecords), \(rounds) rounds")
        for (name, hot) in [("spread over \(rewards) rewards", false), ("one hot reward, stock \(redemptions / 2)", true)] {
            for round in 1...rounds {
                let (hops, clocks) = try runCore(hot: hot, settings: settings, runtime: runtime, logger: logger)
                var digest = OutputsDigest()
                for hop in hops { hop.forEach { digest.add($0) } }
                let micros = clocks.map { $0.seconds * 1e6 / Double(redemptions) }
                Output.line(String(format: "  %@, round %d: router %.1f, ledger %.1f, stock %.1f, coupons %.1f µs; %.1f µs per redemption in all; outputs digest %016llx",
                                   name, round, micros[0], micros[1], micros[2], micros[3], micros.reduce(0, +), digest.value))
            }
        }
    }

    /// What each of a redemption's hops wrote in one run of the processors (router, ledger, stock,
    /// router, ledger, and coupons when coupons are issued), by topic key: the shapes of the
    /// chain of the same hops (``HopShape``).
    func hopOutputs(hot: Bool) throws -> [HopOutputs] {
        let document = try ConfigDocument.load(path: "deploy/config/membership.yaml", environment: [:])
        let settings = try MembershipSettings(document: document)
        let runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
        let (hops, _) = try runCore(hot: hot, settings: settings, runtime: runtime, logger: Logger(label: "orbit.bench"))
        let keys = Dictionary(MembershipSettings.topicKeys.map { (settings[keyPath: $0.value], $0.key) }, uniquingKeysWith: { first, _ in first })
        // Where each hop's next reads (runCore's order: router, ledger, stock, router, ledger, coupons).
        let forwards = [settings.inputsTopic, settings.stockRequestsTopic, settings.internalTopic, settings.inputsTopic, hot ? nil : settings.couponRequestsTopic, nil]
        return zip(hops, forwards).prefix(hot ? 5 : 6).map { records, forward in HopOutputs(forwardTopic: forward, records) { keys[$0] ?? $0 } }
    }

    /// One case through the four stages' processors: what each of a redemption's hops wrote
    /// (router, ledger, stock, router, ledger, coupons; the last empty without coupons), and each
    /// stage's time (both visits of the router and of the ledger together).
    func runCore(hot: Bool, settings: MembershipSettings, runtime: RuntimeSettings, logger: Logger) throws -> (hops: [[ProducerRecord]], clocks: [Duration]) {
        let start = Int64(1_795_435_200_000)
        var core = try CoreStages(settings: settings, runtime: runtime, partitions: partitions, logger: logger, catalogue: catalogue(hot: hot))
        // Every member signs up first (not timed): the shipped rules give 100 points.
        let signups = (0..<members).map { i in
            ProducerRecord(topic: settings.eventsTopic, key: Array("m\(i)".utf8),
                           value: UserEvent(id: "s\(i)", userID: "m\(i)", type: .signup, timeMillis: start + Int64(i), properties: JSONObject()).encoded(),
                           timestampMillis: start + Int64(i))
        }
        let signedUp = try core.run(.router, signups, at: start + Int64(members))
        _ = try core.run(.ledger, signedUp.filter { $0.topic == settings.inputsTopic }, at: start + Int64(members))
        core.resetClocks()
        let time = start + Int64(members) + 1000
        let commands = (0..<redemptions).map { n in
            let (key, value) = command(n, hot: hot)
            return ProducerRecord(topic: settings.commandsTopic, key: key, value: value, timestampMillis: time + Int64(n))
        }
        // The five hops of a redemption, and the sixth of a coupon; each stage reads what the
        // one before wrote on its input topic.
        let routed = try core.run(.router, commands, at: time)
        let held = try core.run(.ledger, routed.filter { $0.topic == settings.inputsTopic }, at: time)
        let answered = try core.run(.stock, held.filter { $0.topic == settings.stockRequestsTopic }, at: time)
        let rerouted = try core.run(.router, answered.filter { $0.topic == settings.internalTopic }, at: time)
        let settled = try core.run(.ledger, rerouted.filter { $0.topic == settings.inputsTopic }, at: time)
        // Coupon requests come from either visit (a redemption with unlimited stock is settled on the first).
        let issued = try core.run(.coupons, (held + settled).filter { $0.topic == settings.couponRequestsTopic }, at: time)
        return ([routed, held, answered, rerouted, settled, issued], core.clocks)
    }
}

/// The membership topology's four stages as processors, fed records directly.
private struct CoreStages {
    enum Stage: Int { case router, ledger, stock, coupons }

    let processors: [StageProcessor]
    /// Each stage's time in `run`, both passes of the router and the ledger together.
    private(set) var clocks: [Duration] = [.zero, .zero, .zero, .zero]
    private var feeder: CoreStageFeeder

    init(settings: MembershipSettings, runtime: RuntimeSettings, partitions: Int, logger: Logger, catalogue: [Reward]) throws {
        let rewards = GlobalTableView()
        for reward in catalogue { rewards.apply(key: reward.id, value: reward.encoded()) }
        let topology = MembershipService.topology(settings, runtime: runtime)
        let deadLetters = DeadLetters(topic: settings.deadLettersTopic, service: "bench")
        processors = try topology.stages.map { stage in
            try stage.makeStageProcessor(StageContext(thread: 0, partitionCount: partitions, runtime: runtime, logger: logger,
                                                      deadLetters: deadLetters, globalTables: [settings.rewardsTopic: rewards]))
        }
        precondition(processors.count == 4, "the membership topology has four stages: router, ledger, stock, coupons")
        feeder = CoreStageFeeder(partitions: partitions, batch: runtime.maxBatchRecords)
    }

    mutating func resetClocks() { clocks = [.zero, .zero, .zero, .zero] }

    /// The records `stage` writes reading `records`, in batches; its time is added to its clock.
    mutating func run(_ stage: Stage, _ records: [ProducerRecord], at now: Int64) throws -> [ProducerRecord] {
        let input = records.map { feeder.consumed($0) }
        let (written, took) = try feeder.run(processors[stage.rawValue], input, context: ProcessingContext(nowMillis: now))
        clocks[stage.rawValue] += took
        return written
    }
}
