import Foundation
import Logging
import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// What the scorer's repartition topic carries, beside referral credits: events that arrived on a
/// partition their key does not belong to (a producer that hashed differently), forwarded once to
/// where the key lives.
public enum ScorerInput: String, InputKind {
    case referralCredit = "referral_credit"
    case event
    /// A data-protection request, forwarded from `orbit.privacy-requests` to its user's partition.
    case privacyRequest = "privacy_request"
    /// A preferences record (for its consents), forwarded from `orbit.user-preferences`.
    case preferences
    /// A user's attributes, checked against the declarations where they came in and forwarded
    /// with the accepted properties only.
    case attributes
    /// A level change or paid-plan change, forwarded from `orbit.member-events`.
    case memberFacts = "member_facts"
}

/// The scorer: validated events (and referral credits from other partitions) in; user state kept
/// in a typed changelog-backed store; profiles, segment changes and referral credits out.
///
/// - One profile per user touched per batch (coalesced at `flush`), evaluated on the runtime
///   clock's day.
/// - Every punctuation publishes this instance's partitions' RFM sketches; the sketches topic is a
///   global table the runtime feeds, and when the global thresholds or the day change, every owned
///   user is re-evaluated and changed profiles are published.
/// - An event whose key belongs to another partition (by ``KeyPartitioner``) is forwarded there
///   through the repartition topic, so a user's state is never split.
public final class ScoringProcessor: RecordProcessor {
    let settings: ScoringSettings
    let privacy: PrivacySettings
    /// The rules with the churn models in use: the configured ones, or the deployed refit.
    private(set) var evaluator: ProfileEvaluator
    public let store: KeyedStore<UserState>
    let logger: Logger
    let deadLetters: DeadLetters
    /// The input topic's partition count, where keys are placed.
    let partitionCount: Int
    public let sketches: GlobalTableView
    private var tableVersion = -1
    private(set) public var thresholds: PopulationThresholds
    private var evaluatedDay: Int32 = .min
    /// The input partitions this instance owns.
    private var owned = Set<Int32>()
    /// Users re-evaluated per part of a re-evaluation pass (``reevaluationPart(maxBatchRecords:)``).
    let reevaluationPart: Int

    /// Users per part of a re-evaluation pass: a batch's worth (`max_batch_records`), and at most
    /// 5,000. A part publishes a profile, segment changes and a changelog record per user, several
    /// times what a batch of events writes, so parts stay small (measured: 5M users on disk, parts
    /// of 50,000 peaked near 400 MB more than parts of 5,000, which take no longer in all).
    public static func reevaluationPart(maxBatchRecords: Int) -> Int { max(1, min(maxBatchRecords, 5000)) }
    /// A re-evaluation of every owned user that is under way, a part per batch: the day it
    /// evaluates, the partitions left, and the key the current one resumes after.
    private var reevaluation: (day: Int32, partitions: [Int32], after: String?)?
    /// Thresholds changed during a pass: another pass follows it.
    private var reevaluationDue = false

    private let eventsApplied = Counter(label: "orbit_scorer_events_applied_total")
    private let duplicatesSkipped = Counter(label: "orbit_scorer_replays_skipped_total")
    private let forwarded = Counter(label: "orbit_scorer_events_forwarded_total")
    private let usersGauge = Gauge(label: "orbit_scorer_users")
    private let census = PopulationCensus()
    /// The operators' segments: the table, the version last read, the usable definitions sorted by
    /// id, and the records already dead-lettered (by id, their bytes) so each is reported once.
    let definitions: GlobalTableView?
    private var definitionsVersion = -1
    private(set) public var segments: [SegmentDefinition] = []
    /// Segments whose record is a tombstone: their members leave.
    private var retiredSegments: Set<String> = []
    private var reportedUnusable: [String: [UInt8]] = [:]
    /// The deployed churn models (`orbit.models`): the table, the version last read, the record in
    /// use (nil: the configured models), and the last record dead-lettered (each reported once).
    let models: GlobalTableView?
    private var modelsVersion = -1
    private var modelRecordInUse: [UInt8]?
    private var reportedUnusableModel: [UInt8]?
    /// The day and thresholds of the last batch's evaluation, for queries answered on other threads.
    private let lastEvaluation: SharedValue<(day: Int32, thresholds: PopulationThresholds, evaluator: ProfileEvaluator)>

