import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitTestSupport
import XCTest

/// orbit-members as a real process, killed with SIGKILL three times while 100k events and 10k
/// commands flow: the ledger keeps its invariants and every balance equals a recomputation.
final class MembersServiceTests: XCTestCase {
    let logger = Logger(label: "test.members")

    /// Rules simple enough to recompute by hand: 100 points per signup, 1 per whole USD spent.
    static let config = """
    kafka: {client.id: orbit-members-test}
    processing: {max_batch_records: 5000, max_batch_wait_ms: 200}
    membership:
      config_version: test
      evaluation_interval_seconds: 5
      lot_expiry: never
      levels: [{name: member, threshold: 0}]
      rules:
        - {id: spend, kind: spending, points_per_unit: 1}
        - {id: signup, kind: event, event: signup, points: 100}
    """

    func members(_ broker: LocalBroker, config: URL) throws -> ServiceProcess { try MembersProcess.start(broker, config: config) }

    func testHundredThousandEventsTenThousandCommandsThreeKillsZeroViolations() throws {
        let config = try MembersProcess.configuration(Self.config, name: "members")
        defer { try? FileManager.default.removeItem(at: config) }
        // 16 partitions keep every topic under the local broker's 5 MiB per partition.
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics(partitions: 16))
        defer { broker.stop() }

