import Foundation
import OrbitContract
import OrbitCore
import OrbitKafka
import OrbitNotify
import OrbitRuntime
import OrbitTestKit
import OrbitTestSupport
import XCTest

/// Journeys in orbit-notify with a set clock: definitions arrive as inputs, users move on their
/// inputs and on clock ticks, and each step's message goes through the usual policies.
final class JourneyTests: XCTestCase {
    var settings: NotifySettings!
    var driver: ProcessorTestDriver!
    let day: Int64 = 86_400_000
    let hour = NotifyFixture.hour
    let noon = NotifyFixture.noon  // 2026-11-23T12:00:00Z, a Monday

    override func setUpWithError() throws {
        settings = try NotifyFixture.settings()
        let settings = settings!
        let ticks = StageProcessor.Ticks(topic: settings.inputsTopic, deadLetters: DeadLetters(topic: settings.deadLettersTopic, service: "orbit-notify"))
        driver = ProcessorTestDriver(nowMillis: noon, ticks: ticks) { stores in
            NotifyProcessor(settings: settings, deadLetters: DeadLetters(topic: settings.deadLettersTopic, service: "orbit-notify"), stores: stores)
        }
    }

    // MARK: Helpers

    /// A journey from YAML (one journey, as an element of a journeys file writes it).
    func journey(_ yaml: String, version: Int = 1) throws -> Journey {
        try Journey.read(ConfigDocument(yaml: yaml, file: "test.yaml").top, version: version, policy: settings.policy)
    }

    @discardableResult
    func define(_ journey: Journey, status: JourneyStatus = .active, migration: JourneyMigration? = nil, at time: Int64? = nil, partition: Int32 = 0) throws -> [ProducerRecord] {
        try pipe(.journey, key: journey.id, JourneyRecord(journey: journey, status: status, migration: migration).encoded(), at: time ?? noon, partition: partition)
    }

    @discardableResult
    func pipe(_ kind: NotifyInput, key: String, _ value: [UInt8]?, at time: Int64, partition: Int32 = 0) throws -> [ProducerRecord] {
        try driver.pipe(driver.record(topic: settings.inputsTopic, partition: partition, key: key, value: value,
                                      headers: [KafkaHeader(InputRouter<NotifyInput>.kindHeader, kind.rawValue)], timestampMillis: time))
    }

    @discardableResult
    func event(_ user: String, _ type: String, at time: Int64, id: String? = nil) throws -> [ProducerRecord] {
        try pipe(.event, key: user, UserEvent(id: id ?? "\(user)-\(type)-\(time)", userID: user, type: EventType(type), timeMillis: time,
                                             properties: JSONObject()).encoded(), at: time)
    }

