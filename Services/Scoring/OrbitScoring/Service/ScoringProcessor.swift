import Foundation
import Logging
import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// The scorer: validated events (and referral credits from other partitions) in; user state kept
/// in a changelog-backed store; profiles, segment changes and referral credits out.
///
/// - One profile per user touched per batch (coalesced at `flush`), evaluated on the current day.
/// - Every punctuation publishes this instance's partitions' RFM sketches and reads everyone's; when
///   the global thresholds or the day change, every owned user is re-evaluated and changed profiles
///   are published.
public final class ScoringProcessor: RecordProcessor {
    let settings: ScoringSettings
    let evaluator: ProfileEvaluator
    let store: ChangelogStore
    let logger: Logger
    /// Epoch milliseconds "now" for evaluation (fixed in tests, the wall clock otherwise).
    let now: @Sendable () -> Int64
    private let makeTable: () throws -> GlobalTable
    private var table: GlobalTable?
    private var tableVersion = -1
    private var dirty: [Int32: Set<String>] = [:]
    private(set) public var thresholds: PopulationThresholds
    private var evaluatedDay: Int32 = .min

    private let eventsApplied = Counter(label: "orbit_scorer_events_applied_total")
    private let duplicatesSkipped = Counter(label: "orbit_scorer_replays_skipped_total")
    private let undecodable = Counter(label: "orbit_scorer_undecodable_total")
    private let usersGauge = Gauge(label: "orbit_scorer_users")

    /// - Parameters:
    ///   - now: the clock (overridden by `scoring.fixed_now`); tests inject one to move time.
    ///   - sketchTable: how to open the shared sketches topic (tests inject one without Kafka).
    public init(settings: ScoringSettings, kafka: KafkaConfiguration, logger: Logger,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
                sketchTable: (() throws -> GlobalTable)? = nil) {
        self.settings = settings
        self.evaluator = ProfileEvaluator(policy: settings.policy)
        self.store = ChangelogStore(changelogTopic: settings.stateChangelogTopic)
        self.logger = logger
        if let fixed = settings.fixedNowMillis {
            self.now = { fixed }
        } else {
            self.now = now
        }
        self.thresholds = PopulationThresholds(rfm: settings.policy.rfmThresholds, superUserSpendMinor: nil)
        let topic = settings.sketchesTopic
        self.makeTable = sketchTable ?? { try GlobalTable(kafka: kafka, topic: topic, logger: logger) }
    }

    var today: Int32 { UserState.day(now()) }

    // MARK: Partitions

    public func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {
        guard !(try store.restoreNewlyAssigned(partitions, reader: restorer, logger: logger, noun: "users")).isEmpty else { return }
        usersGauge.record(store.count)
        evaluatedDay = .min  // re-evaluate at the next punctuation
    }

    public func partitionsRevoked(_ partitions: [TopicPartition]) {
        for partition in partitions where partition.topic == settings.inputTopic {
            store.drop(partition.partition)
            dirty[partition.partition] = nil
        }
        usersGauge.record(store.count)
    }

    // MARK: Records

