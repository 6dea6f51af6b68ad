import ArgumentParser
import AsyncHTTPClient
import Foundation
import Histogram
import Logging
import NIOCore
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring

/// `orbit bench query`: lookups of one user (`GET /v1/users/{id}`) from outside, over HTTP, against
/// an orbit-scorer process whose state is on disk, at a fixed rate (open loop: each request is
/// timed from when it was due, so a slow answer delays no measurement). Beside each lookup, the
/// same server answers `/health/live` at the same rate on the same connections: the reference,
/// the same HTTP hops without the store. Then a second scorer joins: partitions move, it restores
/// them from the changelog, and the lookups (through the first instance, following its 307s) go on.
struct QueryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "query", abstract: "Profile lookups over HTTP from a scorer's disk store: p50/p99 (target p99 < 5 ms), and while a scorer restores.")

    @Option(help: "Users in the scorer's state (their state is written to its changelog, which the scorer restores).") var users = 1_000_000
    @Option(help: "Lookups per second (and as many reference requests).") var rate = 2_000
    @Option(help: "Seconds of lookups per phase.") var seconds = 20
    @Option(help: "Partitions (the local broker keeps at most 5 MiB per partition: 128 hold a million users' state).") var partitions = 128

    func validate() throws {
        try OptionChecks.require(users, "users", in: OptionChecks.positive)
        try OptionChecks.require(rate, "rate", in: 1...100_000)
        try OptionChecks.require(seconds, "seconds", in: 1...3600)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
    }

    func run() async throws {
        BenchCommand.quietLogs()
        let logger = Logger(label: "orbit.bench")
        let home = NSTemporaryDirectory() + "orbit-bench-query-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let token = "bench-query-token-\(UUID().uuidString)"
        try token.write(toFile: home + "/token", atomically: true, encoding: .utf8)

        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics(partitions: partitions))
        defer { broker.stop() }
        let kafka = KafkaConfiguration(LocalProfile.kafkaOverrides.merging(["bootstrap.servers": broker.bootstrapServers]) { a, _ in a })
        let settings = try ScoringSettings(document: try ConfigDocument.load(path: "deploy/config/scoring.yaml", environment: [:]))
        let loaded = ContinuousClock.now
        try Self.writeState(users: users, settings: settings, kafka: kafka, logger: logger)
        Output.line("orbit bench query: \(users) users' state written to \(settings.stateChangelogTopic) (\(partitions) partitions) in \(Self.format(ContinuousClock.now - loaded))")

        let services = ServiceProcesses()
        defer { services.stopAll() }
        func environment(_ name: String) -> [String: String] {
            var environment = LocalProfile.environment(bootstrap: broker.bootstrapServers)
            environment["ORBIT__SERVICE__HTTP_PORT"] = "0"
            environment["ORBIT__SERVICE__HTTP_HOST"] = "127.0.0.1"
            environment["ORBIT__SERVICE__QUERY_TOKEN_FILE"] = home + "/token"
            environment["ORBIT__STATE__STORE"] = "disk"
            environment["ORBIT__STATE__DIR"] = home + "/" + name
            return environment
        }
        let started = ContinuousClock.now
        try services.start(name: "scorer-1", executable: "orbit-scorer", arguments: ["--config", "deploy/config/scoring.yaml"], environment: environment("scorer-1"), quiet: true)
        let first = try await Self.waitForInstance(holding: partitions, excluding: [], kafka: kafka, services: services)
        let client = QueryClient(token: token, instances: [])
        try await Self.waitUntilReady(first, services: services)
        Output.line("scorer-1 at \(first): restored \(users) users from the changelog to disk and ready in \(Self.format(ContinuousClock.now - started))")

        let ids = (0..<users).map { "user-\($0)" }
        let steady = try await Self.load(base: first, token: client.token, ids: ids, rate: rate, seconds: seconds)
        Output.line(steady.lines(title: "lookups, one scorer"))

        // A second scorer joins: the group moves half the partitions to it, and it restores them.
        try services.start(name: "scorer-2", executable: "orbit-scorer", arguments: ["--config", "deploy/config/scoring.yaml"], environment: environment("scorer-2"), quiet: true)
        let moving = try await Self.load(base: first, token: client.token, ids: ids, rate: rate, seconds: seconds)
        Output.line(moving.lines(title: "lookups while a second scorer joins and restores (asked of scorer-1, 307s followed)"))
        let p99 = Double(steady.lookups.valueAtPercentile(99)) / 1000
        Output.line(String(format: "p99 %.2f ms (target < 5 ms) %@; lookup p99 / reference p99 %.2f", p99, p99 < 5 ? "PASS" : "BELOW TARGET",
                           Double(steady.lookups.valueAtPercentile(99)) / Double(max(1, steady.reference.valueAtPercentile(99)))))
        if let failed = services.exited.first { throw CLIError("\(failed.name) exited with \(failed.status)") }
    }

    /// Every user's scorer state (a sign-up and a purchase each), as the changelog holds it.
    static func writeState(users: Int, settings: ScoringSettings, kafka: KafkaConfiguration, logger: Logger) throws {
        let producer = try KafkaProducer(configuration: kafka, name: "bench-state", logger: logger)
        defer { producer.close() }
        let batch = DeliveryBatch()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for i in 0..<users {
            let user = "user-\(i)"
            var state = UserState()
            _ = state.apply(UserEvent(id: "s-\(i)", userID: user, type: .signup, timeMillis: now - Int64(i % 400) * 86_400_000, properties: JSONObject()), policy: settings.policy)
            _ = state.apply(UserEvent(id: "p-\(i)", userID: user, type: .purchase, timeMillis: now - Int64(i % 90) * 86_400_000,
                                      properties: JSONObject([(key: "order_id", value: .string("o-\(i)")), (key: "amount_minor", value: .number(JSONNumber(Int64(500 + i % 20_000)))),
                                                              (key: "currency", value: .string("USD"))])), policy: settings.policy)
            try producer.send(ProducerRecord(topic: settings.stateChangelogTopic, key: Array(user.utf8), value: state.encoded()), in: batch)
        }
        try batch.waitForAll()
    }

    /// The address of a scorer registered on `orbit.instances` holding partitions, other than `excluding`.
    static func waitForInstance(holding partitions: Int, excluding: Set<String>, kafka: KafkaConfiguration, services: ServiceProcesses) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            if let failed = services.exited.first { throw CLIError("\(failed.name) exited with \(failed.status)") }
            if let instance = try QueryClient.instances(kafka: kafka).first(where: { $0.service == "orbit-scorer" && !excluding.contains($0.url) && !($0.partitions[OrbitTopics.validEvents] ?? []).isEmpty }) {
                return instance.url
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw CLIError("no scorer registered its partitions on \(OrbitTopics.instances) within 600 s")
    }

    /// Until `/health/ready` answers 200: every partition's state restored.
    static func waitUntilReady(_ base: String, services: ServiceProcesses) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = client.shutdown() }
        let deadline = ContinuousClock.now + .seconds(1200)
        while ContinuousClock.now < deadline {
            if let failed = services.exited.first { throw CLIError("\(failed.name) exited with \(failed.status)") }
            if let response = try? await client.execute(HTTPClientRequest(url: base + "/health/ready"), timeout: .seconds(5)), response.status.code == 200 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw CLIError("\(base) was not ready within 1200 s")
    }

    struct Run {
        var lookups = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var reference = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var statuses: [Int: Int] = [:]
        var redirects = 0

        func lines(title: String) -> String {
            func ms(_ h: Histogram<UInt64>, _ p: Double) -> String { String(format: "%.2f", Double(h.valueAtPercentile(p)) / 1000) }
            let counted = statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return "\(title): \(lookups.totalCount) lookups, p50 \(ms(lookups, 50)) ms, p99 \(ms(lookups, 99)) ms, max \(ms(lookups, 100)) ms "
                + "(answers \(counted); \(redirects) through a 307); reference /health/live: p50 \(ms(reference, 50)) ms, p99 \(ms(reference, 99)) ms"
        }
    }

    /// `rate` lookups of random users and `rate` reference requests a second for `seconds`, each
    /// timed from when it was due; a 307 is followed (its time counts).
    static func load(base: String, token: String, ids: [String], rate: Int, seconds: Int) async throws -> Run {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        defer { _ = client.shutdown() }
        let total = rate * seconds
        let interval = Duration.nanoseconds(1_000_000_000 / Int64(rate))
        let start = ContinuousClock.now + .milliseconds(100)
        let results = SharedValue(Run())
        await withTaskGroup(of: Void.self) { group in
            var generator = SystemRandomNumberGenerator()
            for n in 0..<total {
                let due = start + interval * n
                let id = ids[Int.random(in: 0..<ids.count, using: &generator)]
                try? await Task.sleep(until: due, clock: .continuous)
                group.addTask {
                    var status = 0, redirected = false
                    var url = base + "/v1/users/" + id
                    for _ in 0..<3 {
                        var request = HTTPClientRequest(url: url)
                        request.headers.add(name: "Authorization", value: "Bearer \(token)")
                        guard let response = try? await client.execute(request, timeout: .seconds(10)) else { status = -1; break }
                        _ = try? await response.body.collect(upTo: 1 << 20)
                        status = Int(response.status.code)
                        guard status == 307, let location = response.headers.first(name: "Location") else { break }
                        url = location
                        redirected = true
                    }
                    let micros = UInt64(max(0, (ContinuousClock.now - due).nanoseconds / 1000))
                    results.update { run in
                        run.lookups.record(min(micros, 60_000_000))
                        run.statuses[status, default: 0] += 1
                        if redirected { run.redirects += 1 }
                    }
                }
                group.addTask {
                    let response = try? await client.execute(HTTPClientRequest(url: base + "/health/live"), timeout: .seconds(10))
                    _ = try? await response?.body.collect(upTo: 1 << 20)
                    let micros = UInt64(max(0, (ContinuousClock.now - due).nanoseconds / 1000))
                    results.update { $0.reference.record(min(micros, 60_000_000)) }
                }
            }
        }
        return results.value
    }

    static func format(_ duration: Duration) -> String { String(format: "%.1f s", Double(duration.nanoseconds) / 1e9) }
}
