import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring
import OrbitTestSupport
import XCTest

/// orbit-scorer as real processes against the local broker: scaling out, crashing, and still the
/// same final profiles.
final class ScorerServiceTests: XCTestCase {
    let logger = Logger(label: "test.scorer")

    /// Fixed "now" and configured thresholds: the final profiles are then a function of the input only.
    static let environment = [
        "ORBIT__SCORING__FIXED_NOW": "2026-12-31T00:00:00Z",
        "ORBIT__SCORING__RFM__MODE": "thresholds",
        "ORBIT__SCORING__EVALUATION_INTERVAL_SECONDS": "1",
        "ORBIT__PROCESSING__MAX_BATCH_RECORDS": "300",
        "ORBIT__PROCESSING__MAX_BATCH_WAIT_MS": "50",
    ]

    func scorer(_ broker: LocalBroker, extra: [String: String] = [:]) throws -> ServiceProcess {
        var environment = LocalProfile.environment(bootstrap: broker.bootstrapServers)
        environment["ORBIT__SERVICE__HTTP_PORT"] = "0"
        environment["ORBIT__SERVICE__HTTP_HOST"] = "127.0.0.1"
        environment.merge(Self.environment) { _, new in new }
        environment.merge(extra) { _, new in new }
        return try ServiceProcess(executable: "orbit-scorer",
                                  arguments: ["--config", ServiceProcess.repositoryRoot.appendingPathComponent("deploy/config/scoring.yaml").path],
                                  environment: environment)
    }

    func publish(_ records: ArraySlice<ProducerRecord>, to broker: LocalBroker) throws {
        try broker.publish(records, logger: logger)
    }

    /// Waits until the scorers have processed every event and every credit, and nothing moves for a while.
    func waitUntilQuiet(_ broker: LocalBroker, timeout: TimeInterval = 240) throws {
        var quietSince: Date?
        let settled = try eventually(timeout: timeout, interval: 0.5) {
            let lag = try consumerLag(bootstrap: broker.bootstrapServers, group: "orbit-scorer",
                                      topics: [OrbitTopics.validEvents, OrbitTopics.scorerReferralCredits])
            if lag == 0 {
                quietSince = quietSince ?? Date()
                return Date().timeIntervalSince(quietSince!) > 4
            }
            quietSince = nil
            return false
        }
        XCTAssertTrue(settled, "the scorers caught up")
    }

