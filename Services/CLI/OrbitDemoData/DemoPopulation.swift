import Foundation
import OrbitContract

/// A reproducible synthetic population: users who sign up, log in, buy (a heavy-tailed spend: most
/// buy little, a few buy a lot), refund, refer friends, post, check in, subscribe, fall behind on
/// payments and complain; plus a share of bad input and re-sent duplicates, as real producers send.
public struct DemoPopulation: Sendable {
    public struct Record: Sendable {
        public enum Expectation: Sendable { case valid(id: String), duplicate, bad(String) }
        public let key: [UInt8]?
        public let value: [UInt8]
        public let expectation: Expectation
    }

    public let users: Int
    public let seed: UInt64
    public let now: Int64
    public var badShare = 0.02
    public var duplicateShare = 0.01

    public init(users: Int, seed: UInt64, now: Int64) {
        self.users = users
        self.seed = seed
        self.now = now
    }

    /// One user event as the demo's producers write it.
    public static func event(id: String, user: String, type: String, time: Int64, properties: [(String, JSONValue)]) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("user_id"); w.string(user)
        w.key("type"); w.string(type)
        w.key("time"); w.string(RFC3339.format(millis: time))
        if !properties.isEmpty { w.key("properties"); w.value(.object(JSONObject(properties.map { (key: $0.0, value: $0.1) }))) }
        w.endObject()
        return w.bytes
    }

    public func generate() -> [Record] {
        var random = SplitMix64(seed: seed)
        var events: [(time: Int64, user: String, json: [UInt8], id: String)] = []
        let userIDs = DemoContacts.userIDs(users)
        let day: Int64 = 86_400_000
        var counter = 0
        func event(_ user: String, _ type: String, _ time: Int64, _ properties: [(String, JSONValue)]) {
            counter += 1
            let id = "demo-\(seed)-\(counter)"
            events.append((time, user, Self.event(id: id, user: user, type: type, time: time, properties: properties), id))
        }
        func money(_ minor: Int64, digits: Int) -> JSONValue {
            guard digits > 0 else { return .number(JSONNumber(minor)) }
            let scale = Int64(pow(10, Double(digits)))
            let fraction = String(minor % scale)
            return .string("\(minor / scale).\(String(repeating: "0", count: digits - fraction.count))\(fraction)")
        }
        let categories = ["books", "games", "garden", "kitchen", "music", "sports", "toys", "fashion"]
        for user in userIDs {
            let signup = now - Int64(random.uniform(1, 365) * Double(day))
            func at() -> Int64 { signup + Int64(random.uniform(0, 1) * Double(now - signup - 60_000)) }
            event(user, "signup", signup, [("channel", .string(["web", "ios", "android"][random.int(3)]))])
            for _ in 0..<random.int(12) { event(user, "login", at(), []) }
            // Heavy-tailed purchase counts and order values (Pareto-like).
            let purchases = Int(min(60, floor(random.pareto(alpha: 1.3) - 1)))
            let (currency, digits) = [("USD", 2), ("USD", 2), ("USD", 2), ("EUR", 2), ("JPY", 0)][random.int(5)]
            for p in 0..<purchases {
                let base = digits == 0 ? 1500.0 : 1.0
                let minor = Int64(max(1, exp(random.normal(mean: 3.3, sd: 0.9)) * 100 * (digits == 0 ? base / 100 : 1)))
                let category = categories[random.int(categories.count)]
                let order = "o-\(user)-\(p)"
                event(user, "purchase", at(), [
                    ("order_id", .string(order)), ("amount", money(minor, digits: digits)), ("currency", .string(currency)),
                    ("items", .array([.object(JSONObject([
                        (key: "sku", value: .string("sku-\(category)-\(random.int(50))")), (key: "category", value: .string(category)),
                        (key: "quantity", value: .number(JSONNumber(1))), (key: "price", value: money(minor, digits: digits)),
                    ]))])),
                ])
                if random.uniform(0, 1) < 0.05 {
                    event(user, "refund", at(), [("order_id", .string(order)), ("amount", money(max(1, minor / Int64(1 + random.int(2))), digits: digits)), ("currency", .string(currency))])
                }
            }
            if random.uniform(0, 1) < 0.1 {
                for _ in 0..<(1 + random.int(3)) {
                    let friend = userIDs[random.int(userIDs.count)]
                    if friend != user { event(user, "referral", at(), [("referred_user_id", .string(friend))]) }
                }
            }
            let community = Int(min(80, floor(random.pareto(alpha: 1.1) - 1)))
            for _ in 0..<community {
                let type = ["post", "comment", "like", "like", "share"][random.int(5)]
                event(user, type, at(), [("content_id", .string("c-\(random.int(5000))")), ("channel", .string("forum"))])
            }
            if random.uniform(0, 1) < 0.2 {
                let start = at()
                for d in 0..<Int64(random.int(14)) where start + d * day < now { event(user, "check_in", start + d * day, []) }
            }
            if random.uniform(0, 1) < 0.1 {
                event(user, "subscription_started", at(), [("plan", .string("plus")), ("amount", money(999, digits: 2)), ("currency", .string("USD"))])
                if random.uniform(0, 1) < 0.5 { event(user, "subscription_renewed", at(), [("plan", .string("plus")), ("amount", money(999, digits: 2)), ("currency", .string("USD"))]) }
                if random.uniform(0, 1) < 0.2 { event(user, "subscription_cancelled", at(), [("plan", .string("plus"))]) }
            }
            if random.uniform(0, 1) < 0.02 {
                event(user, "payment_overdue", at(), [("invoice_id", .string("inv-\(user)")), ("amount", money(999, digits: 2)), ("days_overdue", .number(JSONNumber(random.int(60))))])
            }
            if random.uniform(0, 1) < 0.03 {
                event(user, "complaint", at(), [("ticket_id", .string("t-\(user)")), ("severity", .string(["low", "medium", "high"][random.int(3)]))])
            }
        }
        events.sort { ($0.time, $0.id) < ($1.time, $1.id) }
        var records: [Record] = []
        records.reserveCapacity(events.count * 11 / 10)
        var sent: [Record] = []
        for e in events {
            let record = Record(key: Array(e.user.utf8), value: e.json, expectation: .valid(id: e.id))
            records.append(record)
            sent.append(record)
            if random.uniform(0, 1) < duplicateShare {
                records.append(Record(key: record.key, value: record.value, expectation: .duplicate))
            }
            if random.uniform(0, 1) < badShare {
                let bad = DemoPopulation.badInputs[random.int(DemoPopulation.badInputs.count)]
                records.append(Record(key: Array(e.user.utf8), value: Array(bad.payload(e.user, now).utf8), expectation: .bad(bad.code)))
            }
        }
        return records
    }

    /// Kinds of bad input real producers send, with the rejection code each must get.
    static let badInputs: [(code: String, payload: @Sendable (String, Int64) -> String)] = [
        ("malformed_json", { u, _ in "{\"id\":\"x\",\"user_id\":\"\(u)\"" }),
        ("not_an_object", { _, _ in "[1,2,3]" }),
        ("missing_field", { u, _ in "{\"id\":\"m-\(u)\",\"user_id\":\"\(u)\",\"type\":\"login\"}" }),
        ("unknown_event_type", { u, _ in "{\"id\":\"t-\(u)\",\"user_id\":\"\(u)\",\"type\":\"teleport\",\"time\":\"2026-01-01T00:00:00Z\"}" }),
        ("invalid_time", { u, _ in "{\"id\":\"d-\(u)\",\"user_id\":\"\(u)\",\"type\":\"login\",\"time\":\"yesterday\"}" }),
        ("invalid_amount", { u, _ in "{\"id\":\"a-\(u)\",\"user_id\":\"\(u)\",\"type\":\"purchase\",\"time\":\"2026-01-01T00:00:00Z\",\"properties\":{\"order_id\":\"o\",\"amount\":-5,\"currency\":\"USD\"}}" }),
        ("unknown_currency", { u, _ in "{\"id\":\"c-\(u)\",\"user_id\":\"\(u)\",\"type\":\"purchase\",\"time\":\"2026-01-01T00:00:00Z\",\"properties\":{\"order_id\":\"o\",\"amount\":5,\"currency\":\"XXX\"}}" }),
        ("time_in_future", { u, now in "{\"id\":\"f-\(u)\",\"user_id\":\"\(u)\",\"type\":\"login\",\"time\":\"\(RFC3339.format(millis: now + 86_400_000 * 30))\"}" }),
        ("unknown_field", { u, _ in "{\"id\":\"k-\(u)\",\"userId\":\"\(u)\",\"user_id\":\"\(u)\",\"type\":\"login\",\"time\":\"2026-01-01T00:00:00Z\"}" }),
        ("wrong_type", { u, _ in "{\"id\":42,\"user_id\":\"\(u)\",\"type\":\"login\",\"time\":\"2026-01-01T00:00:00Z\"}" }),
    ]
}

/// A small, fast, seedable generator (SplitMix64), so a demo run can be repeated exactly.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) / Double(1 << 53)
    }

    mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func normal(mean: Double, sd: Double) -> Double {
        let u1 = max(uniform(0, 1), 1e-12), u2 = uniform(0, 1)
        return mean + sd * sqrt(-2 * log(u1)) * cos(2 * .pi * u2)
    }

    /// Pareto with minimum 1.
    mutating func pareto(alpha: Double) -> Double {
        pow(max(uniform(0, 1), 1e-12), -1 / alpha)
    }
}