    @discardableResult
    func segment(_ user: String, _ dimension: String, to value: String, at time: Int64) throws -> [ProducerRecord] {
        try pipe(.segmentChange, key: user, Array(#"{"schema_version":1,"id":"\#(user):\#(dimension):\#(value):\#(time)","user_id":"\#(user)","dimension":"\#(dimension)","from":null,"to":"\#(value)","reason":"r","on":"2026-11-23"}"#.utf8), at: time)
    }

    @discardableResult
    func tick(at time: Int64) throws -> [ProducerRecord] {
        driver.nowMillis = time
        let tick = ClockTick.record(topic: settings.inputsTopic, partition: 0, at: time)
        return try driver.pipe(driver.record(topic: tick.topic, partition: 0, key: "tick", value: tick.value, headers: tick.headers, timestampMillis: time))
    }

    func reachable(_ user: String, timeZone: String = "UTC", quiet: String? = nil) throws {
        try pipe(.contacts, key: user, Array(#"{"name":"Ada","email":"\#(user)@example.com","phone":"+8613800000000","push_token":"t","locale":"en","time_zone":"\#(timeZone)"}"#.utf8), at: noon)
        let quietHours = quiet.map { #","quiet_hours":"\#($0)""# } ?? ""
        try pipe(.preferences, key: user, Array(#"{"categories":{"lifecycle":true,"marketing":true}\#(quietHours)}"#.utf8), at: noon)
    }

    /// The journey steps whose messages went out, as `<step>` (email only, to keep one per step).
    func sentSteps(_ records: [ProducerRecord], journey: String = "j") -> [String] {
        let outbox: [OutboxNotification] = records.filter { $0.topic == settings.notificationsTopic }.compactMap { try? OutboxNotification.decode($0.value!) }
        let trigger = "journey:\(journey)"
        return outbox.filter { $0.trigger == trigger && $0.channel == .email }.map { (n: OutboxNotification) -> String in
            let parts = n.id.split(separator: ":")
            return String(parts[parts.count - 2])
        }
    }

    func recipient(_ user: String) throws -> Recipient? {
        try driver.processor(as: NotifyProcessor.self).recipients.get(0, user)
    }

    func funnel(_ journey: String = "j") throws -> JourneyFunnel {
        try XCTUnwrap(driver.processor(as: NotifyProcessor.self).journeyTables.get(0, "journeys")?.books[journey]?.funnel)
    }

    let signupJourney = """
        id: j
        category: marketing
        entry: {on: event, when: {type: signup}}
        steps:
          - {id: welcome, send: {template: journey_onboarding_welcome, channels: [email]}}
          - {id: pause, wait: {days: 2}}
          - {id: tips, send: {template: journey_onboarding_tips, channels: [email]}}
        """

    // MARK: Definitions

    func testADefinitionFileIsCheckedWithFileLineAndField() throws {
        let path = NSTemporaryDirectory() + "journeys-\(UUID().uuidString).yaml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cases: [(String, String, String)] = [
            ("      - {id: a, send: {template: nope, channels: [email]}}", "journeys[0].steps[0].send.template", "no email template nope"),
            ("      - {id: a, wait: {for_event: purchase, days: 1, on_timeout: a}}", "journeys[0].steps[0].wait.on_timeout", "jumps go forward"),
            ("      - {id: a, wait: {for_event: purchase}}", "journeys[0].steps[0].wait.days", "needs a timeout"),
            ("      - {id: a, branch: {if: {field: colour, eq: red}, then: a}}", "journeys[0].steps[0].branch.if.field", "not a field"),
            ("      - {id: a, branch: {if: {all: [{field: tier, eq: S}, {not: {field: variant, eq: x}}]}, then: b}}\n      - {id: b, exit: {}}",
             "journeys[0].steps[0].branch.if", "tests variant, but the journey has no experiment"),
        ]
        for (step, field, message) in cases {
            try "journeys:\n  - id: j\n    category: lifecycle\n    entry: {on: event, when: {type: signup}}\n    steps:\n\(step)\n".write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try JourneyFile.load(path: path, policy: settings.policy)) { error in
                let e = error as? ConfigError
                XCTAssertEqual(e?.field, field, "\(error)")
                XCTAssertEqual(e?.line, 6, "\(error)")
                XCTAssertEqual(e?.file, path)
                XCTAssertTrue(e?.message.contains(message) == true, "\(error)")
            }
        }
    }

    /// A variant a branch names must be one of the experiment's (or the holdout), however deep.
    func testABranchOnAVariantTheExperimentDoesNotHaveIsRefused() throws {
        let path = NSTemporaryDirectory() + "journeys-\(UUID().uuidString).yaml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        func write(_ variant: String) throws {
            try """
                journeys:
                  - id: j
                    category: lifecycle
                    entry: {on: event, when: {type: signup}}
                    steps:
                      - {id: a, branch: {if: {any: [{field: tier, eq: S}, {field: variant, in: [\(variant)]}]}, then: b}}
                      - {id: b, exit: {}}
                    experiment: {variants: {short: 50, long: 50}, holdout_percent: 10}
                """.write(toFile: path, atomically: true, encoding: .utf8)
        }
        try write("short, holdout")
        XCTAssertEqual(try JourneyFile.load(path: path, policy: settings.policy).count, 1)
        try write("short, lengthy")
        XCTAssertThrowsError(try JourneyFile.load(path: path, policy: settings.policy)) { error in
            let e = error as? ConfigError
            XCTAssertEqual(e?.field, "journeys[0].steps[0].branch.if", "\(error)")
            XCTAssertTrue(e?.message.contains("tests variant lengthy, which the journey's experiment does not have (holdout, long, short)") == true, "\(error)")
        }
    }

    func testTheShippedJourneysReadAndTheirRecordsRoundTrip() throws {
        let path = ServiceProcess.repositoryRoot.appendingPathComponent("deploy/journeys/journeys.yaml").path
        let journeys = try JourneyFile.load(path: path, policy: settings.policy)
        XCTAssertEqual(journeys.map(\.id), ["winback", "onboarding", "renewal"])
        for var journey in journeys {
            journey.version = 3
            let record = JourneyRecord(journey: journey, status: .paused, migration: JourneyMigration(fromVersion: 2, steps: [journey.steps[0].id: journey.steps[0].id]))
            XCTAssertEqual(try JourneyRecord.decode(key: journey.id, record.encoded(), policy: settings.policy), record)
        }
    }

    func testAnUnusableRecordIsDeadLetteredOnceAndTheLastUsableVersionStays() throws {
        try define(journey(signupJourney))
        var bad = JourneyRecord(journey: try journey(signupJourney, version: 2)).encoded()
        bad = Array(String(decoding: bad, as: UTF8.self).replacingOccurrences(of: "journey_onboarding_tips", with: "missing_template").utf8)
        let out = try pipe(.journey, key: "j", bad, at: noon)
        let dead = out.filter { $0.topic == settings.deadLettersTopic }
        XCTAssertEqual(dead.count, 1)
        let error = try XCTUnwrap(JSONParser.parse(dead[0].value!).objectValue?["error"]?.objectValue)
        XCTAssertEqual(error["field"]?.stringValue, "journey.steps[2].send.template")
        XCTAssertTrue(try pipe(.journey, key: "j", bad, at: noon, partition: 1).filter { $0.topic == settings.deadLettersTopic }.isEmpty, "partition 0's copy reports it")
        try reachable("ada")
        XCTAssertEqual(sentSteps(try event("ada", "signup", at: noon)), ["welcome"], "version 1 still runs")
    }

    // MARK: Waits

    func testAWaitByDurationEndsOnTheFirstTickAfterIt() throws {
        try define(journey(signupJourney))
        try reachable("ada")
        let entered = try event("ada", "signup", at: noon)
        XCTAssertEqual(sentSteps(entered), ["welcome"])
        XCTAssertEqual(try outboxIDs(entered), ["journey:j:ada:1:1:welcome:email"])
        XCTAssertEqual(sentSteps(try tick(at: noon + 2 * day - 1)), [], "not yet")
        XCTAssertEqual(sentSteps(try tick(at: noon + 2 * day)), ["tips"])
        XCTAssertEqual(sentSteps(try tick(at: noon + 3 * day)), [], "once")
        XCTAssertEqual(try recipient("ada")?.journeys, [], "completed")
        let f = try funnel()
        XCTAssertEqual(f.entered, 1)
        XCTAssertEqual(f.exited, ["completed": 1])
        XCTAssertEqual(f.steps["welcome"]?.sent, 1)
        XCTAssertEqual(f.steps["pause"]?.waited, 1)
        XCTAssertEqual(f.steps["tips"]?.sent, 1)
    }

    /// The ids of the journey's messages in the outbox.
    func outboxIDs(_ records: [ProducerRecord]) throws -> [String] {
        try records.filter { $0.topic == settings.notificationsTopic }.map { try OutboxNotification.decode($0.value!).id }.filter { $0.hasPrefix("journey:") }
    }

    /// 10:00 local: in Shanghai (UTC+8), Los Angeles (daylight saving ends on 2026-11-01) and
    /// across a change of daylight saving time.
    func testAWaitUntilALocalTimeFollowsEachUsersTimeZone() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {on: event, when: {type: signup}}
            steps:
              - {id: morning, wait: {until_local_time: "10:00"}}
              - {id: hello, send: {template: journey_onboarding_welcome, channels: [email]}}
            """))
        try reachable("mei", timeZone: "Asia/Shanghai")
        try reachable("sam", timeZone: "America/Los_Angeles")
        try event("mei", "signup", at: noon)  // 20:00 in Shanghai: tomorrow 10:00 = 02:00Z
        try event("sam", "signup", at: noon)  // 04:00 in Los Angeles (PST): today 10:00 = 18:00Z
        XCTAssertEqual(try recipient("mei")?.journeys.first?.dueMillis, noon + 14 * hour)
        XCTAssertEqual(try recipient("sam")?.journeys.first?.dueMillis, noon + 6 * hour)
        XCTAssertEqual(sentSteps(try tick(at: noon + 6 * hour)), ["hello"])
        XCTAssertEqual(sentSteps(try tick(at: noon + 14 * hour)), ["hello"])

        // Daylight saving: 10:00 in New York is 15:00Z before 2026-03-08 and 14:00Z after;
        // 02:30 does not exist on 2026-03-08 (the first instant after the gap, 03:00 EDT);
        // 01:30 happens twice on 2026-11-01 in New York (the first, EDT, 05:30Z).
        let newYork = TimeZone(identifier: "America/New_York")!
        func at(_ text: String) throws -> Int64 { try RFC3339.parse(text) }
        XCTAssertEqual(JourneyEngine.nextLocalTime(minute: 600, atOrAfter: try at("2026-03-07T16:00:00Z"), zone: newYork), try at("2026-03-08T14:00:00Z"))
        XCTAssertEqual(JourneyEngine.nextLocalTime(minute: 600, atOrAfter: try at("2026-03-07T12:00:00Z"), zone: newYork), try at("2026-03-07T15:00:00Z"))
        XCTAssertEqual(JourneyEngine.nextLocalTime(minute: 150, atOrAfter: try at("2026-03-08T05:00:00Z"), zone: newYork), try at("2026-03-08T07:00:00Z"))
        XCTAssertEqual(JourneyEngine.nextLocalTime(minute: 90, atOrAfter: try at("2026-11-01T04:00:00Z"), zone: newYork), try at("2026-11-01T05:30:00Z"))
        XCTAssertEqual(JourneyEngine.nextLocalTime(minute: 600, atOrAfter: try at("2026-11-23T02:00:00Z"), zone: TimeZone(identifier: "Asia/Shanghai")!),
                       try at("2026-11-23T02:00:00Z"), "exactly then is not tomorrow")
    }

    /// A user who waits through a change of daylight saving: 2 days and then 10:00 local.
    func testADurationThenALocalTimeAcrossDaylightSaving() throws {
        let friday = try RFC3339.parse("2026-03-06T20:00:00Z")  // 15:00 in New York (EST)
        driver.nowMillis = friday
        try define(journey("""
            id: j
            category: marketing
            entry: {on: event, when: {type: signup}}
            steps:
              - {id: later, wait: {days: 2, until_local_time: "10:00"}}
              - {id: hello, send: {template: journey_onboarding_welcome, channels: [email]}}
            """), at: friday)
        try reachable("nyc", timeZone: "America/New_York")
        try event("nyc", "signup", at: friday)
        // 2 days later is Sunday 16:00 EDT; the next 10:00 is Monday 10:00 EDT = 14:00Z.
        XCTAssertEqual(try recipient("nyc")?.journeys.first?.dueMillis, try RFC3339.parse("2026-03-09T14:00:00Z"))
    }

    func testAWaitForAnEventEndsWhenItHappensOrAtItsTimeout() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {on: event, when: {type: signup}}
            steps:
              - {id: watch, wait: {for_event: check_in, days: 3, on_event: thanks, on_timeout: nudge}}
              - {id: nudge, send: {template: journey_onboarding_tips, channels: [email]}}
              - {id: stop, exit: {}}
              - {id: thanks, send: {template: journey_onboarding_welcome, channels: [email]}}
            """))
        try reachable("ada"); try reachable("bob")
        try event("ada", "signup", at: noon)
        try event("bob", "signup", at: noon)
        XCTAssertEqual(sentSteps(try event("ada", "check_in", at: noon + day)), ["thanks"])
        XCTAssertEqual(sentSteps(try tick(at: noon + 2 * day)), [])
        XCTAssertEqual(sentSteps(try tick(at: noon + 3 * day)), ["nudge"], "bob timed out; ada is done")
        XCTAssertEqual(try recipient("ada")?.journeys, [])
        XCTAssertEqual(try recipient("bob")?.journeys, [])
        XCTAssertEqual(try funnel().exited, ["completed": 2])
        XCTAssertEqual(try recipient("bob")?.history(of: "j"), nil, "the enrolment is gone once it ends")
    }

    func testAWaitForASegmentChange() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {on: event, when: {type: signup}}
            steps:
              - {id: watch, wait: {for_segment: {dimension: tier, to: S}, days: 30, on_event: vip}}
              - {id: plain, send: {template: journey_onboarding_tips, channels: [email]}}
              - {id: stop, exit: {}}
              - {id: vip, send: {template: journey_onboarding_welcome, channels: [email]}}
            """))
        try reachable("ada")
        try event("ada", "signup", at: noon)
        XCTAssertEqual(sentSteps(try segment("ada", "tier", to: "A", at: noon + day)), [])
        XCTAssertEqual(sentSteps(try segment("ada", "tier", to: "S", at: noon + 2 * day)), ["vip"])
    }

    // MARK: Branches and grants

    func testABranchOnTheProfileAndOnTheVariant() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {on: event, when: {type: signup}}
            steps:
              - {id: top, branch: {if: {all: [{field: tier, in: [S, A]}, {field: variant, eq: b}]}, then: vip, else: plain}}
              - {id: plain, send: {template: journey_onboarding_tips, channels: [email]}}
              - {id: stop, exit: {}}
              - {id: vip, send: {template: journey_onboarding_welcome, channels: [email]}}
            experiment: {variants: {a: 1, b: 1}}
            """))
        let experiment = Experiment(id: "journey:j", variants: [("a", 1), ("b", 1)], holdoutPercent: 0, conversionEvent: "purchase", conversionWindowMillis: day)
        let inB = (0..<1000).map { "u\($0)" }.filter { experiment.assign(userID: $0) == "b" }
        let inA = (0..<1000).map { "u\($0)" }.first { experiment.assign(userID: $0) == "a" }!
        for user in [inB[0], inB[1], inA] { try reachable(user) }
        try pipe(.profile, key: inB[0], Array(#"{"user_id":"\#(inB[0])","tier":"S"}"#.utf8), at: noon)
        try pipe(.profile, key: inA, Array(#"{"user_id":"\#(inA)","tier":"S"}"#.utf8), at: noon)
        XCTAssertEqual(sentSteps(try event(inB[0], "signup", at: noon)), ["vip"], "tier S, variant b")
        XCTAssertEqual(sentSteps(try event(inB[1], "signup", at: noon)), ["plain"], "no tier")
        XCTAssertEqual(sentSteps(try event(inA, "signup", at: noon)), ["plain"], "variant a")
        XCTAssertEqual(try recipient(inB[0])?.journeyEntries.first?.count, 1)
    }

    func testAGrantIsAMemberCommandWithAStableRequestID() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {on: event, when: {type: signup}}
            steps:
              - {id: gift, grant: {points: 50, reason: welcome gift}}
            """))
        let out = try event("ada", "signup", at: noon)
        let commands = out.filter { $0.topic == settings.memberCommandsTopic }
        XCTAssertEqual(commands.count, 1)
        let command = try XCTUnwrap(JSONParser.parse(commands[0].value!).objectValue)
        XCTAssertEqual(command["type"]?.stringValue, "adjust")
        XCTAssertEqual(command["points"]?.numberValue?.int64Value, 50)
        XCTAssertEqual(command["user_id"]?.stringValue, "ada")
        let hash = String(StableHash.fnv1a("journey:j:ada:1:1:gift"), radix: 16)
        XCTAssertEqual(command["request_id"]?.stringValue, "journey:j:\(hash)")
    }

    // MARK: Exits

    /// A purchase ends a win-back journey wherever the user is: in a wait, or between a send and the next.
    func testAnExitEventEndsTheJourneyAtEveryStep() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {segment: {dimension: lifecycle, to: at_risk}}
            steps:
              - {id: reminder, send: {template: journey_winback_reminder, channels: [email]}}
              - {id: pause, wait: {days: 3}}
              - {id: offer, send: {template: journey_winback_offer, channels: [email]}}
              - {id: watch, wait: {days: 4}}
              - {id: last_call, send: {template: journey_winback_last_call, channels: [email]}}
            exits: {events: [purchase], converted: false}
            """))
        // One user buys during each wait; one never does.
        for user in ["a", "b", "c"] {
            try reachable(user)
            XCTAssertEqual(sentSteps(try segment(user, "lifecycle", to: "at_risk", at: noon)), ["reminder"])
        }
        // A purchase from before c entered, arriving late (after the segment change that enrolled
        // c), is history: c stays.
        try event("c", "purchase", at: noon - day)
        try event("a", "purchase", at: noon + day)
        XCTAssertEqual(sentSteps(try tick(at: noon + 3 * day)).count, 2, "b and c get the offer")
        try event("b", "purchase", at: noon + 5 * day)
        XCTAssertEqual(sentSteps(try tick(at: noon + 7 * day)), ["last_call"], "only c")
        let f = try funnel()
        XCTAssertEqual(f.exited, ["exit_event": 2, "completed": 1])
        XCTAssertEqual(f.steps["offer"]?.sent, 2)
    }

    func testLeavingTheEntrySegmentAndOptingOutEndTheJourney() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {segment: {dimension: lifecycle, to: at_risk}}
            steps:
              - {id: pause, wait: {days: 3}}
              - {id: offer, send: {template: journey_winback_offer, channels: [email]}}
            """))
        try reachable("a"); try reachable("b")
        try segment("a", "lifecycle", to: "at_risk", at: noon)
        try segment("b", "lifecycle", to: "at_risk", at: noon)
        try segment("a", "lifecycle", to: "active", at: noon + day)
        try pipe(.preferences, key: "b", Array(#"{"categories":{"marketing":false}}"#.utf8), at: noon + day)
        XCTAssertEqual(sentSteps(try tick(at: noon + 3 * day)), [])
        XCTAssertEqual(try funnel().exited, ["left_segment": 1, "opted_out": 1])
    }

    /// An enrolment that ends while the enrolments are walked (its version no longer kept) does
    /// not make the walk skip the next one: the opt-out still ends the journey after it.
    func testAnOptOutIsCheckedForEveryJourneyEvenAfterOneThatEnded() throws {
        func waiting(_ id: String, _ category: String, step: String, version: Int) throws -> Journey {
            try journey("""
                id: \(id)
                category: \(category)
                entry: {on: event, when: {type: signup}}
                steps:
                  - {id: \(step), wait: {days: 30}}
                """, version: version)
        }
        try define(waiting("a", "account", step: "first", version: 1))
        try define(waiting("b", "marketing", step: "wait", version: 1))
        try reachable("ada")
        try event("ada", "signup", at: noon)
        XCTAssertEqual(try recipient("ada")?.journeys.map(\.journey), ["a", "b"])
        // Nine later versions of a, none with ada's step: her version 1 falls out of the kept eight.
        for version in 2...10 { try define(waiting("a", "account", step: "later", version: version), at: noon + hour) }
        try pipe(.preferences, key: "ada", Array(#"{"categories":{"marketing":false}}"#.utf8), at: noon + 2 * hour)
        XCTAssertEqual(try recipient("ada")?.journeys, [], "a ended (version gone), then b (opted out)")
        XCTAssertEqual(try funnel("a").exited, ["version_gone": 1])
        XCTAssertEqual(try funnel("b").exited, ["opted_out": 1])
    }

    /// A conversion ends the journey at once: its message waiting for quiet hours is dropped too,
    /// and the conversion counts for the step whose message was sent last.
    func testAUserWhoConvertsStopsReceivingAtOnce() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {segment: {dimension: lifecycle, to: at_risk}}
            steps:
              - {id: reminder, send: {template: journey_winback_reminder, channels: [email]}}
              - {id: pause, wait: {days: 1}}
              - {id: offer, send: {template: journey_winback_offer, channels: [email]}}
              - {id: pause2, wait: {days: 1}}
              - {id: last_call, send: {template: journey_winback_last_call, channels: [email]}}
            """))
        try reachable("ada", quiet: "22:00-08:00")
        try segment("ada", "lifecycle", to: "at_risk", at: noon)
        // The offer falls due at 23:00: quiet hours defer it to 08:00.
        let out = try tick(at: noon + day + 11 * hour)
        XCTAssertEqual(sentSteps(out), [])
        XCTAssertEqual(try recipient("ada")?.deferred.map(\.notificationID), ["journey:j:ada:1:1:offer:email"])
        let bought = try event("ada", "purchase", at: noon + day + 12 * hour)
        XCTAssertEqual(try recipient("ada")?.deferred.filter { $0.notificationID.hasPrefix("journey:") }, [], "the deferred offer is dropped")
        XCTAssertEqual(bought.filter { $0.topic == settings.deliveriesTopic }.compactMap { DeliveryRecord.decode($0.value!) }.filter { $0.trigger == "journey:j" }.map(\.reason),
                       ["journey_ended"])
        let outcomes = try bought.filter { $0.topic == settings.outcomesTopic }.compactMap { try JSONParser.parse($0.value!).objectValue }
        let outcome = try XCTUnwrap(outcomes.first { $0["experiment"]?.stringValue == "journey:j" })
        XCTAssertEqual(outcome["kind"]?.stringValue, "converted")
        XCTAssertEqual(outcome["step"]?.stringValue, "offer")
        XCTAssertEqual(sentSteps(try tick(at: noon + 3 * day)), [], "nothing after the conversion")
        XCTAssertEqual(try funnel().converted, 1)
        XCTAssertEqual(try funnel().exited, ["converted": 1])
    }

    // MARK: Recurrence, pause, versions, retirement

    func testRecurrenceRunsAgainWhileInTheSegmentUpToItsMaximum() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {custom_segment: vip}
            steps:
              - {id: care, send: {template: journey_winback_reminder, channels: [email]}}
            recurrence: {every_days: 14, max: 3}
            """))
        try reachable("a"); try reachable("b")
        for user in ["a", "b"] {
            try segment(user, "custom:vip", to: "true", at: noon)
        }
        var runs: [String: Int] = ["a": 1, "b": 1]
        for d in 1...60 {
            if d == 20 { try segment("b", "custom:vip", to: "false", at: noon + 20 * day) }  // b leaves after the second run
            for record in try tick(at: noon + Int64(d) * day) where record.topic == settings.notificationsTopic {
                if let user = record.key.map({ String(decoding: $0, as: UTF8.self) }), try OutboxNotification.decode(record.value!).channel == .email { runs[user, default: 0] += 1 }
            }
        }
        XCTAssertEqual(runs, ["a": 3, "b": 2], "a: 3 runs (the maximum); b: 2 (left the segment)")
        XCTAssertEqual(try funnel().exited, ["completed": 1, "left_segment": 1])
    }

    func testPauseHoldsEveryEnrolmentAndResumeGoesOn() throws {
        let j = try journey(signupJourney)
        try define(j)
        try reachable("ada")
        try event("ada", "signup", at: noon)
        try define(j, status: .paused, at: noon + day)
        XCTAssertEqual(sentSteps(try tick(at: noon + 2 * day)), [], "held")
        try reachable("bob")
        XCTAssertEqual(sentSteps(try event("bob", "signup", at: noon + 2 * day)), [], "nobody enters a paused journey")
        XCTAssertEqual(try recipient("ada")?.journeys.count, 1, "still there")
        try define(j, status: .active, at: noon + 5 * day)
        XCTAssertEqual(sentSteps(try tick(at: noon + 5 * day)), ["tips"], "the wait that ended meanwhile ends on resume")
    }

    func testANewVersionAppliesToNewEnrolmentsAndMigrateMovesTheOthers() throws {
        try define(journey(signupJourney))
        try reachable("ada"); try reachable("bob"); try reachable("cy")
        try event("ada", "signup", at: noon)
        let v2 = try journey("""
            id: j
            category: marketing
            entry: {on: event, when: {type: signup}}
            steps:
              - {id: hello, send: {template: journey_onboarding_first_order, channels: [email]}}
              - {id: pause, wait: {days: 5}}
              - {id: tips, send: {template: journey_onboarding_tips, channels: [email]}}
            """, version: 2)
        try define(v2, at: noon + hour)
        XCTAssertEqual(sentSteps(try event("bob", "signup", at: noon + hour)), ["hello"], "bob enters version 2")
        XCTAssertEqual(sentSteps(try tick(at: noon + 2 * day)), ["tips"], "ada finishes on version 1")
        XCTAssertEqual(try recipient("bob")?.journeys.first?.version, 2)

        // Version 3 with a migration: cy (on version 3's wait) and bob (on version 2's) ...
        try event("cy", "signup", at: noon + 2 * day)
        var v3 = v2
        v3.version = 3
        v3.steps[2] = .init(id: "final", .send(template: "journey_winback_last_call", channels: [.email], category: nil))
        try define(v3, migration: JourneyMigration(fromVersion: 2, steps: ["pause": "pause"]), at: noon + 3 * day)
        XCTAssertEqual(try recipient("bob")?.journeys.first?.version, 3, "migrated from version 2")
        XCTAssertEqual(try recipient("cy")?.journeys.first?.version, 3)
        XCTAssertEqual(Set(sentSteps(try tick(at: noon + 7 * day))), ["final"], "both take version 3's last step")
    }

    func testRetiringEndsEveryEnrolmentWithAReason() throws {
        let j = try journey(signupJourney)
        try define(j)
        try reachable("ada")
        try event("ada", "signup", at: noon)
        try define(j, status: .retired, at: noon + day)
        XCTAssertEqual(try recipient("ada")?.journeys, [])
        XCTAssertEqual(try funnel().exited, ["retired": 1])
        XCTAssertEqual(sentSteps(try tick(at: noon + 3 * day)), [])
        XCTAssertEqual(sentSteps(try event("bob", "signup", at: noon + 3 * day)), [])
    }

    func testAnAudienceEntryEnrolsTheMatchingUsersOncePerVersion() throws {
        for (user, tier) in [("a", "S"), ("b", "B"), ("c", "S")] {
            try reachable(user)
            try pipe(.profile, key: user, Array(#"{"user_id":"\#(user)","tier":"\#(tier)"}"#.utf8), at: noon)
        }
        let j = try journey("""
            id: j
            category: marketing
            entry: {audience: {tier: [S]}}
            steps:
              - {id: care, send: {template: journey_winback_reminder, channels: [email]}}
            """)
        XCTAssertEqual(sentSteps(try define(j)).count, 2)
        XCTAssertEqual(sentSteps(try define(j, at: noon + hour)).count, 0, "the same version again enrols nobody")
        XCTAssertEqual(try funnel().entered, 2)
    }

    /// A repurchase-due entry: the expected next purchase (evaluation day + 30 days over the
    /// profile's BG/NBD expected purchases in 30 days) passes, with the grace, without a purchase.
    func testARepurchaseDueEntryFiresOnceWhenTheExpectedPurchaseDidNotCome() throws {
        try define(journey("""
            id: j
            category: marketing
            entry: {repurchase_due: {grace_days: 2}}
            steps:
              - {id: nudge, send: {template: journey_winback_reminder, channels: [email]}}
            exits: {events: [purchase]}
            """))
        func profile(_ user: String, on day: String, recency: Int?, expected: Double) throws {
            let r = recency.map(String.init) ?? "null"
            try pipe(.profile, key: user, Array(#"{"user_id":"\#(user)","evaluated_on":"\#(day)","rfm":{"recency_days":\#(r)},"churn":{"expected_purchases_30d":\#(expected)}}"#.utf8), at: noon)
        }
        for user in ["ada", "bob", "cy"] { try reachable(user) }
        // ada bought on 2026-11-13; 1.5 purchases expected in 30 days: the next is due 20 days after
        // the evaluation, 2026-12-13; with 2 days' grace she enters on 2026-12-15.
        try profile("ada", on: "2026-11-23", recency: 10, expected: 1.5)
        try profile("ada", on: "2026-11-24", recency: 11, expected: 1.2)  // the same purchase keeps its date
        XCTAssertEqual(try recipient("ada")?.repurchase, Recipient.Repurchase(lastPurchaseDay: RFC3339.daysFromCivil(year: 2026, month: 11, day: 13),
                                                                            dueDay: RFC3339.daysFromCivil(year: 2026, month: 12, day: 13)))
        // bob bought again on 2026-12-01: a new expected date, far off.
        try profile("bob", on: "2026-11-23", recency: 10, expected: 1.5)
        try profile("bob", on: "2026-12-01", recency: 0, expected: 0.3)
        try profile("cy", on: "2026-11-23", recency: nil, expected: 0)  // never bought
        XCTAssertNil(try recipient("cy")?.repurchase)
        // Ticks at noon (outside the default quiet hours).
        let fifteenth = try RFC3339.parse("2026-12-15T12:00:00Z")
        XCTAssertEqual(sentSteps(try tick(at: fifteenth - day)), [])
        XCTAssertEqual(try funnel().entered, 0, "not yet on the 14th")
        let out = try tick(at: fifteenth)
        XCTAssertEqual(out.filter { $0.topic == settings.notificationsTopic }.compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } }, ["ada"])
        XCTAssertEqual(sentSteps(try tick(at: fifteenth + 5 * day)), [], "once per expected date")
        XCTAssertEqual(try funnel().entered, 1)
    }

    func testJourneyStateSurvivesTheChangelog() throws {
        try define(journey(signupJourney))
        try reachable("ada")
        try event("ada", "signup", at: noon)
        let r = try XCTUnwrap(recipient("ada"))
        XCTAssertEqual(try Recipient(stateBytes: r.stateBytes()), r)
        let table = try XCTUnwrap(driver.processor(as: NotifyProcessor.self).journeyTables.get(0, "journeys"))
        XCTAssertEqual(try JourneyTable(stateBytes: table.stateBytes()), table)
    }
}

extension Recipient {
    func history(of journey: String) -> [JourneyEnrolment.Mark]? { journeys.first { $0.journey == journey }?.history }
}