    /// The latest profile of every user, as bytes.
    func finalProfiles(_ broker: LocalBroker) throws -> [String: [UInt8]] {
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.userProfiles])
        try reader.readToEnd()
        var latest: [String: (offset: Int64, value: [UInt8])] = [:]
        for record in reader.records[OrbitTopics.userProfiles]! {
            let key = String(decoding: record.key!, as: UTF8.self)
            if record.offset >= latest[key]?.offset ?? -1 { latest[key] = (record.offset, record.value!) }
        }
        return latest.mapValues(\.value)
    }

    /// The reference: the whole workload through a single scorer on a broker of its own.
    func profilesFromOneScorer(_ workload: ScorerWorkload) throws -> [String: [UInt8]] {
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics())
        defer { broker.stop() }
        let only = try scorer(broker)
        try publish(workload.records[...], to: broker)
        try waitUntilQuiet(broker)
        let profiles = try finalProfiles(broker)
        XCTAssertEqual(try only.terminate(), 0)
        return profiles
    }

    func testOneScorerAndThreeScorersWithACrashGiveIdenticalProfiles() throws {
        let workload = ScorerWorkload.make(users: 500, seed: 11)
        XCTAssertGreaterThan(workload.records.count, 4_000)

        let single = try profilesFromOneScorer(workload)
        XCTAssertEqual(Set(single.keys), workload.users, "every user has a profile")

        // Two scorers, grown to three, one of them killed with SIGKILL mid-stream.
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics())
        defer { broker.stop() }
        let a = try scorer(broker), b = try scorer(broker)
        let half = workload.records.count / 2
        try publish(workload.records[..<half], to: broker)
        let c = try scorer(broker)
        let portC = try c.httpPort()
        XCTAssertTrue(eventually(timeout: 90) { !HTTPProbe.assignedPartitions(port: portC).isEmpty }, "the third scorer got partitions")
        try publish(workload.records[half...], to: broker)
        b.killHard()
        try waitUntilQuiet(broker)
        let scaled = try finalProfiles(broker)
        XCTAssertTrue(a.isRunning && c.isRunning)

        XCTAssertEqual(Set(scaled.keys), Set(single.keys))
        XCTAssertEqual(Self.differences(single, scaled), [], "final profiles differ")

        // The referral circle really crossed partitions.
        let circles = single.values.compactMap { try? JSONParser.parse($0).objectValue?["referral_circle"]?.objectValue }
        XCTAssertGreaterThan(circles.filter { ($0["converted"]?.numberValue?.int64Value ?? 0) > 0 }.count, 5)
        _ = try a.terminate()
        _ = try c.terminate()
    }

    /// `state.store: disk`: a clean stop leaves checkpoints, the next instance on the same disk
    /// resumes from them instead of the whole changelog, and the profiles are those of memory.
    func testEveryInstanceAppliesTheSameGlobalQuantileThresholds() throws {
        let workload = ScorerWorkload.make(users: 400, seed: 5)
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics())
        defer { broker.stop() }
        let quantiles = ["ORBIT__SCORING__RFM__MODE": "quantiles"]
        let a = try scorer(broker, extra: quantiles), b = try scorer(broker, extra: quantiles)
        let portA = try a.httpPort(), portB = try b.httpPort()
        XCTAssertTrue(eventually(timeout: 90) {
            !HTTPProbe.assignedPartitions(port: portA).isEmpty && !HTTPProbe.assignedPartitions(port: portB).isEmpty
        }, "both instances own partitions")
        try publish(workload.records[...], to: broker)
        try waitUntilQuiet(broker)
        func lastThresholds(_ process: ServiceProcess) -> String? {
            guard let line = process.output.last(where: { $0.contains("thresholds from") }), let start = line.range(of: "buyers in") else { return nil }
            return String(line[start.lowerBound...])
        }
        // Each instance sees every partition's sketch (8 partitions) and derives the same cut points.
        XCTAssertTrue(eventually(timeout: 30) {
            guard let x = lastThresholds(a), let y = lastThresholds(b) else { return false }
            return x == y && x.contains("in 8 partitions")
        }, "A: \(lastThresholds(a) ?? "none")\nB: \(lastThresholds(b) ?? "none")")
        XCTAssertFalse(lastThresholds(a)?.contains("recency_days [14.0, 30.0, 90.0, 180.0]") ?? true, "quantiles, not the configured defaults")
        _ = try a.terminate()
        _ = try b.terminate()
    }

    /// Interactive queries across instances: three scorers, each user asked of every instance; the
    /// owner answers, the others redirect to it (307, from `orbit.instances`), and the answer is
    /// the profile the scorer published, byte for byte.
    func testAnyInstanceAnswersALookupForAnyUserThroughTheOwnersRedirect() throws {
        let workload = ScorerWorkload.make(users: 300, seed: 3)
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics())
        defer { broker.stop() }
        let tokenFile = NSTemporaryDirectory() + "orbit-query-token-\(UUID().uuidString)"
        try "query-token-for-the-test\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        let scorers = try (0..<3).map { _ in try scorer(broker, extra: ["ORBIT__SERVICE__QUERY_TOKEN_FILE": tokenFile]) }
        let ports = try scorers.map { try $0.httpPort() }
        XCTAssertTrue(eventually(timeout: 90) { ports.allSatisfy { !HTTPProbe.assignedPartitions(port: $0).isEmpty } }, "every scorer owns partitions")
        try publish(workload.records[...], to: broker)
        try waitUntilQuiet(broker)
        let published = try finalProfiles(broker)
        let authorization = ["Authorization": "Bearer query-token-for-the-test"]
        XCTAssertEqual(try HTTPProbe.request(port: ports[0], path: "/v1/users/\(published.keys.first!)").status, 401, "no token, no answer")
        var redirects = 0, answered = 0
        // Redirects need every instance's record: allow the registry a moment after the last rebalance.
        XCTAssertTrue(eventually(timeout: 30) {
            (try? HTTPProbe.request(port: ports[0], path: "/v1/users/\(published.keys.sorted()[0])", headers: authorization).status).map { $0 == 200 || $0 == 307 } ?? false
        })
        for user in published.keys.sorted().prefix(60) {
            for port in ports {
                var answer = try HTTPProbe.request(port: port, path: "/v1/users/\(user)", headers: authorization)
                if answer.status == 307, let location = answer.headers["location"], let url = URL(string: location), let owner = url.port {
                    redirects += 1
                    XCTAssertTrue(ports.contains(owner), location)
                    answer = try HTTPProbe.request(port: owner, path: url.path, headers: authorization)
                }
                XCTAssertEqual(answer.status, 200, "\(user) asked of \(port): \(answer.body)")
                XCTAssertEqual(answer.body, String(decoding: published[user]!, as: UTF8.self), "\(user): the answer is the published profile")
                answered += 1
            }
        }
        // An unknown user: 404 from its partition's owner.
        var unknown = try HTTPProbe.request(port: ports[1], path: "/v1/users/nobody-at-all", headers: authorization)
        if unknown.status == 307, let url = unknown.headers["location"].flatMap(URL.init(string:)), let owner = url.port {
            unknown = try HTTPProbe.request(port: owner, path: url.path, headers: authorization)
        }
        XCTAssertEqual(unknown.status, 404, unknown.body)
        print("queries: \(answered) lookups over 3 scorers answered, \(redirects) of them through the owner's 307")
        XCTAssertGreaterThan(redirects, answered / 3, "most lookups were asked of an instance that does not own the user")
        for scorer in scorers { XCTAssertEqual(try scorer.terminate(), 0) }
    }

    /// Users whose profiles differ, with both versions, as text (at most three).
    static func differences(_ a: [String: [UInt8]], _ b: [String: [UInt8]]) -> [String] {
        var result: [String] = []
        for user in Set(a.keys).union(b.keys).sorted() where a[user] != b[user] {
            result.append("\(user):\n  \(a[user].map { String(decoding: $0, as: UTF8.self) } ?? "none")\n  \(b[user].map { String(decoding: $0, as: UTF8.self) } ?? "none")")
        }
        if result.count > 3 { return Array(result.prefix(3)) + ["... \(result.count - 3) more"] }
        return result
    }
}

