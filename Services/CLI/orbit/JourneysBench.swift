import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitCore
import OrbitKafka
import OrbitNotify
import OrbitRuntime
import Synchronization

/// `orbit bench journeys`: one clock tick's work for a million enrolments. The notify stage as the
/// runtime makes it (``StageProcessor``, in-memory stores), in this thread: users enter a journey
/// (a login, then a one-day wait), and one tick a day later ends every wait, sends each user the
/// next step's in-app message and writes the state changes, as a punctuation's batch does. The
/// reference, in the same run: a campaign to the same users on one tick, sending the same
/// template (the per-user work a tick already did before journeys). Prints the tick's time, users
/// advanced per second, the ratio to the campaign tick, and the process's resident memory with
/// every enrolment held.
struct JourneysBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "journeys",
                                                    abstract: "One clock tick advancing 1,000,000 enrolments (target: under 10 s), memory held, vs a campaign tick over the same users.")

    @Option(help: "Users enrolled.") var users = 1_000_000
    @Option(help: "Partitions (the stage's, shared by the threads' processors).") var partitions = 8
    @Option(help: "Stream threads (`processing.stream_threads`): processors that tick their own partitions at the same time (default: one per core, at most one per partition).")
    var threads: Int?

    func validate() throws {
        try OptionChecks.require(users, "users", in: OptionChecks.positive)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(threads, "threads", in: 1...64)
        if let threads, threads > partitions { throw ValidationError("--threads \(threads) is more than the \(partitions) partitions: a thread without a partition does nothing") }
    }

    /// The threads used: as asked, else one per core and at most one per partition.
    var threadCount: Int { threads ?? min(ProcessInfo.processInfo.activeProcessorCount, partitions) }

    func run() async throws {
        let document = try ConfigDocument.load(path: "deploy/config/notify.yaml", environment: ["ORBIT__NOTIFY__QUIET_HOURS": ""])
        let settings = try NotifySettings(document: document)
        let runtime = try RuntimeSettings(document: document, defaultServiceName: "bench", defaultHTTPPort: 0)
        let start = Int64(1_795_435_200_000)  // 2026-11-23T12:00:00Z
        let day: Int64 = 86_400_000
        let journey = Journey(id: "bench", version: 1, name: "bench", category: "account", entry: .trigger(.event, [FieldCondition(path: ["type"], values: ["login"])]),
                              steps: [.init(id: "pause", .wait(Journey.Wait(durationMillis: day))),
                                      .init(id: "hello", .send(template: "journey_onboarding_tips", channels: [.inApp], category: nil)),
                                      .init(id: "later", .wait(Journey.Wait(durationMillis: 7 * day)))])
        Output.line("orbit bench journeys: \(users) users in a journey (login, wait 1 day, in-app message, wait), \(partitions) partitions, \(threadCount) stream threads (a processor each, ticking its own partitions at once)")
        let journeyTick = try measure(settings: settings, runtime: runtime, start: start, tickAt: start + day + 60_000) { feed in
            for partition in 0..<partitions { try feed(.journey, "bench", JourneyRecord(journey: journey).encoded(), start, Int32(partition)) }
        } enrol: { i in
            (.event, UserEvent(id: "login-\(i)", userID: "user-\(i)", type: .login, timeMillis: start + 1000, properties: JSONObject()).encoded())
        }
        let campaign = Campaign(id: "bench", category: "account", channels: [.inApp], template: "journey_onboarding_tips",
                                startMillis: start + day, endMillis: start + 2 * day, audience: AudienceFilter())
        let campaignTick = try measure(settings: settings, runtime: runtime, start: start, tickAt: start + day + 60_000) { feed in
            for partition in 0..<partitions { try feed(.campaign, "bench", campaign.startCommand(), start, Int32(partition)) }
        } enrol: { i in
            (.contacts, Array(#"{"name":"User \#(i)"}"#.utf8))
        }
        Output.line(String(format: "  journey tick: %.2f s for %d users (%.0f users/s; %d outbox records, %d state changes); resident %.0f MB with every enrolment held (%.0f MB before any)",
                           journeyTick.seconds, users, Double(users) / journeyTick.seconds, journeyTick.outbox, journeyTick.changes,
                           Double(journeyTick.resident) / 1e6, Double(journeyTick.baseline) / 1e6))
        Output.line(String(format: "    of which the changelog (state changes encoded): %.2f s (the slowest thread's)", journeyTick.stateSeconds))
        Output.line(String(format: "  campaign tick (reference): %.2f s for %d users (%d outbox records)", campaignTick.seconds, users, campaignTick.outbox))
        Output.line(String(format: "  journey / campaign tick time: %.2f; target: a whole tick for %d enrolments under 10 s: %@",
                           journeyTick.seconds / campaignTick.seconds, users, journeyTick.seconds < 10 ? "met" : "NOT met"))
    }

    struct Measured {
        var seconds: Double
        var outbox: Int
        var changes: Int
        var resident: Int
        var baseline: Int
        /// Of ``seconds``, encoding the state changes (the changelog records).
        var stateSeconds: Double
    }

    /// Feeds `setup` and one input per user (`enrol`) through a fresh notify stage, then times one
    /// tick of every partition at `tickAt`, with its flush and state changes.
    private func measure(settings: NotifySettings, runtime: RuntimeSettings, start: Int64, tickAt: Int64,
                         setup: ((NotifyInput, String, [UInt8], Int64, Int32) throws -> Void) throws -> Void,
                         enrol: (Int) -> (NotifyInput, [UInt8])) throws -> Measured {
        let baseline = Memory.residentBytes()
        let topology = NotifyService.topology(settings, runtime: runtime, senders: ChannelSenders(senders: [:]))
        // One processor per stream thread, as the runtime makes them; thread t owns the
        // partitions p with p % threads == t.
        let threads = threadCount
        let stages = try (0..<threads).map { thread in
            try topology.stages[1].makeStageProcessor(StageContext(thread: thread, partitionCount: partitions, runtime: runtime, logger: Logger(label: "orbit.bench"),
                                                                   deadLetters: DeadLetters(topic: settings.deadLettersTopic, service: "bench"), globalTables: [:]))
        }
        var offsets = [Int64](repeating: 0, count: partitions)
        var outputs: [ProducerRecord] = []
        func feed(_ kind: NotifyInput, _ key: String, _ value: [UInt8], _ time: Int64, _ partition: Int32) throws {
            let record = ConsumerRecord(topic: settings.inputsTopic, partition: partition, offset: offsets[Int(partition)], key: Array(key.utf8), value: value,
                                        headers: [KafkaHeader(InputRouter<NotifyInput>.kindHeader, kind.rawValue)], timestampMillis: time)
            offsets[Int(partition)] += 1
            try stages[Int(partition) % threads].process(record, context: ProcessingContext(nowMillis: time), outputs: &outputs)
        }
        try setup(feed)
        for i in 0..<users {
            let (kind, value) = enrol(i)
            let key = "user-\(i)"
            try feed(kind, key, value, start + 1000, KeyPartitioner.partition(of: key, partitionCount: partitions))
            if (i + 1) % runtime.maxBatchRecords == 0 || i + 1 == users {
                for stage in stages {
                    try stage.flush(context: ProcessingContext(nowMillis: start), outputs: &outputs) { $0.removeAll() }
                    _ = stage.takeStateChanges()
                }
                outputs.removeAll(keepingCapacity: true)
            }
        }
        let resident = Memory.residentBytes()
        // Each thread ticks its own partitions, all at once (each touches only its processor).
        let results = ThreadResults(threads)
        let processors = ProcessorsByThread(stages)
        let tickOffsets = offsets
        let began = ContinuousClock.now
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var measured = (outbox: 0, changes: 0, stateSeconds: 0.0, error: nil as Error?)
            do {
                let stage = processors.stages[thread]
                var outputs: [ProducerRecord] = []
                for partition in stride(from: thread, to: partitions, by: threads) {
                    let tick = ClockTick.record(topic: settings.inputsTopic, partition: Int32(partition), at: tickAt)
                    let record = ConsumerRecord(topic: settings.inputsTopic, partition: Int32(partition), offset: tickOffsets[partition], key: tick.key, value: tick.value,
                                                headers: tick.headers, timestampMillis: tickAt)
                    try stage.process(record, context: ProcessingContext(nowMillis: tickAt), outputs: &outputs)
                    try stage.flush(context: ProcessingContext(nowMillis: tickAt), outputs: &outputs) { part in
                        measured.outbox += part.count { $0.topic == settings.notificationsTopic }
                        part.removeAll()
                    }
                    measured.outbox += outputs.count { $0.topic == settings.notificationsTopic }
                    outputs.removeAll(keepingCapacity: true)
                    let encoding = ContinuousClock.now
                    measured.changes += stage.takeStateChanges().count
                    measured.stateSeconds += (ContinuousClock.now - encoding).seconds
                }
            } catch {
                measured.error = error
            }
            results.set(thread, measured)
        }
        let all = results.values
        if let error = all.compactMap(\.error).first { throw error }
        let outbox = all.reduce(0) { $0 + $1.outbox }, changes = all.reduce(0) { $0 + $1.changes }
        let stateSeconds = all.map(\.stateSeconds).max() ?? 0
        let seconds = (ContinuousClock.now - began).seconds
        return Measured(seconds: seconds, outbox: outbox, changes: changes, resident: resident, baseline: baseline, stateSeconds: stateSeconds)
    }
}

/// Each thread's figures from a tick run on several threads at once: thread t writes slot t only.
private final class ThreadResults: Sendable {
    typealias Figures = (outbox: Int, changes: Int, stateSeconds: Double, error: Error?)
    private let slots: Mutex<[Figures]>
    init(_ count: Int) { slots = Mutex([Figures](repeating: (0, 0, 0, nil), count: count)) }
    func set(_ thread: Int, _ figures: Figures) { slots.withLock { $0[thread] = figures } }
    var values: [Figures] { slots.withLock { $0 } }
}

/// The stream threads' processors, handed to the threads of one tick.
// @unchecked Sendable: thread t uses `stages[t]` only (the processors are disjoint, each made
// for its own stream thread as the runtime makes them), the array is never mutated after init,
// and `DispatchQueue.concurrentPerform` returns only after every thread has finished, so no
// processor is touched by two threads or after the tick.
private final class ProcessorsByThread: @unchecked Sendable {
    let stages: [StageProcessor]
    init(_ stages: [StageProcessor]) { self.stages = stages }
}