    public func process(_ record: ConsumerRecord, outputs: inout [ProducerRecord]) {
        guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }), let value = record.value else {
            undecodable.increment()
            return
        }
        var state = load(record.partition, key)
        var credits: [ReferralCredit] = []
        if record.topic == settings.inputTopic {
            guard let event = try? UserEvent.decode(value), event.userID == key else {
                undecodable.increment()
                logger.warning("skipping an undecodable record at \(record.topicPartition)@\(record.offset)")
                return
            }
            guard !state.alreadyApplied(input: 0, offset: record.offset, id: event.id) else { duplicatesSkipped.increment(); return }
            credits = state.apply(event, policy: settings.policy)
        } else {
            guard let (credit, sender) = ReferralCredit.decode(value, target: key) else {
                undecodable.increment()
                return
            }
            guard !state.alreadyApplied(input: 1, offset: record.offset, id: credit.id) else { duplicatesSkipped.increment(); return }
            if state.isEmpty { state.firstSeenDay = today }
            credits = state.apply(credit, sender: sender)
        }
        eventsApplied.increment()
        for credit in credits {
            outputs.append(ProducerRecord(topic: settings.referralCreditsTopic, key: Array(credit.target.utf8), value: credit.encoded(sender: key)))
        }
        store.put(record.partition, key, state.encoded())
        dirty[record.partition, default: []].insert(key)
    }

    private func load(_ partition: Int32, _ key: String) -> UserState {
        guard let bytes = store.get(partition, key) else { return UserState() }
        do {
            return try UserState(decoding: bytes)
        } catch {
            logger.error("state of \(key) could not be read (\(error)); starting it afresh")
            return UserState()
        }
    }

    public func flush(outputs: inout [ProducerRecord]) {
        let day = today
        for (partition, keys) in dirty.sorted(by: { $0.key < $1.key }) {
            for key in keys.sorted() { evaluate(partition, key, day: day, outputs: &outputs) }
        }
        dirty.removeAll(keepingCapacity: true)
    }

    private func evaluate(_ partition: Int32, _ key: String, day: Int32, outputs: inout [ProducerRecord]) {
        var state = load(partition, key)
        let before = state
        let (profile, changes) = evaluator.evaluate(&state, userID: key, today: day, thresholds: thresholds)
        let bytes = profile.encoded()
        let hash = StableHash.fnv1a(String(decoding: bytes, as: UTF8.self))
        if hash != state.lastProfileHash {
            state.lastProfileHash = hash
            outputs.append(ProducerRecord(topic: settings.profilesTopic, key: Array(key.utf8), value: bytes))
        }
        for change in changes {
            outputs.append(ProducerRecord(topic: settings.segmentChangesTopic, key: Array(key.utf8), value: change.encoded()))
        }
        if state != before { store.put(partition, key, state.encoded()) }
    }

    // MARK: Time

    public func punctuate(nowMillis: Int64, outputs: inout [ProducerRecord]) {
        // 1. Publish this instance's partitions' distributions.
        var mine = PopulationSketches()
        let day = today
        for partition in store.ownedPartitions {
            var sketches = PopulationSketches()
            for (_, value) in store.entries(partition) {
                guard let state = try? UserState(decoding: value) else { continue }
                let window = state.window(today: day, days: settings.policy.rfmWindowDays)
                sketches.add(values: RFMValues(recencyDays: state.lastPurchaseDay.map { Int(max(0, day - $0)) }, frequency: window.purchases, monetaryMinor: window.netMinor))
            }
            mine.merge(sketches)
            outputs.append(ProducerRecord(topic: settings.sketchesTopic, key: Array("partition-\(partition)".utf8), value: sketches.encoded()))
        }
        // 2. Read everyone's, and apply the global thresholds.
        do {
            if table == nil { table = try makeTable() }
            try table!.refresh()
        } catch {
            logger.warning("cannot read \(settings.sketchesTopic): \(error); keeping the current thresholds")
        }
        var changedThresholds = false
        if let table, table.version != tableVersion {
            tableVersion = table.version
            var global = PopulationSketches()
            for (_, value) in table.values.sorted(by: { $0.key < $1.key }) {
                if let sketches = PopulationSketches.decode(value) { global.merge(sketches) }
            }
            let next = global.thresholds(settings.policy)
            changedThresholds = next != thresholds
            thresholds = next
            if changedThresholds {
                let rfm = next.rfm
                logger.info("thresholds from \(global.buyers) buyers in \(table.values.count) partitions: recency_days \(rfm.recencyDays) frequency \(rfm.frequency) monetary_minor \(rfm.monetaryMinor) super_user_spend \(next.superUserSpendMinor.map { String($0) } ?? "unknown")")
            }
        }
        // 3. Re-evaluate everyone when the day or the thresholds changed.
        guard changedThresholds || day != evaluatedDay else { return }
        evaluatedDay = day
        for partition in store.ownedPartitions {
            for (key, _) in store.entries(partition) { evaluate(partition, key, day: day, outputs: &outputs) }
        }
        dirty.removeAll(keepingCapacity: true)
    }

    public func takeStateChanges() -> [ProducerRecord] {
        usersGauge.record(store.count)
        return store.takeChanges()
    }
}

/// Wires the scorer into the runtime.
public enum ScorerService {
    public static func makePipeline(runtime: RuntimeSettings, scoring: ScoringSettings, logger: Logger) -> StreamPipeline {
        StreamPipeline(
            settings: .init(groupID: scoring.groupID, inputTopics: [scoring.inputTopic, scoring.referralCreditsTopic], runtime: runtime,
                            transactionalID: ProcessInfoInstance.transactionalID(service: runtime.serviceName),
                            punctuationInterval: scoring.evaluationInterval),
            processor: ScoringProcessor(settings: scoring, kafka: runtime.kafka, logger: logger),
            logger: logger)
    }

    /// The state changelog and the referral repartition topic are partitioned like the input:
    /// partition N of each belongs to the same users.
    public static func checkTopics(runtime: RuntimeSettings, scoring: ScoringSettings, logger: Logger) throws {
        let admin = try KafkaAdmin(configuration: runtime.kafka, logger: logger)
        let input = try admin.partitionCount(of: scoring.inputTopic)
        for topic in [scoring.referralCreditsTopic, scoring.stateChangelogTopic] {
            let count = try admin.partitionCount(of: topic)
            guard count == input else {
                throw KafkaError.configuration("\(topic) has \(count) partitions but \(scoring.inputTopic) has \(input); they must be equal")
            }
        }
        _ = try admin.partitionCount(of: scoring.sketchesTopic)
    }
}
