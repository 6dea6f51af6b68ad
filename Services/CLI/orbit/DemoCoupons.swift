import Foundation
import Logging
import OrbitContract
import OrbitDemoData
import OrbitKafka

/// The demo's coupons: the shop uses some of the coupons the mall issued (through ingestion, as
/// `coupon_used` events), a few uses are wrong on purpose, and the coupons redeemed too long ago
/// expire on the coupon stage's clock. Checks that each coupon ends in the state it must and
/// each wrong use is rejected for its reason.
struct CouponDemo {
    var issued = 0
    var byStatus: [String: Int] = [:]
    var rejected: [String: Int] = [:]
    var expected: (used: Int, expired: Int, rejected: [String: Int]) = (0, 0, [:])
    var expiringNotices = 0
    var settled = false

    /// - Parameter memberEvents: `orbit.member-events` so far (the `coupon_issued` events).
    static func run(kafka: KafkaConfiguration, memberEvents: [ConsumerRecord], timeout: TimeInterval) async throws -> CouponDemo {
        var demo = CouponDemo()
        var coupons: [String: DemoMall.IssuedCoupon] = [:]
        for record in memberEvents {
            guard let o = try? JSONParser.parse(record.value ?? []).objectValue, o["kind"]?.stringValue == "coupon_issued",
                  let code = o["code"]?.stringValue, let user = o["user_id"]?.stringValue,
                  let expires = o["expires"]?.stringValue.flatMap({ try? RFC3339.parse($0) }) else { continue }
            coupons[code] = DemoMall.IssuedCoupon(user: user, code: code, expiresAtMillis: expires)
        }
        demo.issued = coupons.count
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let uses = DemoMall.uses(of: Array(coupons.values), now: now)
        demo.expected = (uses.used, coupons.values.filter { $0.expiresAtMillis <= now }.count, uses.rejected)
        let producer = try KafkaProducer(configuration: kafka, name: "orbit-demo-shop", logger: Logger(label: "orbit.demo"))
        let batch = DeliveryBatch()
        for event in uses.events { try producer.send(ProducerRecord(topic: OrbitTopics.userEvents, key: event.key, value: event.value), in: batch) }
        try batch.waitForAll()
        producer.close()

        // Uses go through ingestion, the ledger and the coupon stage; expiry waits for the coupon
        // stage's next clock tick (every membership.evaluation_interval_seconds).
        let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.coupons, OrbitTopics.memberEvents])
        demo.settled = try reader.read(timeout: timeout) { records in
            demo.tally(coupons: records[OrbitTopics.coupons] ?? [], memberEvents: records[OrbitTopics.memberEvents] ?? [])
            return demo.byStatus["used", default: 0] == demo.expected.used && demo.byStatus["expired", default: 0] == demo.expected.expired
                && demo.rejected == demo.expected.rejected
        }
        return demo
    }

    /// Each code's latest status, from the coupon records read so far.
    private var latest: [[UInt8]: String] = [:]
    private var seenEvents = Set<String>()
    private var read = (coupons: 0, memberEvents: 0)

    /// Adds the records that arrived since the last call: each code's latest status, and the
    /// rejections and notices (each event once, by id). The reader calls it on every poll.
    mutating func tally(coupons: [ConsumerRecord], memberEvents: [ConsumerRecord]) {
        for record in coupons.dropFirst(read.coupons) {
            guard let key = record.key, let status = try? JSONParser.parse(record.value ?? []).objectValue?["status"]?.stringValue else { continue }
            latest[key] = status
        }
        for record in memberEvents.dropFirst(read.memberEvents) {
            guard let o = try? JSONParser.parse(record.value ?? []).objectValue, let id = o["id"]?.stringValue, seenEvents.insert(id).inserted else { continue }
            switch o["kind"]?.stringValue {
            case "coupon_rejected": rejected[o["reason"]?.stringValue ?? "?", default: 0] += 1
            case "coupon_expiring": expiringNotices += 1
            default: break
            }
        }
        read = (coupons.count, memberEvents.count)
        byStatus = latest.values.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }

    func print() {
        Swift.print("== coupons: \(OrbitTopics.coupons), coupon_used ==")
        Swift.print("  \(issued) issued; now " + ["issued", "used", "expired", "voided"].map { "\($0) \(byStatus[$0, default: 0])" }.joined(separator: ", "))
        let uses = expected.used + expected.rejected.values.reduce(0, +)
        Swift.print("  the shop's uses: \(uses), rejected " + rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        let settled = byStatus["used", default: 0] + byStatus["expired", default: 0]
        Swift.print(String(format: "  use rate: %.0f%% of the coupons settled (used or expired)", settled == 0 ? 0 : 100 * Double(byStatus["used", default: 0]) / Double(settled)))
        Swift.print("")
        fflush(nil)
    }

    var problems: [String] {
        var problems: [String] = []
        if issued == 0 { problems.append("coupons: none was issued") }
        if byStatus["used", default: 0] != expected.used { problems.append("coupons: \(byStatus["used", default: 0]) used, \(expected.used) uses were valid") }
        if byStatus["expired", default: 0] != expected.expired { problems.append("coupons: \(byStatus["expired", default: 0]) expired, \(expected.expired) are past their validity") }
        if expected.expired == 0 { problems.append("coupons: none was redeemed long enough ago to expire (the demo backdates some on purpose)") }
        if rejected != expected.rejected { problems.append("coupons: rejected uses \(rejected.sorted { $0.key < $1.key }), expected \(expected.rejected.sorted { $0.key < $1.key })") }
        return problems
    }
}
