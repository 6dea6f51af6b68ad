import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitTestSupport
import XCTest

/// The points mall with orbit-members as a real process on the local broker: 2,000 members
/// redeem one reward with a stock of 150 at once, over 16 partitions, while the service is killed
/// with SIGKILL twice. Exactly 150 are issued, every other hold is released, no member goes above
/// the reward's limit, and `LedgerVerifier` (what `orbit verify ledger` runs) finds nothing.
final class MallServiceTests: XCTestCase {
    let logger = Logger(label: "test.mall")

    static let config = """
    kafka: {client.id: orbit-members-mall-test}
    processing: {max_batch_records: 500, max_batch_wait_ms: 100}
    membership:
      config_version: test
      evaluation_interval_seconds: 5
      lot_expiry: never
      levels: [{name: member, threshold: 0}]
      rules:
        - {id: signup, kind: event, event: signup, points: 100}
    """

    func testTwoThousandMembersRedeemAStockOf150WhileTheServiceIsKilledTwice() throws {
        let config = try MembersProcess.configuration(Self.config, name: "mall")
        defer { try? FileManager.default.removeItem(at: config) }
        let broker = try LocalBroker(topics: TopicCatalogue.orbitTopics(partitions: 16))
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        defer { producer.close() }
        func publish(_ records: [ProducerRecord]) throws {
            let batch = DeliveryBatch()
            for record in records { try producer.send(record, in: batch) }
            try batch.waitForAll()
        }

        // Price 60 of each member's 100: one each, and a second redemption is also refused by the limit.
        let reward = Reward(id: "coffee", names: ["en": "Coffee", "zh-CN": "咖啡"], pricePoints: 60, stock: .limited(150), limits: [.lifetime: 1],
                            issue: .coupon(valueMinor: 500, currency: "USD", validityDays: 30))
        try publish([ProducerRecord(topic: OrbitTopics.rewards, key: Array("coffee".utf8), value: reward.encoded())])
        let users = (0..<2_000).map { "m\($0)" }
        let start = try RFC3339.parse("2026-06-01T00:00:00Z")
        try publish(users.enumerated().map { i, user in
            ProducerRecord(topic: OrbitTopics.validEvents, key: Array(user.utf8),
                           value: UserEvent(id: "signup-\(user)", userID: user, type: .signup, timeMillis: start + Int64(i), properties: JSONObject()).encoded())
        })
        var service = try MembersProcess.start(broker, config: config)
        _ = try service.httpPort()
        let ledger = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.pointsLedger])
        XCTAssertTrue(try ledger.read(timeout: 120) { ($0[OrbitTopics.pointsLedger] ?? []).count >= users.count }, "every member signed up")

        // Every member redeems once; every tenth twice (another request id): 2,200 requests.
        var commands: [ProducerRecord] = []
        for (i, user) in users.enumerated() {
            for n in 0..<(i % 10 == 0 ? 2 : 1) {
                let json = #"{"type":"redeem_reward","request_id":"r-\#(user)-\#(n)","user_id":"\#(user)","reward_id":"coffee"}"#
                commands.append(ProducerRecord(topic: OrbitTopics.memberCommands, key: Array(user.utf8), value: Array(json.utf8)))
            }
        }
        let events = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.memberEvents])
        // Every command at once, so the kills land while redemptions are in flight in every stage.
        try publish(commands)
        for kill in 1...2 {
            // 400 more events, or every command answered (a fast service may finish between the
            // kills: the second then lands on an idle service, still a restart to recover from).
            let target = events.count(OrbitTopics.memberEvents) + 400
            XCTAssertTrue(try events.read(timeout: 120) { read in
                let all = read[OrbitTopics.memberEvents] ?? []
                return all.count >= target || all.filter { $0.value.map { String(decoding: $0, as: UTF8.self).contains(#""kind":"command_result""#) } ?? false }.count >= commands.count
            }, "progress before kill \(kill)")
            service.killHard()
            service = try MembersProcess.start(broker, config: config)
        }

        XCTAssertTrue(try MembersProcess.caughtUp(broker, groups: [
            ("orbit-members-router", [OrbitTopics.validEvents, OrbitTopics.memberCommands, OrbitTopics.membersInternal]),
            ("orbit-members", [OrbitTopics.membersInputs]), ("orbit-members-stock", [OrbitTopics.membersStockRequests]),
        ]), "the service caught up")
        XCTAssertTrue(service.isRunning)

        let (records, report) = try MembersProcess.published(broker)
        XCTAssertEqual(report.violations, [], "ledger invariants, holds included")
        XCTAssertEqual(report.committed, 150, "exactly the stock was issued")
        XCTAssertTrue(report.openHolds.isEmpty, "every hold settled: \(report.openHolds.prefix(3))")
        XCTAssertEqual(report.holds, report.committed + report.released)

        var results: [String: [UInt8]] = [:]
        var reasons: [String: Int] = [:]
        var acceptedPerMember: [String: Int] = [:]
        for record in records[OrbitTopics.memberEvents]! {
            guard let o = try? JSONParser.parse(record.value!).objectValue, o["kind"]?.stringValue == "command_result",
                  let request = o["request_id"]?.stringValue else { continue }
            if let previous = results[request] {
                XCTAssertEqual(previous, record.value!, "request \(request) answered twice, differently")
                continue
            }
            results[request] = record.value!
            let status = o["status"]?.stringValue ?? "?"
            reasons[status == "accepted" ? "accepted" : o["reason"]?.stringValue ?? "?", default: 0] += 1
            if status == "accepted" { acceptedPerMember[o["user_id"]?.stringValue ?? "?", default: 0] += 1 }
        }
        XCTAssertEqual(results.count, commands.count, "one result per request")
        XCTAssertEqual(reasons["accepted"], 150)
        XCTAssertEqual(acceptedPerMember.values.max(), 1, "no member above the lifetime limit of 1")
        XCTAssertEqual(reasons.values.reduce(0, +), commands.count)
        XCTAssertEqual(Set(reasons.keys).subtracting(["accepted", "out_of_stock", "limit_reached", "insufficient_points"]), [], "\(reasons)")
        let issued = records[OrbitTopics.memberEvents]!.filter { String(decoding: $0.value ?? [], as: UTF8.self).contains("\"kind\":\"reward_redeemed\"") }
        XCTAssertEqual(Set(issued.map(\.value)).count, 150, "a reward_redeemed event per coupon issued")
        print("mall test: \(report.holds) holds, \(report.committed) committed, \(report.released) released, \(report.repeatedCopies) identical repeats after 2 kills; results \(reasons)")
        _ = try service.terminate()
    }
}
