import Foundation
import OrbitContract
import OrbitDemoData
import OrbitIngest
import OrbitKafka
import OrbitMembership
import OrbitNotify
import OrbitRuntime
import OrbitScoring
import OrbitTestKit
import XCTest

/// The demo population (``DemoPopulation``, with its contacts, then the points mall's catalogue
/// and redemptions (``DemoMall``), then erasure requests for some of its users) through every
/// service's declared
/// topology in process, with the shipped configuration and one set clock: ingestion, the scorer,
/// membership and notify (all but the delivery stage, whose outputs are the mail and webhook
/// servers' answers) share one log, and each topic's records are hashed in partition and offset
/// order. The hashes are recorded in `demo-digest.txt`: a change that is meant to change no output
/// (a refactor, an optimisation) must leave every line as it is; a change that means to change
/// an output updates the file in the same commit (`ORBIT_RECORD_DEMO_DIGEST=1 swift test --filter
/// DemoDigestTests`), and the diff shows which topics it changed.
final class DemoDigestTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let recorded = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("demo-digest.txt")
    /// 2026-03-10T12:00:00Z: the population's clock and every stage's.
    static let now: Int64 = 1_773_144_000_000

    func testTheDemoPopulationsOutputsAreTheRecordedBytes() throws {
        let digest = try Self.run(users: 1000)
        XCTAssertEqual(try Self.run(users: 1000), digest, "two runs of the same population write the same bytes")
        let lines = digest.joined(separator: "\n") + "\n"
        if ProcessInfo.processInfo.environment["ORBIT_RECORD_DEMO_DIGEST"] == "1" {
            try lines.write(to: Self.recorded, atomically: true, encoding: .utf8)
        }
        print("demo digest (topic, records, hash):\n" + lines)
        let expected = (try? String(contentsOf: Self.recorded, encoding: .utf8)) ?? "(no recorded digest)"
        XCTAssertEqual(lines, expected, "the outputs differ from Tests/OrbitDemoTests/demo-digest.txt in the lines above")
    }

    /// One line per topic the log holds: its name, its record count and a hash of every record's
    /// partition, key, value and headers in partition and offset order.
    static func run(users: Int) throws -> [String] {
        let log = InMemoryLog(partitions: 4)
        let drivers = try [
            driver("ingest.yaml", service: "orbit-ingest", log: log) { try IngestService.topology(IngestSettings(document: $0), runtime: $1) },
            driver("scoring.yaml", service: "orbit-scorer", log: log) { try ScorerService.topology(ScoringSettings(document: $0), runtime: $1) },
            driver("membership.yaml", service: "orbit-members", log: log) { try MembershipService.topology(MembershipSettings(document: $0), runtime: $1) },
            driver("notify.yaml", service: "orbit-notify", log: log) { document, runtime in
                var topology = NotifyService.topology(try NotifySettings(document: document), runtime: runtime)
                topology.stages.removeAll { $0.name == "-delivery" }
                return topology
            },
        ]
        let first = drivers[0]
        for record in DemoContacts.records(users: DemoContacts.userIDs(users), now: now) {
            first.send(record.topic, key: record.key, value: record.value)
        }
        try settle(drivers)
        for record in DemoPopulation(users: users, seed: 42, now: now).generate() {
            log.append(ProducerRecord(topic: OrbitTopics.userEvents, key: record.key, value: record.value), timestampMillis: now)
        }
        try settle(drivers)
        // The points mall: the catalogue, then the members' redemptions.
        for record in DemoMall.catalogue() { log.append(ProducerRecord(topic: OrbitTopics.rewards, key: record.key, value: record.value), timestampMillis: now) }
        for record in DemoMall.commands(users: DemoContacts.userIDs(users), now: now) {
            log.append(ProducerRecord(topic: OrbitTopics.memberCommands, key: record.key, value: record.value), timestampMillis: record.timestampMillis)
        }
        try settle(drivers)
        // The shop uses coupons (some wrongly), as `orbit demo` does.
        let issued = log.records(OrbitTopics.memberEvents).compactMap { record -> DemoMall.IssuedCoupon? in
            guard let o = try? JSONParser.parse(record.value ?? []).objectValue, o["kind"]?.stringValue == "coupon_issued", let code = o["code"]?.stringValue,
                  let user = o["user_id"]?.stringValue, let expires = o["expires"]?.stringValue.flatMap({ try? RFC3339.parse($0) }) else { return nil }
            return DemoMall.IssuedCoupon(user: user, code: code, expiresAtMillis: expires)
        }
        for event in DemoMall.uses(of: issued, now: now).events {
            log.append(ProducerRecord(topic: OrbitTopics.userEvents, key: event.key, value: event.value), timestampMillis: now)
        }
        try settle(drivers)
        // Erasure requests for one user in fifty, and one that is not a request (a dead letter in
        // each service that reads them).
        for user in DemoContacts.userIDs(users) where user.hasSuffix("00") || user.hasSuffix("50") {
            let request = PrivacyRequest(requestID: "erase-\(user)", userID: user, requestedAtMillis: now)
            log.append(ProducerRecord(topic: OrbitTopics.privacyRequests, key: Array(user.utf8), value: request.encoded()), timestampMillis: now)
        }
        log.append(ProducerRecord(topic: OrbitTopics.privacyRequests, key: Array("u000001".utf8), value: Array("{}".utf8)), timestampMillis: now)
        try settle(drivers)
        // A day later: every stage's punctuation (the scorer's daily evaluation, membership's
        // expiry ticks, notify's clock), and what they cause.
        for driver in drivers { driver.nowMillis = now + 86_400_000 }
        for driver in drivers { try driver.punctuate() }
        try settle(drivers)
        if let topic = ProcessInfo.processInfo.environment["ORBIT_DEMO_DUMP"] {  // to see what a changed line changed
            for record in log.records(topic) { print("\(record.partition) \(String(decoding: record.key ?? [], as: UTF8.self)) \(String(decoding: record.value ?? [], as: UTF8.self))") }
        }
        return log.topics.map { topic in
            var digest: UInt64 = 0
            let records = log.records(topic)
            for record in records {
                var headers: [UInt8] = []
                for header in record.headers {
                    headers += Array(header.name.utf8)
                    headers.append(0)
                    headers += header.value ?? []
                    headers.append(0)
                }
                let parts: [[UInt8]] = [Array(String(record.partition).utf8), record.key ?? [], record.value ?? [], headers]
                for part in parts { digest = (digest ^ StableHash.content(part)) &* 0x9E37_79B9_7F4A_7C15 }
            }
            return "\(topic) \(records.count) \(String(format: "%016llx", digest))"
        }
    }

    /// Every stage of every service, in turn, until none has anything left to read.
    static func settle(_ drivers: [TopologyTestDriver]) throws {
        while try drivers.map({ try $0.run() }).reduce(0, +) > 0 {}
    }

    static func driver(_ file: String, service: String, log: InMemoryLog,
                       _ topology: (ConfigDocument, RuntimeSettings) throws -> ServiceTopology) throws -> TopologyTestDriver {
        // A fixed pseudonym key: receipts name users by it, and the default key is made per home.
        let key = NSTemporaryDirectory() + "orbit-demo-digest.key"
        try Data("orbit demo digest pseudonym key".utf8).write(to: URL(fileURLWithPath: key))
        let document = try ConfigDocument.load(path: root.appendingPathComponent("deploy/config/\(file)").path,
                                               environment: ["ORBIT__KAFKA__BOOTSTRAP_SERVERS": "localhost:9092", "ORBIT__PRIVACY__PSEUDONYM_KEY_FILE": key])
        let runtime = try RuntimeSettings(document: document, defaultServiceName: service, defaultHTTPPort: 0)
        return try TopologyTestDriver(try topology(document, runtime), runtime: runtime, log: log, nowMillis: now)
    }
}