        var random = SeededRandom(seed: 2026)
        let users = (0..<20_000).map { "m\($0)" }
        var events: [ProducerRecord] = []
        var earned: [String: Int64] = [:]
        let start = try RFC3339.parse("2026-01-01T00:00:00Z")
        for (i, user) in users.enumerated() {
            let signup = UserEvent(id: "signup-\(user)", userID: user, type: .signup, timeMillis: start + Int64(i) * 1000, properties: JSONObject())
            events.append(ProducerRecord(topic: OrbitTopics.validEvents, key: Array(user.utf8), value: signup.encoded()))
            earned[user, default: 0] += 100
        }
        while events.count < 100_000 {
            let user = users[random.int(users.count)]
            let minor = Int64(100 + random.int(30_000))
            let event = UserEvent(id: "buy-\(events.count)", userID: user, type: .purchase, timeMillis: start + Int64(events.count) * 1000,
                                  properties: JSONObject([(key: "order_id", value: .string("o\(events.count)")), (key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD"))]))
            events.append(ProducerRecord(topic: OrbitTopics.validEvents, key: Array(user.utf8), value: event.encoded()))
            earned[user, default: 0] += minor / 100
        }
        // Commands: redemptions (bursts for one user, some too large), adjustments, transfers, repeats.
        var commands: [ProducerRecord] = []
        var distinct: [String: (type: String, user: String, to: String?, points: Int64)] = [:]
        func command(_ json: String, key: String) { commands.append(ProducerRecord(topic: OrbitTopics.memberCommands, key: Array(key.utf8), value: Array(json.utf8))) }
        var n = 0
        while commands.count < 10_000 {
            let user = users[random.int(users.count)]
            switch random.int(10) {
            case 0..<6:
                for _ in 0..<(1 + random.int(4)) {  // concurrent redemptions for the same user
                    n += 1
                    let points = Int64(1 + random.int(1_200))
                    distinct["r\(n)"] = ("redeem", user, nil, points)
                    command(#"{"type":"redeem","request_id":"r\#(n)","user_id":"\#(user)","points":\#(points),"reward_id":"gift"}"#, key: user)
                }
            case 6..<8:
                n += 1
                let points = Int64(random.int(400)) - 150
                guard points != 0 else { continue }
                distinct["r\(n)"] = ("adjust", user, nil, points)
                command(#"{"type":"adjust","request_id":"r\#(n)","user_id":"\#(user)","points":\#(points),"reason":"goodwill","operator":"ops"}"#, key: user)
            case 8:
                n += 1
                let to = users[random.int(users.count)]
                guard to != user else { continue }
                let points = Int64(1 + random.int(300))
                distinct["r\(n)"] = ("transfer", user, to, points)
                command(#"{"type":"transfer","request_id":"r\#(n)","from":"\#(user)","to":"\#(to)","points":\#(points)}"#, key: user)
            default:
                if !commands.isEmpty { commands.append(commands[random.int(commands.count)]) }  // a repeated request id
            }
        }

        let ledger = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.pointsLedger])
        var service = try members(broker, config: config)
        _ = try service.httpPort()
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        // Publish in four waves, killing the service with SIGKILL after each of the first three.
        for wave in 0..<4 {
            let batch = DeliveryBatch()
            for record in events[(wave * events.count / 4)..<((wave + 1) * events.count / 4)] { try producer.send(record, in: batch) }
            for record in commands[(wave * commands.count / 4)..<((wave + 1) * commands.count / 4)] { try producer.send(record, in: batch) }
            try batch.waitForAll()
            guard wave < 3 else { break }
            let target = ledger.count(OrbitTopics.pointsLedger) + 8_000
            XCTAssertTrue(try ledger.read(timeout: 120) { $0[OrbitTopics.pointsLedger]!.count >= target }, "progress before kill \(wave + 1)")
            service.killHard()
            service = try members(broker, config: config)
        }
        producer.close()

        // Wait until everything (including transfers through the internal topic) is processed.
        XCTAssertTrue(try MembersProcess.caughtUp(broker, groups: [
            ("orbit-members-router", [OrbitTopics.validEvents, OrbitTopics.memberCommands, OrbitTopics.membersInternal]),
            ("orbit-members", [OrbitTopics.membersInputs]),
        ]), "the service caught up")
        XCTAssertTrue(service.isRunning)

        let (records, report) = try MembersProcess.published(broker)
        XCTAssertEqual(report.violations, [], "ledger invariants")
        print("members test: \(report.entries) ledger entries, \(report.repeatedCopies) identical repeats after 3 kills, \(report.users) users")

        // Exactly one result per request (repeats identical), and the recomputation.
        var results: [String: [UInt8]] = [:]
        var statuses: [String: String] = [:]
        for record in records[OrbitTopics.memberEvents]! {
            guard let o = try? JSONParser.parse(record.value!).objectValue, o["kind"]?.stringValue == "command_result",
                  let request = o["request_id"]?.stringValue else { continue }
            if let previous = results[request], previous != record.value! {
                XCTFail("request \(request) answered differently:\n\(String(decoding: previous, as: UTF8.self))\n\(String(decoding: record.value!, as: UTF8.self))")
            }
            results[request] = record.value!
            statuses[request] = o["status"]?.stringValue
        }
        XCTAssertEqual(Set(results.keys), Set(distinct.keys), "one result per request id")
        var expected = earned
        for (request, c) in distinct where statuses[request] == "accepted" {
            switch c.type {
            case "redeem": expected[c.user, default: 0] -= c.points
            case "adjust": expected[c.user, default: 0] += c.points
            default:
                expected[c.user, default: 0] -= c.points
                expected[c.to!, default: 0] += c.points
            }
        }
        XCTAssertGreaterThan(statuses.values.filter { $0 == "rejected" }.count, 100, "some redemptions were refused")
        XCTAssertGreaterThan(statuses.values.filter { $0 == "accepted" }.count, 1_000)
        var mismatches: [String] = []
        for (user, balance) in expected where report.balances[user] != balance { mismatches.append("\(user): expected \(balance), ledger \(report.balances[user] ?? -1)") }
        XCTAssertEqual(mismatches.prefix(5).map { $0 }, [], "\(mismatches.count) balances differ from the recomputation")
        _ = try service.terminate()
    }

    /// Failed before (1,906 of 1,940 commands rejected as `unknown_user`): an outside producer
    /// hashing keys with librdkafka's CRC32 put a member's commands on other partitions than its
    /// events, and the router forwarded each record to the partition number it came from. Now the
    /// router places every record by its key, whatever the producer's hash.
    func testCommandsFromAProducerWithAnotherHashReachTheMembersState() throws {
        let config = try MembersProcess.configuration(Self.config, name: "members-hash")
        defer { try? FileManager.default.removeItem(at: config) }
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics(partitions: 8))
        defer { broker.stop() }
        let service = try members(broker, config: config)
        _ = try service.httpPort()
        let users = (0..<300).map { "h\($0)" }
        let start = try RFC3339.parse("2026-01-01T00:00:00Z")
        // Events as Orbit's ingestion writes them (murmur2), commands as a CRC32 client would.
        let orbitProducer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        let crcProducer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers, "partitioner": "consistent_random"]), logger: logger)
        var moved = 0
        let events = DeliveryBatch()
        for (i, user) in users.enumerated() {
            let signup = UserEvent(id: "signup-\(user)", userID: user, type: .signup, timeMillis: start + Int64(i), properties: JSONObject())
            try orbitProducer.send(ProducerRecord(topic: OrbitTopics.validEvents, key: Array(user.utf8), value: signup.encoded()), in: events)
        }
        try events.waitForAll()
        // Every member exists (its signup points are on the ledger) before its command is sent.
        let ledger = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.pointsLedger])
        XCTAssertTrue(try ledger.read(timeout: 120) { ($0[OrbitTopics.pointsLedger] ?? []).count >= users.count }, "signups applied")
        let commands = DeliveryBatch()
        for user in users {
            let json = #"{"type":"redeem","request_id":"r-\#(user)","user_id":"\#(user)","points":40,"reward_id":"gift"}"#
            try crcProducer.send(ProducerRecord(topic: OrbitTopics.memberCommands, key: Array(user.utf8), value: Array(json.utf8)), in: commands)
        }
        try commands.waitForAll()
        orbitProducer.close()
        crcProducer.close()
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.memberCommands, OrbitTopics.memberEvents])
        XCTAssertTrue(try reader.read(timeout: 120) { records in
            (records[OrbitTopics.memberEvents] ?? []).filter { String(decoding: $0.value ?? [], as: UTF8.self).contains("command_result") }.count >= users.count
        }, "every command has a result")
        for record in reader.records[OrbitTopics.memberCommands]! where record.partition != KeyPartitioner.partition(of: record.key!, partitionCount: 8) { moved += 1 }
        XCTAssertGreaterThan(moved, users.count / 2, "most commands arrived on another partition than their key's")
        var statuses: [String: Int] = [:]
        for record in reader.records[OrbitTopics.memberEvents]! {
            guard let o = try? JSONParser.parse(record.value!).objectValue, o["kind"]?.stringValue == "command_result" else { continue }
            statuses["\(o["status"]!.stringValue!)\(o["reason"]?.stringValue.map { ":" + $0 } ?? "")", default: 0] += 1
        }
        XCTAssertEqual(statuses, ["accepted": users.count], "each member's command met its state")
        _ = try service.terminate()
    }
}