    /// - Parameters:
    ///   - partitionCount: the input's partition count (``CoPartitioning/check(_:kafka:logger:)``).
    ///   - sketches: the global table of every partition's sketches, fed by the pipeline.
    ///   - definitions: the global table of the operators' segment definitions (nil: none).
    ///   - models: the global table of the deployed churn models (nil: the configured ones).
    public init(settings: ScoringSettings, partitionCount: Int, sketches: GlobalTableView, deadLetters: DeadLetters, logger: Logger,
                privacy: PrivacySettings = PrivacySettings(), stores: StoreMaker = .memory,
                reevaluationPart: Int = ScoringProcessor.reevaluationPart(maxBatchRecords: .max), definitions: GlobalTableView? = nil,
                models: GlobalTableView? = nil) {
        self.settings = settings
        self.definitions = definitions
        self.models = models
        self.reevaluationPart = max(1, reevaluationPart)
        self.privacy = privacy
        self.evaluator = ProfileEvaluator(policy: settings.policy)
        self.store = stores.store(settings.stateChangelogTopic, cachePolicy: .perBatch)
        self.logger = logger
        self.partitionCount = partitionCount
        self.sketches = sketches
        self.deadLetters = deadLetters
        self.thresholds = PopulationThresholds(rfm: settings.policy.rfmThresholds, superUserSpendMinor: nil)
        self.lastEvaluation = SharedValue((UserState.day(settings.processor.clock()), thresholds, evaluator))
    }

    // MARK: Queries

    /// `GET /v1/users/{id}`: the user's profile as it would be published now (the last batch's
    /// state, evaluated with the last batch's day and thresholds), the same JSON as `orbit.profiles`.
    public var queries: [KeyQuery] {
        let reader = store.reader(partitionCount: partitionCount)
        let lastEvaluation = self.lastEvaluation
        return [KeyQuery(prefix: "/v1/users/", noun: "profile", topic: settings.inputTopic, partitionCount: partitionCount) { key in
            reader.answer(key) { state in
                let (day, thresholds, evaluator) = lastEvaluation.value
                if state.profilingWithheld { return UserProfile.withheld(userID: key, evaluatedDay: day) }
                guard !state.isEmpty else { return nil }
                var state = state
                return evaluator.evaluate(&state, userID: key, today: day, thresholds: thresholds).0.encoded()
            }
        }]
    }

    // MARK: Partitions

    // The store's partitions are restored (before this is called) and dropped by the runtime.
    public func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {
        let added = Set(partitions.filter { $0.topic == settings.inputTopic }.map(\.partition)).subtracting(owned)
        guard !added.isEmpty else { return }
        owned.formUnion(added)
        usersGauge.record(store.count)
        evaluatedDay = .min  // re-evaluate at the next punctuation
    }

    public func partitionsRevoked(_ partitions: [TopicPartition]) {
        for partition in partitions where partition.topic == settings.inputTopic {
            owned.remove(partition.partition)
            census.revoked(partition.partition)
        }
    }

