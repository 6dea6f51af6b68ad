import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring
import OrbitTestSupport
import XCTest

/// The `orbit` tool as separate processes: broker, publish, tail, up.
final class OrbitToolTests: XCTestCase {
    var home: URL!

    override func setUp() {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("orbit-home-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: home)
    }

    func orbit(_ arguments: [String]) throws -> ServiceProcess {
        try ServiceProcess(executable: "orbit", arguments: arguments, environment: ["ORBIT_HOME": home.path])
    }

    func finish(_ process: ServiceProcess, timeout: TimeInterval = 60) -> Int32? {
        _ = eventually(timeout: timeout) { !process.isRunning }
        return process.exitStatus
    }

    func testBrokerRunsAFaultPlanAndRefusesABadOne() throws {
        let plan = home.appendingPathComponent("faults.yaml")
        try """
        steps:
          - at_seconds: 0.5
            broker_down: all
          - at_seconds: 1
            broker_up: all
          - at_seconds: 1.2
            request_errors: {api: produce, errors: [NOT_LEADER_OR_FOLLOWER], repeat: 2}
          - at_seconds: 1.4
            round_trip_ms: 200
        """.write(to: plan, atomically: true, encoding: .utf8)
        let broker = try orbit(["broker", "--faults", plan.path])
        _ = try broker.waitForLine(containing: "at 0.5 s: broker all down")
        _ = try broker.waitForLine(containing: "at 1.0 s: broker all up")
        _ = try broker.waitForLine(containing: "at 1.2 s: next 2 produce requests fail (NOT_LEADER_OR_FOLLOWER)")
        _ = try broker.waitForLine(containing: "fault plan done")
        XCTAssertEqual(try broker.terminate(), 0)

        try "steps:\n  - at_seconds: 1\n    broker_down: sideways\n".write(to: plan, atomically: true, encoding: .utf8)
        let refused = try orbit(["broker", "--faults", plan.path])
        XCTAssertNotEqual(finish(refused), 0)
        XCTAssertTrue(refused.output.joined().contains("steps[0].broker_down"), refused.output.joined(separator: "\n"))
    }

    func testBrokerPublishAndTailWorkAcrossProcesses() throws {
        let broker = try orbit(["broker"])
        _ = try broker.waitForLine(containing: "orbit broker: listening on")
        let addressFile = home.appendingPathComponent("bootstrap")
        let bootstrap = try String(contentsOf: addressFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(bootstrap.hasPrefix("127.0.0.1:"))

        let events = home.appendingPathComponent("events.jsonl")
        try """
        {"id":"a1","user_id":"u1","type":"login","time":"2026-01-01T00:00:00Z"}
        this is not json

        {"id":"a2","user_id":"u2","type":"PURCHASE","time":"2026-01-01T01:00:00+01:00","properties":{"order_id":"o","amount":"9.50","currency":"eur"}}
        """.write(to: events, atomically: true, encoding: .utf8)
        let publish = try orbit(["publish", events.path])
        XCTAssertEqual(finish(publish), 0)
        XCTAssertTrue(publish.output.contains("published 3 records to orbit.user-events"), publish.output.joined(separator: "\n"))

        let ingest = try ServiceProcess.ingest(bootstrap: bootstrap)
        let tail = try orbit(["tail", OrbitTopics.validEvents, "--from-beginning", "--limit", "2", "--idle-exit", "60"])
        XCTAssertEqual(finish(tail, timeout: 90), 0)
        let lines = tail.output.filter { $0.hasPrefix("{") }
        XCTAssertEqual(lines.count, 2, tail.output.joined(separator: "\n"))
        let purchase = try lines.map { try JSONParser.parse($0).objectValue! }.first { $0["key"]?.stringValue == "u2" }
        let value = purchase?["value"]?.objectValue
        XCTAssertEqual(value?["type"]?.stringValue, "purchase")
        XCTAssertEqual(value?["time"]?.stringValue, "2026-01-01T00:00:00.000Z")
        XCTAssertEqual(value?["properties"]?.objectValue?["amount_minor"]?.numberValue?.int64Value, 950)
        XCTAssertEqual(value?["properties"]?.objectValue?["currency"]?.stringValue, "EUR")

        let deadLetters = try orbit(["tail", OrbitTopics.deadLetters, "--from-beginning", "--limit", "1", "--idle-exit", "60"])
        XCTAssertEqual(finish(deadLetters, timeout: 90), 0)
        XCTAssertTrue(deadLetters.output.contains { $0.contains(#""code":"malformed_json""#) && $0.contains(#""payload":"this is not json""#) },
                      deadLetters.output.joined(separator: "\n"))

        // --to-end stops by itself at the ends the partitions had when it began, with no --idle-exit:
        // from the beginning, every record published; from the end, none. A transaction marker
        // at the end of a partition (never delivered) does not hold it up.
        try TransactionMarker.write(.commit, topic: OrbitTopics.userEvents, partition: 0, bootstrap: bootstrap)
        let whole = try orbit(["tail", OrbitTopics.userEvents, "--from-beginning", "--to-end"])
        XCTAssertEqual(finish(whole, timeout: 30), 0, whole.output.joined(separator: "\n"))
        XCTAssertEqual(whole.output.filter { $0.hasPrefix("{") }.count, 3, whole.output.joined(separator: "\n"))
        let fromEnd = try orbit(["tail", OrbitTopics.userEvents, "--to-end"])
        XCTAssertEqual(finish(fromEnd, timeout: 30), 0, fromEnd.output.joined(separator: "\n"))
        XCTAssertEqual(fromEnd.output.filter { $0.hasPrefix("{") }.count, 0, fromEnd.output.joined(separator: "\n"))

        // The scorer turns them into profiles; `orbit user` shows one, asking the scorer's query
        // API (found on orbit.instances, with the token), and with --scan from the topics.
        let tokenFile = home.appendingPathComponent("query-token").path
        try "a-query-token-for-the-cli-test\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        var scorerEnvironment = LocalProfile.environment(bootstrap: bootstrap)
        scorerEnvironment["ORBIT__SERVICE__HTTP_PORT"] = "0"
        scorerEnvironment["ORBIT__SERVICE__HTTP_HOST"] = "127.0.0.1"
        scorerEnvironment["ORBIT__SERVICE__QUERY_TOKEN_FILE"] = tokenFile
        let scorer = try ServiceProcess(executable: "orbit-scorer", arguments: [], environment: scorerEnvironment)
        for arguments in [["--token-file", tokenFile], ["--scan"]] {
            var profile: ServiceProcess?
            XCTAssertTrue(try eventually(timeout: 60, interval: 1) {
                let user = try orbit(["user", "u2"] + arguments)
                _ = finish(user)
                profile = user
                // Asked: only once the scorer holds the partitions (until then it answers 503 and the tool reads the topics).
                return user.exitStatus == 0 && (arguments == ["--scan"] || !user.output.contains { $0.contains("reading the topics instead") })
            }, profile?.output.joined(separator: "\n") ?? "")
            let text = profile?.output.joined(separator: "\n") ?? ""
            XCTAssertTrue(text.contains("== profile =="), text)
            XCTAssertTrue(text.contains("\"segment\""), text)
            XCTAssertTrue(text.contains("\"monetary_minor\" : 1026"), "9.50 EUR at 1.08 = 10.26 USD:\n\(text)")
            XCTAssertEqual(text.contains("reading the topics instead"), false, "\(arguments): \(text)")
        }
        let wrongToken = home.appendingPathComponent("wrong-token").path
        try "not-the-token-of-the-services\n".write(toFile: wrongToken, atomically: true, encoding: .utf8)
        let refused = try orbit(["user", "u2", "--token-file", wrongToken])
        XCTAssertEqual(finish(refused), 0, "answered from the topics")
        XCTAssertTrue(refused.output.contains { $0.contains("401") && $0.contains("reading the topics instead") }, refused.output.joined(separator: "\n"))
        for arguments in [["--token-file", tokenFile], ["--scan"]] {
            let missing = try orbit(["user", "nobody"] + arguments)
            XCTAssertEqual(finish(missing), 1)
            XCTAssertTrue(missing.output.contains { $0.contains("nothing is known about nobody") }, missing.output.joined(separator: "\n"))
        }

        XCTAssertEqual(try scorer.terminate(), 0)
        XCTAssertEqual(try ingest.terminate(), 0)
        XCTAssertEqual(try broker.terminate(), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: addressFile.path), "the address file is removed on stop")
    }

    /// `orbit segments`: a file with an error publishes nothing and names the file, line and
    /// field; a good one is published, listed, previewed on the profiles published now, retired.
    func testSegmentsAreAppliedListedPreviewedAndRetired() throws {
        let broker = try orbit(["broker"])
        _ = try broker.waitForLine(containing: "orbit broker: listening on")
        let bad = home.appendingPathComponent("bad.yaml")
        try "segments:\n  - id: big\n    name: Big\n    where: {field: rfm.spend, gte: 50000}\n".write(to: bad, atomically: true, encoding: .utf8)
        let refused = try orbit(["segments", "apply", bad.path])
        XCTAssertNotEqual(finish(refused), 0)
        XCTAssertTrue(refused.output.contains { $0.contains("bad.yaml:4:") && $0.contains("segments[0].where.field") && $0.contains("rfm.spend is not a profile field") },
                      refused.output.joined(separator: "\n"))
        let good = home.appendingPathComponent("segments.yaml")
        try """
            segments:
              - id: big
                name: Big spenders
                where: {field: rfm.monetary_minor, gte: 50000}
              - id: at-risk
                name: At risk
                where: {field: lifecycle, in: [at_risk, churned]}
            """.write(to: good, atomically: true, encoding: .utf8)
        let applied = try orbit(["segments", "apply", good.path])
        XCTAssertEqual(finish(applied), 0, applied.output.joined(separator: "\n"))
        XCTAssertTrue(applied.output.contains { $0.contains("2 segments published to orbit.segment-definitions: big, at-risk") }, applied.output.joined(separator: "\n"))
        // Profiles as a scorer publishes them: ann spends 80,000, bob 2,000.
        let profiles = home.appendingPathComponent("profiles.jsonl")
        try ["ann": 80_000, "bob": 2_000].map { user, minor in
            #"{"schema_version":1,"user_id":"\#(user)","rfm":{"monetary_minor":\#(minor)},"lifecycle":{"stage":"active"},"segment":"general_develop","tier":"B","super_user":false}"#
        }.joined(separator: "\n").write(to: profiles, atomically: true, encoding: .utf8)
        XCTAssertEqual(finish(try orbit(["publish", profiles.path, "--topic", OrbitTopics.userProfiles])), 0)
        let preview = try orbit(["segments", "preview", "big"])
        XCTAssertEqual(finish(preview), 0, preview.output.joined(separator: "\n"))
        XCTAssertTrue(preview.output.contains { $0.contains("custom:big (Big spenders): 1 of 2 profiled users") }, preview.output.joined(separator: "\n"))
        XCTAssertTrue(preview.output.contains("  ann"), preview.output.joined(separator: "\n"))
        XCTAssertEqual(finish(try orbit(["segments", "retire", "at-risk"])), 0)
        let listed = try orbit(["segments", "list"])
        XCTAssertEqual(finish(listed), 0)
        XCTAssertTrue(listed.output.contains { $0.hasPrefix("custom:big  Big spenders  where {\"field\":\"rfm.monetary_minor\",\"gte\":50000}") }, listed.output.joined(separator: "\n"))
        XCTAssertTrue(listed.output.contains("1 segments, 0 unusable"), listed.output.joined(separator: "\n"))
        XCTAssertEqual(try broker.terminate(), 0)
    }

    /// `orbit journeys`: a file with an error publishes nothing and names the file, line and
    /// field; a good one is published as version 1, a changed one as version 2 (with a
    /// migration), and pause, resume and retire republish the current version's status.
    func testJourneysAreAppliedVersionedPausedAndRetired() throws {
        let broker = try orbit(["broker"])
        _ = try broker.waitForLine(containing: "orbit broker: listening on")
        func run(_ arguments: [String]) throws -> [String] {
            let process = try orbit(["journeys"] + arguments)
            XCTAssertEqual(finish(process), 0, process.output.joined(separator: "\n"))
            return process.output
        }
        let file = home.appendingPathComponent("journeys.yaml")
        func write(_ steps: String) throws {
            try """
                journeys:
                  - id: welcome
                    category: lifecycle
                    entry: {on: event, when: {type: signup}}
                    steps:
                \(steps)
                """.write(to: file, atomically: true, encoding: .utf8)
        }
        try write("      - {id: hello, send: {template: journey_onboarding_welcome, channels: [fax]}}")
        let refused = try orbit(["journeys", "apply", file.path])
        XCTAssertNotEqual(finish(refused), 0)
        XCTAssertTrue(refused.output.contains { $0.contains("journeys.yaml:6") && $0.contains("journeys[0].steps[0].send.channels") && $0.contains("unknown channel fax") },
                      refused.output.joined(separator: "\n"))

        try write("      - {id: hello, send: {template: journey_onboarding_welcome, channels: [email]}}\n      - {id: pause, wait: {days: 2}}")
        XCTAssertTrue(try run(["apply", file.path]).contains { $0.contains("welcome: version 1 published to orbit.journeys (active)") })
        XCTAssertTrue(try run(["apply", file.path]).contains { $0.contains("welcome: unchanged (version 1, active)") })
        try write("      - {id: hello, send: {template: journey_onboarding_welcome, channels: [email]}}\n      - {id: pause, wait: {days: 3}}")
        XCTAssertTrue(try run(["apply", "--migrate", file.path]).contains { $0.contains("welcome: version 2 published") && $0.contains("users on version 1 move (2 steps mapped)") })
        XCTAssertTrue(try run(["pause", "welcome"]).contains("welcome paused (version 2) on orbit.journeys"))
        XCTAssertTrue(try run(["list"]).contains { $0.hasPrefix("welcome v2 paused: 2 steps, on event type=signup; entered 0") })
        XCTAssertTrue(try run(["resume", "welcome"]).contains("welcome active (version 2) on orbit.journeys"))
        XCTAssertTrue(try run(["retire", "welcome"]).contains("welcome retired (version 2) on orbit.journeys"))
        let resumed = try orbit(["journeys", "resume", "welcome"])
        XCTAssertNotEqual(finish(resumed), 0)
        XCTAssertTrue(resumed.output.contains { $0.contains("welcome is retired: apply its definition again") }, resumed.output.joined(separator: "\n"))
        XCTAssertTrue(try run(["list"]).contains("1 journeys, 0 unreadable"))
        XCTAssertEqual(try broker.terminate(), 0)
    }

    func testUpRunsEveryServiceAndStopsThemAllOnSigterm() throws {
        let up = try ServiceProcess(executable: "orbit", arguments: ["up"], environment: ["ORBIT_HOME": home.path])
        _ = try up.waitForLine(containing: "orbit up: broker on")
        _ = try up.waitForLine(containing: "[ingest]", timeout: 30)
        _ = try up.waitForLine(containing: "[scorer]", timeout: 30)
        XCTAssertTrue(eventually(timeout: 60) { up.output.filter { $0.contains("partitions assigned") }.count >= 4 }, "every service joined its groups")
        XCTAssertEqual(try up.terminate(), 0)
        for service in ["[ingest]", "[scorer]", "[members]"] {
            XCTAssertTrue(up.output.contains { $0.hasPrefix(service) && $0.contains("pipeline stopped cleanly") },
                          "\(service) stopped gracefully:\n\(up.output.suffix(20).joined(separator: "\n"))")
        }
    }

    func testModelFitReproducesThePublishedCDNOWFitAndWritesAModelFile() throws {
        let csv = ServiceProcess.repositoryRoot.appendingPathComponent("Tests/OrbitScoringTests/Fixtures/cdnow_customers_summary_with_transactions.csv")
        let model = home.appendingPathComponent("model.yaml")
        let fit = try orbit(["model", "fit", "--csv", csv.path, "--write", model.path])
        XCTAssertEqual(finish(fit), 0, fit.output.joined(separator: "\n"))
        let text = fit.output.joined(separator: "\n")
        XCTAssertTrue(text.contains("r = 0.2426  alpha = 4.4137  a = 0.7929  b = 2.4259   log-likelihood = -9582.42"), text)
        XCTAssertTrue(text.contains("p = 6.24"), text)
        let written = try String(contentsOf: model, encoding: .utf8)
        XCTAssertTrue(written.contains("bgnbd:") && written.contains("gamma_gamma:"), written)

        let bad = home.appendingPathComponent("bad.csv")
        try "frequency,recency,T\n1,2,3\n2,oops,4\n".write(to: bad, atomically: true, encoding: .utf8)
        let failing = try orbit(["model", "fit", "--csv", bad.path])
        XCTAssertNotEqual(finish(failing), 0)
        XCTAssertTrue(failing.output.contains { $0.contains("line 3") }, failing.output.joined(separator: "\n"))
    }

    /// Fit CDNOW, then score it: analysts can compare each customer's numbers with their own
    /// tools. Customer 1 (x = 2, t_x = 30.43, T = 38.86 weeks) expects 1.226 purchases in the next
    /// 39 weeks in Fader, Hardie and Lee (2005).
    /// `orbit model fit --from-state --apply` reads the scorer's state changelog: a fit it refuses
    /// (too few customers for the minimum asked) deploys nothing and says why; a good one is
    /// deployed on orbit.models, and `orbit model show` tells which is in use.
    func testModelFitFromStateDeploysAFitOrRefusesOneAndShowSaysWhich() throws {
        let broker = try orbit(["broker"])
        let line = try broker.waitForLine(containing: "orbit broker: listening on")
        let bootstrap = String(line.components(separatedBy: "listening on ")[1].split(separator: " ")[0])
        // 400 customers who buy as BG/NBD says, as the scorer's state changelog holds them.
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": bootstrap]), name: "test", logger: Logger(label: "test"))
        let batch = DeliveryBatch()
        var random = SeededRandom(seed: 5)
        func uniform() -> Double { Double(random.int(1_000_000) + 1) / 1_000_001 }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for i in 0..<400 {
            let rate = (-log(uniform()) - log(uniform())) / 60, dropout = 1 - pow(uniform(), 1.0 / 4)
            var t = uniform() * 200, n = 0
            var state = UserState()
            while t < 365 {
                let id = "u\(i)-\(n)"
                _ = state.apply(UserEvent(id: id, userID: "u\(i)", type: .purchase, timeMillis: now - Int64((365 - t) * 86_400_000),
                                          properties: JSONObject([(key: "order_id", value: .string(id)), (key: "amount_minor", value: .number(JSONNumber(Int64(1_000 + i * 10)))),
                                                                  (key: "currency", value: .string("USD"))])), policy: ScoringPolicy())
                n += 1
                if n > 1, uniform() < dropout { break }
                t += -log(uniform()) / rate
            }
            try producer.send(ProducerRecord(topic: OrbitTopics.scorerStateChangelog, key: Array("u\(i)".utf8), value: state.encoded()), in: batch)
        }
        try batch.waitForAll()
        producer.close()

        let refused = try orbit(["model", "fit", "--from-state", "--apply", "--min-customers", "1000"])
        XCTAssertNotEqual(finish(refused), 0)
        XCTAssertTrue(refused.output.contains { $0.contains("refused (too_few_customers): 400 customers with a purchase, fewer than the 1000") && $0.contains("the deployed model stays") },
                      refused.output.joined(separator: "\n"))
        let before = try orbit(["model", "show"])
        XCTAssertEqual(finish(before), 0, before.output.joined(separator: "\n"))
        XCTAssertTrue(before.output.contains { $0.hasPrefix("in use: the model file (no refit deployed)") }, before.output.joined(separator: "\n"))
        XCTAssertTrue(before.output.contains { $0.hasPrefix("last fit: refused") && $0.contains("too_few_customers") }, before.output.joined(separator: "\n"))

        let applied = try orbit(["model", "fit", "--from-state", "--apply"])
        XCTAssertEqual(finish(applied, timeout: 120), 0, applied.output.joined(separator: "\n"))
        XCTAssertTrue(applied.output.contains { $0.hasPrefix("customers: 400 (") }, applied.output.joined(separator: "\n"))
        XCTAssertTrue(applied.output.contains { $0.hasPrefix("deployed to orbit.models (key churn)") }, applied.output.joined(separator: "\n"))
        let after = try orbit(["model", "show"])
        XCTAssertEqual(finish(after), 0)
        XCTAssertTrue(after.output.contains { $0.hasPrefix("in use: the refit deployed on orbit.models at") && $0.contains("from 400 customers") }, after.output.joined(separator: "\n"))
        XCTAssertTrue(after.output.contains { $0.hasPrefix("last fit: applied") }, after.output.joined(separator: "\n"))
        XCTAssertEqual(try broker.terminate(), 0)
    }

    func testModelScorePrintsEveryCustomersAliveProbabilityExpectedPurchasesAndCLV() throws {
        let csv = ServiceProcess.repositoryRoot.appendingPathComponent("Tests/OrbitScoringTests/Fixtures/cdnow_customers_summary_with_transactions.csv")
        let model = home.appendingPathComponent("model.yaml")
        XCTAssertEqual(finish(try orbit(["model", "fit", "--csv", csv.path, "--write", model.path])), 0)
        let scores = home.appendingPathComponent("scores.csv")
        let score = try orbit(["model", "score", "--csv", csv.path, "--model", model.path, "--horizon-days", "273", "--output", scores.path])
        XCTAssertEqual(finish(score), 0, score.output.joined(separator: "\n"))
        let lines = try String(contentsOf: scores, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "id,frequency,recency,T,monetary_value,p_alive,expected_purchases_273d,expected_order_value,clv_12m")
        XCTAssertEqual(lines.count, 1 + 2357)
        let first = lines[1].split(separator: ",").map(String.init)
        XCTAssertEqual(first[0], "1")
        XCTAssertEqual(Double(first[6])!, 1.226, accuracy: 0.01)
        let rows = lines.dropFirst().map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertTrue(rows.allSatisfy { (0...1).contains($0[5]) && $0[6] >= 0 && $0[7] > 0 && $0[8] >= 0 })
        // Customers without repeat purchases are alive with probability 1 under BG/NBD.
        XCTAssertTrue(rows.filter { $0[1] == 0 }.allSatisfy { $0[5] == 1 })

        let bad = home.appendingPathComponent("bad.csv")
        try "frequency,recency,T\n1,5,3\n".write(to: bad, atomically: true, encoding: .utf8)
        let failing = try orbit(["model", "score", "--csv", bad.path, "--model", model.path])
        XCTAssertNotEqual(finish(failing), 0)
        XCTAssertTrue(failing.output.contains { $0.contains("line 2") && $0.contains("recency cannot exceed T") }, failing.output.joined(separator: "\n"))
    }

    func testPublishWithoutABrokerFailsWithAClearMessage() throws {
        let events = home.appendingPathComponent("e.jsonl")
        try "{}\n".write(to: events, atomically: true, encoding: .utf8)
        let publish = try ServiceProcess(executable: "orbit", arguments: ["publish", events.path],
                                         environment: ["ORBIT_HOME": home.appendingPathComponent("none").path])
        XCTAssertNotEqual(finish(publish), 0)
        XCTAssertTrue(publish.output.contains { $0.contains("no Kafka to talk to") }, publish.output.joined(separator: "\n"))
    }

    func testANumberOutOfRangeIsAUsageErrorNamingTheOptionNotATrap() throws {
        let cases: [([String], String)] = [
            (["bench", "scorer", "--rounds", "0"], "--rounds must be from 1 to 100, not 0"),
            (["bench", "scorer", "--core-only", "--users", "0"], "--users must be at least 1, not 0"),
            (["bench", "ingest", "--events=-5"], "--events must be at least 1, not -5"),
            (["bench", "pipeline", "--scorers", "1,x,3"], "--scorers takes comma-separated counts"),
            (["bench", "notify", "--fetch-wait-ms", "400000"], "--fetch-wait-ms must be from 0 to 300000"),
            (["user", "ann", "--entries=-1"], "--entries must be from 0 to 10000, not -1"),
            (["model", "score", "--csv", "x.csv", "--horizon-days", "nan"], "--horizon-days must be a number above 0"),
            (["topics", "create", "--replication-factor", "0"], "--replication-factor must be -1"),
        ]
        for (arguments, message) in cases {
            let process = try orbit(arguments)
            XCTAssertEqual(finish(process), 64, "\(arguments): ArgumentParser's usage-error status")
            XCTAssertTrue(process.output.contains { $0.contains(message) }, "\(arguments): \(process.output.joined(separator: "\n"))")
        }
    }

    /// The scorer's core-only benchmark is deterministic: every round writes the same bytes, which is
    /// what lets its digest compare two builds.
    func testTheScorersCoreOnlyBenchmarkWritesTheSameBytesEveryRound() throws {
        let bench = try ServiceProcess(executable: "orbit", arguments: ["bench", "scorer", "--core-only", "--events", "3000", "--users", "300", "--rounds", "2"],
                                       environment: ["ORBIT_HOME": home.path])
        XCTAssertEqual(finish(bench, timeout: 120), 0, bench.output.joined(separator: "\n"))
        let digests = bench.output.compactMap { line in line.range(of: "outputs digest ").map { String(line[$0.upperBound...]) } }
        XCTAssertEqual(digests.count, 2, bench.output.joined(separator: "\n"))
        XCTAssertEqual(Set(digests).count, 1, "two rounds, two different outputs: \(digests)")
        XCTAssertTrue(bench.output.contains { $0.contains(" 300 profiles") }, "3,000 events of 300 users in one batch: one profile per user. \(bench.output)")
    }

    /// The membership benches run the shipped topology, small, to their last line: each renames
    /// every topic the service names (a topic added to the service and not to a bench failed the
    /// bench's start on co-partitioning, unnoticed until it was run by hand).
    func testTheMembershipBenchesRunTheShippedTopologyToTheirRatio() throws {
        let members = try ServiceProcess(executable: "orbit", arguments: ["bench", "members", "--events", "3000", "--users", "300", "--partitions", "4", "--rounds", "1"],
                                         environment: ["ORBIT_HOME": home.path])
        XCTAssertEqual(finish(members, timeout: 300), 0, members.output.joined(separator: "\n"))
        XCTAssertTrue(members.output.contains { $0.hasPrefix("ratio:") }, members.output.joined(separator: "\n"))
        let redeem = try ServiceProcess(executable: "orbit", arguments: ["bench", "redeem", "--redemptions", "2000", "--members", "400", "--rewards", "20", "--partitions", "4"],
                                        environment: ["ORBIT_HOME": home.path])
        XCTAssertEqual(finish(redeem, timeout: 300), 0, redeem.output.joined(separator: "\n"))
        let ratios = redeem.output.first { $0.hasPrefix("ratios: ") }
        XCTAssertNotNil(ratios, redeem.output.joined(separator: "\n"))
        XCTAssertTrue(ratios?.contains("spread over 20 rewards") == true && ratios?.contains("one hot reward") == true, ratios ?? "")
    }
}
