import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring
import OrbitTestKit
import XCTest

/// The scoring processor driven by the runtime's test driver (no broker): records in, outputs out,
/// the runtime's clock moved by the test.
final class ScoringProcessorTests: XCTestCase {
    static let partitions = 4

    func makeDriver(_ now: String, reevaluationPart: Int = 5000) -> (ProcessorTestDriver, ScoringProcessor) {
        var settings = ScoringSettings()
        settings.policy.rfmMode = .thresholds
        let deadLetters = DeadLetters(topic: OrbitTopics.scorerDeadLetters, service: "test")
        let erasing = StageProcessor.Erasing(topic: settings.referralCreditsTopic, userStores: [settings.stateChangelogTopic], privacy: PrivacySettings(),
                                             service: "orbit-scorer", deadLetters: deadLetters)
        let driver = ProcessorTestDriver(nowMillis: try! RFC3339.parse(now), erasing: erasing) { stores in
            ScoringProcessor(settings: settings, partitionCount: Self.partitions, sketches: GlobalTableView(),
                             deadLetters: DeadLetters(topic: OrbitTopics.scorerDeadLetters, service: "test"), logger: Logger(label: "test"),
                             stores: stores, reevaluationPart: reevaluationPart)
        }
        return (driver, driver.processor(as: ScoringProcessor.self))
    }

    /// Where `user` lives: the partition Orbit's producers (murmur2) put it on.
    func home(_ user: String) -> Int32 { KeyPartitioner.partition(of: user, partitionCount: Self.partitions) }

    func record(_ driver: ProcessorTestDriver, _ event: UserEvent, partition: Int32? = nil) -> ConsumerRecord {
        driver.record(topic: OrbitTopics.validEvents, partition: partition ?? home(event.userID), key: event.userID, value: event.encoded(), timestampMillis: event.timeMillis)
    }