    // MARK: Records

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        if definitionsVersion < 0 { _ = refreshSegments(outputs: &outputs) }  // the first batch: the table as the pipeline read it
        if modelsVersion < 0 { _ = refreshModels(outputs: &outputs) }
        if record.topic != settings.inputTopic {
            if record.topic == settings.preferencesTopic { return forward(record, as: .preferences, outputs: &outputs) }
            if record.topic == privacy.requestsTopic { return forward(record, as: .privacyRequest, outputs: &outputs) }
            if record.topic == settings.attributesTopic { return forwardAttributes(record, outputs: &outputs) }
            if record.topic == settings.memberEventsTopic { return forwardMemberFacts(record, outputs: &outputs) }
            switch InputRouter<ScorerInput>.kind(of: record) {
            case .preferences?: return try applyPreferences(record, outputs: &outputs)
            case .attributes?: return try applyAttributes(record, outputs: &outputs)
            case .memberFacts?: return try applyMemberFacts(record, outputs: &outputs)
            case .privacyRequest?:  // the runtime erases (erasesFrom): one that gets here is not read
                return outputs.append(deadLetters.privacyRequestNotErased(record))
            default: break
            }
        }
        guard let keyBytes = record.key, !keyBytes.isEmpty, let value = record.value else {
            outputs.append(deadLetters.record(for: record, record.key == nil ? .missingKey : .undecodableRecord, "a scorer input needs the user id as key and a value"))
            return
        }
        let kind: ScorerInput = record.topic == settings.inputTopic ? .event : (InputRouter<ScorerInput>.kind(of: record) ?? .referralCredit)
        let placed = KeyPartitioner.partition(of: keyBytes, partitionCount: partitionCount)
        if kind == .event && placed != record.partition {
            // Not where this user lives: forward it there once, through the repartition topic.
            forwarded.increment()
            outputs.append(ProducerRecord(topic: settings.referralCreditsTopic, partition: placed, key: keyBytes, value: value,
                                          headers: [KafkaHeader(InputRouter<ScorerInput>.kindHeader, ScorerInput.event.rawValue)], timestampMillis: record.timestampMillis))
            return
        }
        let key = String(decoding: keyBytes, as: UTF8.self)
        let inputIndex = record.topic == settings.inputTopic ? 0 : 1
        var credits: [ReferralCredit] = []
        let applied: Bool
        switch kind {
        case .event:
            let event: UserEvent
            do { event = try UserEvent.decode(value) } catch {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, "not a valid-event record: \(error)"))
                return
            }
            guard event.userID == key else {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, field: "user_id", "user_id \(event.userID) does not match the record key"))
                return
            }
            applied = try store.update(record.partition, key, initial: UserState.init) { state in
                guard !state.alreadyApplied(input: inputIndex, offset: record.offset, id: event.id) else { return false }
                credits = state.apply(event, policy: settings.policy)
                return true
            }
        case .referralCredit:
            guard let (credit, sender) = ReferralCredit.decode(value, target: key) else {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, "not a referral credit"))
                return
            }
            // Totals and revocations are idempotent (the largest totals win), so they need no replay
            // guard; a referral is applied once.
            let idempotent = credit.kind == .refereeTotals || credit.kind == .revoked
            applied = try store.update(record.partition, key, initial: UserState.init) { state in
                if !idempotent, state.alreadyApplied(input: inputIndex, offset: record.offset, id: credit.id) { return false }
                // A user first known through a credit is first seen on the day of the referral that
                // caused it, never on the day the credit happened to be processed.
                if state.isEmpty { state.firstSeenDay = UserState.day(credit.timeMillis) }
                credits = state.apply(credit, sender: sender)
                return true
            }
        case .privacyRequest, .preferences, .attributes, .memberFacts:
            return  // handled above, before the value is required
        }
        guard applied else { duplicatesSkipped.increment(); return }
        eventsApplied.increment()
        for credit in credits {
            outputs.append(ProducerRecord(topic: settings.referralCreditsTopic, key: Array(credit.target.utf8), value: credit.encoded(sender: key),
                                          headers: [KafkaHeader(InputRouter<ScorerInput>.kindHeader, ScorerInput.referralCredit.rawValue)]))
        }
    }

    // MARK: Consents and erasure

    /// Sends a record of another topic (privacy requests, preferences) to its key's partition
    /// through the repartition topic: it is applied where the user's state lives, whatever
    /// partitioning its producer used and however many partitions its topic has.
    private func forward(_ record: ConsumerRecord, as kind: ScorerInput, outputs: inout [ProducerRecord]) {
        guard let key = record.key, !key.isEmpty else {
            outputs.append(deadLetters.record(for: record, .missingKey, "a \(kind.rawValue) record needs the user id as its key"))
            return
        }
        outputs.append(ProducerRecord(topic: settings.referralCreditsTopic, partition: KeyPartitioner.partition(of: key, partitionCount: partitionCount),
                                      key: key, value: record.value, headers: [KafkaHeader(InputRouter<ScorerInput>.kindHeader, kind.rawValue)],
                                      timestampMillis: record.timestampMillis))
    }

    /// A user's consents changed: profiling withdrawn (or given back) takes effect at this batch's
    /// flush. Last writer wins, so a replay ends in the same place.
    private func applyPreferences(_ record: ConsumerRecord, outputs: inout [ProducerRecord]) throws {
        guard let keyBytes = record.key, !keyBytes.isEmpty else { return }
        var consents = Consents()
        if let value = record.value {  // a tombstone withdraws nothing
            guard let object = (try? JSONParser.parse(value))?.objectValue else {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, "a preferences record is a JSON object"))
                return
            }
            do { consents = try Consents.of(preferences: object) } catch {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, field: "consents", error.description))
                return
            }
        }
        let withheld = !consents.allows(.profiling)
        try store.update(record.partition, String(decoding: keyBytes, as: UTF8.self), initial: UserState.init) { state in
            guard state.profilingWithheld != withheld else { return false }
            state.profilingWithheld = withheld
            return true
        }
    }

    // MARK: The portrait's inputs

    /// Checks an attributes record where it came in (so a dead letter names its topic, partition
    /// and offset): each property not declared or not of its type is dead-lettered on its own,
    /// and the accepted ones go to the user's partition. A tombstone clears the user's attributes.
    private func forwardAttributes(_ record: ConsumerRecord, outputs: inout [ProducerRecord]) {
        guard let key = record.key, !key.isEmpty else {
            outputs.append(deadLetters.record(for: record, .missingKey, "an attributes record needs the user id as its key"))
            return
        }
        var normalised: [UInt8]?
        if let value = record.value {
            guard let attributes = acceptedAttributes(record, value, outputs: &outputs) else { return }
            normalised = UserAttribute.encoded(attributes)
        }
        outputs.append(ProducerRecord(topic: settings.referralCreditsTopic, partition: KeyPartitioner.partition(of: key, partitionCount: partitionCount),
                                      key: key, value: normalised, headers: [KafkaHeader(InputRouter<ScorerInput>.kindHeader, ScorerInput.attributes.rawValue)],
                                      timestampMillis: record.timestampMillis))
    }

    /// The accepted attributes replace the user's (the topic is compacted: a record is the whole set).
    private func applyAttributes(_ record: ConsumerRecord, outputs: inout [ProducerRecord]) throws {
        guard let keyBytes = record.key, !keyBytes.isEmpty else { return }
        var attributes: [UserAttribute] = []
        if let value = record.value {
            // Checked where it came in; a property refused here was declared differently there
            // (scorers with different configurations during a rollout).
            guard let accepted = acceptedAttributes(record, value, outputs: &outputs) else { return }
            attributes = accepted
        }
        try store.update(record.partition, String(decoding: keyBytes, as: UTF8.self), initial: UserState.init) { state in
            guard state.attributes != attributes else { return false }
            state.attributes = attributes
            return true
        }
    }

    /// The properties of an attributes record that the declarations accept; each refused one is
    /// dead-lettered with its reason, and a record that cannot be read at all is dead-lettered
    /// whole (nil).
    private func acceptedAttributes(_ record: ConsumerRecord, _ value: [UInt8], outputs: inout [ProducerRecord]) -> [UserAttribute]? {
        switch settings.policy.attributes.read(value) {
        case .failure(let unusable):
            outputs.append(deadLetters.record(for: record, .undecodableRecord, field: unusable.field, unusable.message))
            return nil
        case .success(let (accepted, rejected)):
            for reason in rejected {
                outputs.append(deadLetters.record(for: record, .invalidValue, field: "attributes.\(reason.field)", "attribute \(reason.field) not applied: \(reason.message)"))
            }
            return accepted
        }
    }

    /// Forwards membership's level and paid-plan changes to the user's partition; its other kinds
    /// say nothing the scorer keeps.
    private func forwardMemberFacts(_ record: ConsumerRecord, outputs: inout [ProducerRecord]) {
        guard let key = record.key, !key.isEmpty, let value = record.value else {
            outputs.append(deadLetters.record(for: record, record.key == nil ? .missingKey : .undecodableRecord, "a member event needs the user id as key and a value"))
            return
        }
        guard let object = (try? JSONParser.parse(value))?.objectValue else {
            outputs.append(deadLetters.record(for: record, .undecodableRecord, "a member event is a JSON object"))
            return
        }
        guard MemberFacts.change(object) != nil else { return }
        forward(record, as: .memberFacts, outputs: &outputs)
    }

    private func applyMemberFacts(_ record: ConsumerRecord, outputs: inout [ProducerRecord]) throws {
        guard let keyBytes = record.key, !keyBytes.isEmpty, let value = record.value,
              let object = (try? JSONParser.parse(value))?.objectValue, let change = MemberFacts.change(object) else {
            return outputs.append(deadLetters.record(for: record, .undecodableRecord, "not a level or paid-plan change"))
        }
        try store.update(record.partition, String(decoding: keyBytes, as: UTF8.self), initial: UserState.init) { state in
            state.member.apply(level: change.level, paid: change.paid, timeMillis: change.timeMillis)
        }
    }

    /// The scorer's part of erasing a user (the runtime deletes the state and writes the receipt):
    /// the profile's tombstone on the compacted profiles topic.
    public func erase(_ userID: String, partition: Int32, erasure: inout Erasure, outputs: inout [ProducerRecord]) throws {
        if try store.get(partition, userID) != nil {
            erasure.erased("user state: activity, purchases, RFM inputs, engagement, referrals, attributes, derived tags")
        } else {
            erasure.note("no user state was held")
        }
        erasure.tombstone(settings.profilesTopic, key: userID, into: &outputs)
        erasure.tombstone(settings.attributesTopic, key: userID, into: &outputs)
        erasure.note("referrers keep referral totals under a hash of the referee's id, not the id")
    }

    /// One profile per user touched, handed over whenever ``RecordProcessor/outputPart`` outputs or
    /// more are held: a batch's profiles and segment changes were its largest allocation
    /// (measured: 126 of 220 MB live at the peak with batches of 50,000 events), and made the heap
    /// grow page by page each batch.
    public func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws {
        // Definitions changed since the last batch: the next batch's users are evaluated with them,
        // and everyone at the next punctuation.
        if refreshSegments(outputs: &outputs) { reevaluationDue = true }
        let day = UserState.day(context.nowMillis)
        lastEvaluation.value = (day, thresholds, evaluator)
        try store.updateChanged { _, key, state in
            _ = evaluate(&state, key, day: day, outputs: &outputs)
            if outputs.count >= Self.outputPart { try deliver(&outputs) }
        }
    }

    /// Evaluates one user, appending its profile when it changed and its segment changes; true
    /// when the state changed. Evaluation changes only what was published (the profile's hash and
    /// the last segment, stage, tier and super-user flag), so only that is compared: a copy of the
    /// whole state per user was a measured cost.
    private func evaluate(_ state: inout UserState, _ key: String, day: Int32, outputs: inout [ProducerRecord]) -> Bool {
        // Known only by what other systems said (attributes, membership, preferences): no profile
        // until an event.
        guard !state.isEmpty else { return false }
        if state.profilingWithheld { return withhold(&state, key, day: day, outputs: &outputs) }
        let before = state.published
        let (profile, changes) = evaluator.evaluate(&state, userID: key, today: day, thresholds: thresholds, segments: segments, retired: retiredSegments)
        let bytes = profile.encoded()
        let hash = StableHash.content(bytes)
        let keyBytes = Array(key.utf8)
        if hash != state.lastProfileHash {
            state.lastProfileHash = hash
            outputs.append(ProducerRecord(topic: settings.profilesTopic, key: keyBytes, value: bytes))
        }
        for change in changes {
            outputs.append(ProducerRecord(topic: settings.segmentChangesTopic, key: keyBytes, value: change.encoded()))
        }
        return state.published != before
    }

    /// The profile of a user without consent to profiling: the reason, nothing evaluated.
    private func withhold(_ state: inout UserState, _ key: String, day: Int32, outputs: inout [ProducerRecord]) -> Bool {
        let bytes = UserProfile.withheld(userID: key, evaluatedDay: day)
        let hash = StableHash.content(bytes)
        guard hash != state.lastProfileHash else { return false }
        state.lastProfileHash = hash
        outputs.append(ProducerRecord(topic: settings.profilesTopic, key: Array(key.utf8), value: bytes))
        return true
    }

    // MARK: Time

    public func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        let day = UserState.day(context.nowMillis)
        // 1. Publish this instance's partitions' distributions.
        for partition in store.ownedPartitions {
            var partitionSketches = PopulationSketches()
            var counts = PopulationCensus.Counts()
            try store.forEach(partition) { _, state in
                guard !state.isEmpty else { return }  // attributes or preferences only: not a user yet
                counts.add(state)
                guard !state.profilingWithheld else { return }  // no consent: not part of anyone's thresholds either
                let window = state.window(today: day, days: settings.policy.rfmWindowDays)
                partitionSketches.add(values: RFMValues(recencyDays: state.lastPurchaseDay.map { Int(max(0, day - $0)) }, frequency: window.purchases, monetaryMinor: window.netMinor))
            }
            census.record(counts, partition: partition)
            outputs.append(ProducerRecord(topic: settings.sketchesTopic, key: Array("partition-\(partition)".utf8), value: partitionSketches.encoded()))
            outputs.append(ProducerRecord(topic: settings.segmentCensusTopic, key: Array("partition-\(partition)".utf8),
                                          value: counts.encoded(partition: partition, time: context.nowMillis, defined: segments.map(\.id))))
        }
        // 2. Apply the global thresholds from everyone's sketches (the table the pipeline feeds),
        //    and the operators' segment definitions.
        let changedSegments = refreshSegments(outputs: &outputs)
        let changedModels = refreshModels(outputs: &outputs)
        var changedThresholds = false
        let table = sketches.snapshot
        if table.version != tableVersion {
            tableVersion = table.version
            var global = PopulationSketches()
            for (_, value) in table.values.sorted(by: { $0.key < $1.key }) {
                if let decoded = PopulationSketches.decode(value) { global.merge(decoded) }
            }
            let next = global.thresholds(settings.policy)
            changedThresholds = next != thresholds
            thresholds = next
            if changedThresholds {
                let rfm = next.rfm
                logger.info("thresholds from \(global.buyers) buyers in \(table.values.count) partitions: recency_days \(rfm.recencyDays) frequency \(rfm.frequency) monetary_minor \(rfm.monetaryMinor) super_user_spend \(next.superUserSpendMinor.map { String($0) } ?? "unknown")")
            }
        }
        // 3. Re-evaluate everyone when the day or the thresholds changed: a pass that goes a part
        //    of users at a time, so millions of users never put their profiles and changelog
        //    records in one batch. A new day (or new partitions) starts the pass over at once.
        //    New thresholds during a pass apply to the rest of it, and one more pass follows it
        //    for the users before: restarting instead could keep the last partitions from ever
        //    being reached, since thresholds can change at every punctuation.
        let dayChanged = day != evaluatedDay
        if changedThresholds || dayChanged || changedSegments || changedModels { reevaluationDue = true }
        evaluatedDay = day
        guard reevaluationDue, reevaluation == nil || dayChanged else { return }
        startReevaluation(day: day)
        try continuePunctuation(context: context, outputs: &outputs)
    }

    /// Reads the segment definitions table when it changed: a definition that cannot be used is
    /// dead-lettered once (for those bytes) and its last usable version, if any, stays; a
    /// tombstone retires one. True when the usable definitions changed (everyone is then
    /// re-evaluated, entering and leaving segments).
    func refreshSegments(outputs: inout [ProducerRecord]) -> Bool {
        guard let definitions else { return false }
        let table = definitions.snapshot
        guard table.version != definitionsVersion else { return false }
        definitionsVersion = table.version
        var usable: [String: SegmentDefinition] = [:]
        let previous = Dictionary(uniqueKeysWithValues: segments.map { ($0.id, $0) })
        for (key, bytes) in table.values.sorted(by: { $0.key < $1.key }) {
            do {
                usable[key] = try SegmentDefinition.decode(key: key, bytes, attributes: settings.policy.attributes)
            } catch {
                if let kept = previous[key] { usable[key] = kept }
                guard reportedUnusable[key] != bytes else { continue }
                reportedUnusable[key] = bytes
                let record = ConsumerRecord(topic: settings.segmentDefinitionsTopic, partition: 0, offset: -1, key: Array(key.utf8), value: bytes, headers: [], timestampMillis: nil)
                outputs.append(deadLetters.record(for: record, .invalidValue, field: error.field,
                                                  "segment \(key) is not used\(previous[key] == nil ? "" : " (its previous definition stays)"): \(error.message)"))
            }
        }
        let next = usable.values.sorted { $0.id < $1.id }.prefix(SegmentDefinition.maxDefinitions).map { $0 }
        let retired = table.deleted
        guard next != segments || retired != retiredSegments else { return false }
        retiredSegments = retired
        logger.info("segments: \(next.count) defined (\(next.map(\.id).joined(separator: ", "))); every user is re-evaluated")
        segments = next
        return true
    }

    /// Reads the deployed churn models when the table changed. A record that cannot be used is
    /// dead-lettered once (for those bytes) and the models in use stay; a tombstone goes back to the
    /// configured models. True when the models in use changed (everyone is then re-evaluated, so
    /// every profile's P(alive), expected purchases and CLV come from one model).
    func refreshModels(outputs: inout [ProducerRecord]) -> Bool {
        guard let models else { return false }
        let table = models.snapshot
        guard table.version != modelsVersion else { return false }
        modelsVersion = table.version
        let bytes = table.values[ModelRecord.deployedKey]
        guard bytes != modelRecordInUse else { return false }
        guard let bytes else {
            modelRecordInUse = nil
            evaluator = ProfileEvaluator(policy: settings.policy)
            logger.info("churn models: the deployed record was deleted; back to the configured models")
            return true
        }
        var policy = settings.policy
        do {
            try ModelRecord.read(bytes, into: &policy)
        } catch {
            guard reportedUnusableModel != bytes else { return false }
            reportedUnusableModel = bytes
            let record = ConsumerRecord(topic: settings.modelsTopic, partition: 0, offset: -1, key: Array(ModelRecord.deployedKey.utf8), value: bytes, headers: [], timestampMillis: nil)
            outputs.append(deadLetters.record(for: record, .invalidValue, field: error.field, "the churn models are not used (the models in use stay): \(error.message)"))
            return false
        }
        modelRecordInUse = bytes
        evaluator = ProfileEvaluator(policy: policy)
        let m = policy.purchaseModel
        logger.info("churn models: deployed BG/NBD r \(m.r) alpha \(m.alpha) a \(m.a) b \(m.b) (\(policy.modelTimeUnitDays) days per unit); every user is re-evaluated")
        return true
    }

    private func startReevaluation(day: Int32) {
        reevaluationDue = false
        reevaluation = (day, store.ownedPartitions, nil)
    }

    public var hasPendingPunctuation: Bool { reevaluation != nil }

    /// The next part of the re-evaluation pass: up to `reevaluationPart` users, in partition and
    /// key order. Users an event touched meanwhile were evaluated with it and publish nothing new.
    public func continuePunctuation(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        // Midnight during a pass: the users already evaluated for a new day (by their events)
        // must not be evaluated for the old one; the pass starts over for the new day.
        let today = UserState.day(context.nowMillis)
        if let pass = reevaluation, pass.day != today {
            evaluatedDay = today
            startReevaluation(day: today)
        }
        guard var pass = reevaluation else { return }
        var budget = reevaluationPart
        while budget > 0, let partition = pass.partitions.first {
            var visited = 0
            var updated: [(String, UserState)] = []
            // A partition revoked since the pass began is skipped; its new owner evaluates it.
            let resume = try store.ownedPartitions.contains(partition)
                ? store.forEach(partition, after: pass.after, limit: budget) { key, state in
                    visited += 1
                    var state = state
                    if evaluate(&state, key, day: pass.day, outputs: &outputs) { updated.append((key, state)) }
                }
                : nil
            for (key, state) in updated { store.put(partition, key, state) }
            budget -= max(visited, 1)
            if let resume {
                pass.after = resume
            } else {
                pass.partitions.removeFirst()
                pass.after = nil
            }
        }
        reevaluation = pass.partitions.isEmpty ? nil : pass
        // Thresholds that changed during the pass: once more for everyone, now.
        if reevaluation == nil, reevaluationDue { startReevaluation(day: pass.day) }
    }

    /// Called after the runtime took the store's changes: the gauge counts what is now stored.
    public func takeStateChanges() -> [ProducerRecord] {
        usersGauge.record(store.count)
        return []
    }
}