/// A synthetic population already in `.valid` form: purchases (several currencies), refunds,
/// referrals across users, community activity, check-ins, complaints, overdue payments.
struct ScorerWorkload {
    var records: [ProducerRecord] = []
    var users = Set<String>()

    static func make(users count: Int, seed: UInt64) -> ScorerWorkload {
        var random = SeededRandom(seed: seed)
        var workload = ScorerWorkload()
        var perUser: [(String, [UserEvent])] = []
        let start = try! RFC3339.parse("2026-01-01T00:00:00Z")
        for u in 0..<count {
            let user = "user-\(u)"
            workload.users.insert(user)
            var events: [UserEvent] = []
            var time = start + Int64(random.int(200)) * 86_400_000
            func add(_ type: EventType, _ properties: [(String, JSONValue)] = []) {
                time += Int64(1 + random.int(20)) * 3_600_000 * Int64(1 + random.int(48))
                events.append(UserEvent(id: "\(user)-\(events.count)", userID: user, type: type, timeMillis: time,
                                        properties: JSONObject(properties.map { (key: $0.0, value: $0.1) })))
            }
            add(.signup)
            let purchases = random.int(10) < 3 ? 0 : 1 + random.int(random.int(10) < 2 ? 20 : 4)
            for p in 0..<purchases {
                let currency = ["USD", "USD", "EUR", "JPY"][random.int(4)]
                let minor = Int64(500 + random.int(30_000)) / (currency == "JPY" ? 1 : 1)
                add(.purchase, [("order_id", .string("\(user)-o\(p)")), ("amount_minor", .number(JSONNumber(minor))), ("currency", .string(currency)),
                                ("items", .array([.object(JSONObject([(key: "sku", value: .string("s")), (key: "category", value: .string(["a", "b", "c", "d"][random.int(4)]))]))]))])
                if random.int(12) == 0 { add(.refund, [("order_id", .string("\(user)-o\(p)")), ("amount_minor", .number(JSONNumber(minor / 2))), ("currency", .string(currency))]) }
            }
            if random.int(6) == 0 { add(.referral, [("referred_user_id", .string("user-\(random.int(count))"))]) }
            for _ in 0..<random.int(8) { add([.post, .comment, .like, .share][random.int(4)]) }
            for _ in 0..<random.int(5) { add(.checkIn) }
            if random.int(15) == 0 { add(.complaint, [("ticket_id", .string("t")), ("severity", .string("high"))]) }
            if random.int(20) == 0 { add(.paymentOverdue, [("invoice_id", .string("i")), ("amount_minor", .number(JSONNumber(999))), ("currency", .string("USD")), ("days_overdue", .number(JSONNumber(12)))]) }
            if random.int(5) == 0 { time += 200 * 86_400_000; add(.login) }  // some come back after a long quiet spell
            perUser.append((user, events))
        }
        // Interleave users as a live stream would, keeping each user's own order.
        var cursors = [Int](repeating: 0, count: perUser.count)
        var remaining = perUser.reduce(0) { $0 + $1.1.count }
        while remaining > 0 {
            let u = random.int(perUser.count)
            guard cursors[u] < perUser[u].1.count else { continue }
            let event = perUser[u].1[cursors[u]]
            cursors[u] += 1
            remaining -= 1
            workload.records.append(ProducerRecord(topic: OrbitTopics.validEvents, key: Array(event.userID.utf8), value: event.encoded()))
        }
        return workload
    }
}