    func purchase(_ id: String, _ time: String, minor: Int64, user: String = "ann") -> UserEvent {
        UserEvent(id: id, userID: user, type: .purchase, timeMillis: try! RFC3339.parse(time),
                  properties: JSONObject([(key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD"))]))
    }

    func changes(_ outputs: [ProducerRecord], dimension: String) -> [String] {
        outputs.filter { $0.topic == OrbitTopics.segmentChanges }.compactMap {
            guard let o = try? JSONParser.parse($0.value!).objectValue, o["dimension"]?.stringValue == dimension else { return nil }
            return o["to"]?.stringValue
        }
    }

    func testWithdrawnProfilingConsentWithholdsTheProfileAndErasureRemovesTheUser() throws {
        let (driver, processor) = makeDriver("2026-03-10T12:00:00Z")
        var outputs = try driver.pipe(record(driver, purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000)))
        outputs += try driver.endBatch().outputs
        XCTAssertFalse(changes(outputs, dimension: "lifecycle").isEmpty)

        // Preferences arrive from their topic on any partition and are forwarded to the user's.
        let preferences = Array(#"{"consents":{"profiling":false}}"#.utf8)
        let forwarded = try driver.pipe(driver.record(topic: OrbitTopics.userPreferences, partition: (home("ann") + 1) % Int32(Self.partitions), key: "ann", value: preferences))
        XCTAssertEqual(forwarded.map(\.topic), [OrbitTopics.scorerReferralCredits])
        XCTAssertEqual(forwarded.first?.partition, home("ann"))
        try driver.pipe(driver.record(topic: OrbitTopics.scorerReferralCredits, partition: home("ann"), key: "ann", value: preferences, headers: forwarded[0].headers))
        outputs = try driver.endBatch().outputs
        let profile = try XCTUnwrap(outputs.first { $0.topic == OrbitTopics.userProfiles }.flatMap { try JSONParser.parse($0.value!).objectValue })
        XCTAssertNil(profile["segment"])
        XCTAssertNil(profile["rfm"])
        XCTAssertEqual(profile["profiling"]?.objectValue?["withheld"], .bool(true))
        XCTAssertTrue(changes(outputs, dimension: "segment").isEmpty)
        // A later purchase changes nothing visible: no segment changes while consent is withdrawn.
        outputs = try driver.pipe(record(driver, purchase("p2", "2026-03-09T10:00:00Z", minor: 9_000)))
        outputs += try driver.endBatch().outputs
        XCTAssertTrue(outputs.filter { $0.topic == OrbitTopics.segmentChanges || $0.topic == OrbitTopics.userProfiles }.isEmpty)
        XCTAssertEqual(try processor.store.get(home("ann"), "ann")?.purchases, 2, "activity is still counted")
        XCTAssertTrue(try UserState(decoding: XCTUnwrap(processor.store.get(home("ann"), "ann")).encoded()).profilingWithheld, "the flag survives the changelog")

        // A bad consents value is a dead letter, not a crash.
        let bad = try driver.pipe(driver.record(topic: OrbitTopics.scorerReferralCredits, partition: home("ann"), key: "ann", value: Array(#"{"consents":{"profiling":"no"}}"#.utf8), headers: forwarded[0].headers))
        XCTAssertEqual(bad.map(\.topic), [OrbitTopics.scorerDeadLetters])

        // Erasure: state gone, the profile tombstoned, a receipt.
        let request = PrivacyRequest(requestID: "gdpr-1", userID: "ann", requestedAtMillis: try RFC3339.parse("2026-03-10T12:00:00Z")).encoded()
        let routed = try driver.pipe(driver.record(topic: OrbitTopics.privacyRequests, partition: 0, key: "ann", value: request))
        outputs = try driver.pipe(driver.record(topic: OrbitTopics.scorerReferralCredits, partition: home("ann"), key: "ann", value: request, headers: routed[0].headers))
        let changes = try driver.endBatch().changes
        XCTAssertTrue(outputs.contains { $0.topic == OrbitTopics.userProfiles && $0.value == nil })
        XCTAssertEqual(outputs.first { $0.topic == OrbitTopics.privacyReceipts }.flatMap { $0.value.flatMap(PrivacyReceipt.decode) }?.tombstones[OrbitTopics.userProfiles], 1)
        XCTAssertTrue(changes.contains { $0.key == Array("ann".utf8) && $0.value == nil })
        XCTAssertNil(try processor.store.get(home("ann"), "ann"))
    }

    func testTimePassingMovesAUserThroughTheLifecycle() throws {
        let (driver, _) = makeDriver("2026-03-01T12:00:00Z")
        var outputs = try driver.pipe(record(driver, UserEvent(id: "s", userID: "ann", type: .signup, timeMillis: try RFC3339.parse("2026-03-01T09:00:00Z"), properties: JSONObject())))
        var batch = try driver.endBatch()
        outputs += batch.outputs
        XCTAssertEqual(changes(outputs, dimension: "lifecycle"), ["new"])
        XCTAssertEqual(outputs.filter { $0.topic == OrbitTopics.userProfiles }.count, 1)
        XCTAssertEqual(batch.changes.count, 1, "one changelog record per user per batch")

        outputs = try driver.pipe(record(driver, purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000)))
        outputs += try driver.pipe(record(driver, purchase("p2", "2026-03-03T10:00:00Z", minor: 7_000)))
        driver.advance(days: 2)
        batch = try driver.endBatch()
        outputs += batch.outputs
        XCTAssertEqual(changes(outputs, dimension: "lifecycle"), ["active"])
        XCTAssertEqual(outputs.filter { $0.topic == OrbitTopics.userProfiles }.count, 1, "profiles are coalesced per batch")

        driver.advance(days: 61)
        XCTAssertEqual(changes(try driver.punctuate(), dimension: "lifecycle"), ["at_risk"])
        XCTAssertTrue(try driver.punctuate().filter { $0.topic != OrbitTopics.scorerSketches && $0.topic != OrbitTopics.segmentCensus }.isEmpty, "same day, same thresholds: nothing to publish")

        driver.advance(days: 130)
        XCTAssertEqual(changes(try driver.punctuate(), dimension: "lifecycle"), ["churned"])
        try driver.endBatch()

        outputs = try driver.pipe(record(driver, purchase("p3", "2026-09-12T10:00:00Z", minor: 1_000)))
        outputs += try driver.endBatch().outputs
        XCTAssertEqual(changes(outputs, dimension: "lifecycle"), ["reactivated"])
        let profile = try JSONParser.parse(outputs.last { $0.topic == OrbitTopics.userProfiles }!.value!).objectValue
        XCTAssertEqual(profile?["lifecycle"]?.objectValue?["reason"]?.stringValue, "active again after being churned")
        XCTAssertEqual(profile?["rfm"]?.objectValue?["frequency"]?.numberValue?.int64Value, 3)
    }

    /// The daily re-evaluation of every user goes a batch's worth of users at a time (each part a
    /// batch of its own, records flowing between), and publishes what one pass over everyone would.
    func testTheDailyReevaluationGoesABatchsWorthOfUsersAtATime() throws {
        func run(part: Int) throws -> (outputs: [ProducerRecord], parts: Int, largestPart: Int) {
            let (driver, processor) = makeDriver("2026-03-10T12:00:00Z", reevaluationPart: part)
            for n in 0..<20 { try driver.pipe(record(driver, purchase("p\(n)", "2026-03-02T10:00:00Z", minor: 5_000, user: "u\(n)"))) }
            try driver.endBatch()
            try driver.punctuate()
            driver.advance(days: 61)
            let context = ProcessingContext(nowMillis: driver.nowMillis)
            var outputs: [ProducerRecord] = []
            try processor.punctuate(context: context, outputs: &outputs)
            var parts = 1
            var largestPart = outputs.filter { $0.topic == OrbitTopics.userProfiles }.count
            while processor.hasPendingPunctuation {
                outputs += try driver.endBatch().outputs
                var part: [ProducerRecord] = []
                try processor.continuePunctuation(context: context, outputs: &part)
                largestPart = max(largestPart, part.filter { $0.topic == OrbitTopics.userProfiles }.count)
                outputs += part
                parts += 1
            }
            outputs += try driver.endBatch().outputs
            return (outputs.filter { $0.topic != OrbitTopics.scorerSketches }, parts, largestPart)
        }
        let whole = try run(part: 5000)
        let inParts = try run(part: 3)
        XCTAssertEqual(whole.parts, 1)
        XCTAssertGreaterThanOrEqual(inParts.parts, 7, "20 users, 3 a part")
        XCTAssertLessThanOrEqual(inParts.largestPart, 3)
        XCTAssertEqual(changes(whole.outputs, dimension: "lifecycle"), Array(repeating: "at_risk", count: 20))
        XCTAssertEqual(inParts.outputs.map(\.topic), whole.outputs.map(\.topic))
        XCTAssertEqual(inParts.outputs.map(\.key), whole.outputs.map(\.key), "the same users in the same order")
        XCTAssertEqual(inParts.outputs.map(\.value), whole.outputs.map(\.value), "the same bytes")
    }

    /// Midnight during a pass: the pass starts over for the new day, so no user is evaluated for
    /// the old day once the new one has begun (and every user gets the new day's profile).
    func testAPassThatRunsPastMidnightStartsOverForTheNewDay() throws {
        let (driver, processor) = makeDriver("2026-03-10T12:00:00Z", reevaluationPart: 3)
        for n in 0..<20 { try driver.pipe(record(driver, purchase("p\(n)", "2026-03-02T10:00:00Z", minor: 5_000, user: "u\(n)"))) }
        try driver.endBatch()
        try driver.punctuate()
        driver.advance(days: 61)
        var outputs: [ProducerRecord] = []
        try processor.punctuate(context: ProcessingContext(nowMillis: driver.nowMillis), outputs: &outputs)
        XCTAssertTrue(processor.hasPendingPunctuation)
        let firstPart = Set(outputs.filter { $0.topic == OrbitTopics.userProfiles }.compactMap(\.key))
        XCTAssertEqual(firstPart.count, 3)
        try driver.endBatch()
        driver.advance(days: 1)
        var afterMidnight: [ProducerRecord] = []
        while processor.hasPendingPunctuation {
            try processor.continuePunctuation(context: ProcessingContext(nowMillis: driver.nowMillis), outputs: &afterMidnight)
            afterMidnight += try driver.endBatch().outputs
        }
        let profiled = afterMidnight.filter { $0.topic == OrbitTopics.userProfiles }.compactMap(\.key)
        XCTAssertEqual(profiled.count, 20, "every user once, for the new day, the first part's users again")
        XCTAssertTrue(firstPart.isSubset(of: Set(profiled)))
    }

    func testAReplayedRecordChangesNothing() throws {
        let (driver, _) = makeDriver("2026-03-10T00:00:00Z")
        let first = record(driver, purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000))
        try driver.pipe(first)
        try driver.endBatch()
        XCTAssertTrue(try driver.pipe(first).isEmpty)  // the same record again (a replay)
        let batch = try driver.endBatch()
        XCTAssertTrue(batch.outputs.isEmpty)
        XCTAssertTrue(batch.changes.isEmpty)
    }

    /// A batch's profiles are handed to the runtime in parts as they are made (the pipeline sends
    /// each part at once): the parts together are exactly what one flush appends, in the same order,
    /// called as the runtime calls it (through `any RecordProcessor`) and through the test driver.
    func testBatchEndOutputsHandedOverInPartsAreExactlyTheOutputsOfOneFlush() throws {
        let (parted, _) = makeDriver("2026-03-10T00:00:00Z")
        let (driven, _) = makeDriver("2026-03-10T00:00:00Z")
        let (_, whole) = makeDriver("2026-03-10T00:00:00Z")
        let context = ProcessingContext(nowMillis: parted.nowMillis)
        for n in 0..<700 {
            let event = purchase("p\(n)", "2026-03-0\(1 + n % 9)T10:00:00Z", minor: Int64(1_000 + n), user: "user-\(n % 600)")
            let record = record(parted, event)
            try parted.pipe(record)
            try driven.pipe(record)
            var unused: [ProducerRecord] = []
            try whole.process(record, context: context, outputs: &unused)
        }
        let processor: any RecordProcessor = parted.processor
        var parts = 0
        var handedOver: [ProducerRecord] = []
        var rest: [ProducerRecord] = []
        try processor.flush(context: context, outputs: &rest) { part in
            XCTAssertGreaterThanOrEqual(part.count, ScoringProcessor.outputPart, "a part is handed over once it holds a part's worth")
            parts += 1
            handedOver += part
            part.removeAll()
        }
        var all: [ProducerRecord] = []
        try whole.flush(context: context, outputs: &all)
        XCTAssertGreaterThan(parts, 2, "600 profiles and their segment changes come in several parts")
        XCTAssertLessThan(rest.count, ScoringProcessor.outputPart, "what is left for the runtime is less than a part")
        XCTAssertEqual(all.count, 600 + all.filter { $0.topic == OrbitTopics.segmentChanges }.count, "a profile per user, and their segment changes")
        func lines(_ records: [ProducerRecord]) -> [String] {
            records.map { "\($0.topic) \($0.partition.map(String.init) ?? "-") \(String(decoding: $0.key!, as: UTF8.self)) \(String(decoding: $0.value!, as: UTF8.self)) \($0.headers.count)" }
        }
        XCTAssertEqual(lines(handedOver + rest), lines(all))
        XCTAssertEqual(lines(try driven.endBatch().outputs), lines(all), "the test driver hands its processor's parts back in order")
        XCTAssertEqual(parted.processor.takeStateChanges().map(\.value), whole.store.takeChanges().map(\.value))
    }

    /// Failed before: undecodable records were logged and skipped, with no record of them anywhere.
    func testUndecodableRecordsBecomeDeadLettersWithAReason() throws {
        let (driver, _) = makeDriver("2026-03-10T00:00:00Z")
        var outputs = try driver.pipe(driver.record(topic: OrbitTopics.validEvents, partition: home("x"), key: "x", value: Array("garbage".utf8)))
        outputs += try driver.pipe(driver.record(topic: OrbitTopics.validEvents, key: nil, value: nil))
        let other = purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000, user: "bob")
        outputs += try driver.pipe(driver.record(topic: OrbitTopics.validEvents, partition: home("ann"), key: "ann", value: other.encoded()))
        outputs += try driver.endBatch().outputs
        XCTAssertEqual(outputs.count, 3)
        XCTAssertTrue(outputs.allSatisfy { $0.topic == OrbitTopics.scorerDeadLetters })
        let codes = outputs.compactMap { try? JSONParser.parse($0.value!).objectValue?["error"]?.objectValue?["code"]?.stringValue }
        XCTAssertEqual(codes, ["undecodable_record", "missing_key", "undecodable_record"])
    }

    /// Failed before: the scorer kept the event on the partition it arrived on, so a user whose
    /// events came from a CRC32-hashing producer had state split from its referral credits.
    func testAnEventOnAnotherUsersPartitionIsForwardedToItsHome() throws {
        let (driver, processor) = makeDriver("2026-03-10T00:00:00Z")
        let event = purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000)
        let wrong = (home("ann") + 1) % Int32(Self.partitions)
        let outputs = try driver.pipe(record(driver, event, partition: wrong))
        XCTAssertEqual(outputs.count, 1)
        XCTAssertEqual(outputs[0].topic, OrbitTopics.scorerReferralCredits)
        XCTAssertEqual(outputs[0].partition, home("ann"))
        XCTAssertEqual(outputs[0].value, event.encoded())
        XCTAssertEqual(processor.store.count, 0, "nothing is kept on the wrong partition")
        // Arriving home through the repartition topic, it is applied there.
        let forwarded = driver.record(topic: OrbitTopics.scorerReferralCredits, partition: home("ann"), key: "ann", value: event.encoded(), headers: outputs[0].headers)
        try driver.pipe(forwarded)
        let batch = try driver.endBatch()
        XCTAssertEqual(batch.outputs.filter { $0.topic == OrbitTopics.userProfiles }.count, 1)
        XCTAssertEqual(batch.changes.map(\.partition), [home("ann")])
    }

    /// Failed before: a user first seen through a credit got `firstSeenDay = today` from the wall
    /// clock, so a replay on another day wrote different state.
    func testAUserFirstKnownThroughACreditIsFirstSeenOnTheReferralsDay() throws {
        let referral = try RFC3339.parse("2026-02-01T10:00:00Z")
        var days: [Int32] = []
        for now in ["2026-03-10T00:00:00Z", "2026-07-01T00:00:00Z"] {
            let (driver, processor) = makeDriver(now)
            let credit = ReferralCredit(id: "r1:referred", target: "carl", kind: .referredBy, referee: "", amountMinor: 0, timeMillis: referral)
            try driver.pipe(driver.record(topic: OrbitTopics.scorerReferralCredits, partition: home("carl"), key: "carl", value: credit.encoded(sender: "ann")))
            let state = try processor.store.get(home("carl"), "carl")
            days.append(state!.firstSeenDay)
        }
        XCTAssertEqual(days, [UserState.day(referral), UserState.day(referral)])
    }

    /// Failed before: unreadable state was replaced by an empty user, silently forgetting them.
    func testUnreadableStateStopsTheProcessor() throws {
        let (driver, processor) = makeDriver("2026-03-10T00:00:00Z")
        processor.store.restore(home("ann"), "ann", [0xFF, 0xFF, 0x00])
        XCTAssertThrowsError(try driver.pipe(record(driver, purchase("p1", "2026-03-02T10:00:00Z", minor: 5_000)))) { error in
            XCTAssertTrue(error is UnreadableState, "\(error)")
        }
    }

    func testValidEventsWithoutPropertiesAreRead() throws {
        let bytes = Array(#"{"schema_version":1,"id":"e1","user_id":"ann","type":"login","time":"2026-03-01T10:00:00.000Z"}"#.utf8)
        let event = try UserEvent.decode(bytes)
        XCTAssertEqual(event.type, .login)
        XCTAssertTrue(event.properties.members.isEmpty)
    }

    func testProfileNumbersAreFormattedLikePrintf() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            let x = (Double(Int64.random(in: -10_000_000_000...10_000_000_000, using: &generator)) / 1_000_000)
            guard x != 0 else { continue }
            XCTAssertEqual(FixedDecimal.sixPlaces(x), String(format: "%.6f", x))
        }
    }
}

/// Failed before: with most buyers at one or two purchases, the frequency quintiles tied and the
/// cut points came out 2, 2, 2, 3, so nobody could score F = 2 or F = 3 (the demo's empty column).
final class FrequencyBandTests: XCTestCase {
    func testTiedFrequencyQuintilesStillGiveFiveBands() {
        var sketches = PopulationSketches()
        for i in 0..<1_000 {
            let purchases = i < 700 ? 1 : (i < 900 ? 2 : 3 + i % 5)
            sketches.add(values: RFMValues(recencyDays: i % 300, frequency: purchases, monetaryMinor: Int64(100 * (i + 1))))
        }
        let cuts = sketches.thresholds(ScoringPolicy()).rfm.frequency
        XCTAssertEqual(cuts, [2, 3, 4, 5])
        XCTAssertEqual(zip(cuts, cuts.dropFirst()).filter { $0 >= $1 }.count, 0, "strictly increasing")
    }
}