extension UserState: StateCodable {
    public init(stateBytes: [UInt8]) throws { try self.init(decoding: stateBytes) }
    public func stateBytes() -> [UInt8] { encoded() }
}

/// The scorer as the runtime runs it: one stateful stage on the valid events, its referral
/// credits (the repartition topic), preferences and privacy requests, with the user store and
/// the global table of every partition's sketches.
public enum ScorerService {
    public static func topology(_ scoring: ScoringSettings, runtime: RuntimeSettings) -> ServiceTopology {
        var stage = StageDeclaration(
                groupID: scoring.groupID,
                inputs: [scoring.inputTopic, scoring.referralCreditsTopic, scoring.preferencesTopic, runtime.privacy.requestsTopic,
                         scoring.attributesTopic, scoring.memberEventsTopic],
                outputs: [scoring.profilesTopic, scoring.segmentChangesTopic, scoring.referralCreditsTopic, scoring.sketchesTopic, scoring.segmentCensusTopic,
                          scoring.attributesTopic],
                // The state changelog and the repartition topic are partitioned like the input.
                coPartitioned: [scoring.inputTopic, scoring.referralCreditsTopic, scoring.stateChangelogTopic],
                stores: [StoreDeclaration(changelogTopic: scoring.stateChangelogTopic, partitionedLike: scoring.inputTopic, keyedByUser: true)],
                // Privacy requests reach the user's partition through the repartition topic.
                punctuation: scoring.evaluationInterval, erasesFrom: scoring.referralCreditsTopic, clock: scoring.processor.clock,
                globalTables: [scoring.sketchesTopic, scoring.segmentDefinitionsTopic, scoring.modelsTopic]
            ) { context in
                ScoringProcessor(settings: scoring, partitionCount: context.partitionCount, sketches: context.globalTable(scoring.sketchesTopic),
                                 deadLetters: context.deadLetters, logger: context.logger, privacy: context.runtime.privacy,
                                 stores: context.stores,
                                 reevaluationPart: ScoringProcessor.reevaluationPart(maxBatchRecords: context.runtime.maxBatchRecords),
                                 definitions: context.globalTable(scoring.segmentDefinitionsTopic), models: context.globalTable(scoring.modelsTopic))
            }
        // Operators' segments and refitted models are optional: a deployment without their
        // topics scores as before, with the configured models.
        stage.optionalGlobalTables = [scoring.segmentDefinitionsTopic, scoring.modelsTopic]
        return ServiceTopology(deadLettersTopic: scoring.deadLettersTopic, stages: [stage])
    }
}
