import OrbitContract
import OrbitMembershipRules

/// The demo's points mall: three rewards, two popular ones with small stock (so some redemptions
/// are refused for stock), and redemptions by part of the population, some of them repeated or
/// beyond a limit. Shared by `orbit demo` and the demo digest test.
public enum DemoMall {
    public static let rewards: [Reward] = [
        Reward(id: "demo-coffee", names: ["en": "Coffee coupon", "zh-CN": "咖啡券"], pricePoints: 100, stock: .limited(25), limits: [.day: 1],
               issue: .coupon(valueMinor: 500, currency: "USD", validityDays: 30)),
        Reward(id: "demo-tote", names: ["en": "Orbit tote bag", "zh-CN": "Orbit 帆布袋"], pricePoints: 300, stock: .limited(8), limits: [.lifetime: 1],
               issue: .goods(sku: "TOTE-DEMO")),
        Reward(id: "demo-delivery", names: ["en": "Free delivery for a month", "zh-CN": "一个月免运费"], pricePoints: 150, stock: .unlimited, limits: [.month: 1],
               issue: .benefit(name: "free_delivery", durationDays: 30)),
    ]

    /// The catalogue's records for `orbit.rewards`.
    public static func catalogue() -> [(key: [UInt8], value: [UInt8])] {
        rewards.map { (Array($0.id.utf8), $0.encoded()) }
    }

    /// `redeem_reward` commands (key: the user id) and their record times: of every four users one
    /// redeems coffee, one the tote bag (with an address), one free delivery; every seventh asks
    /// twice under another request id (beyond a limit), every eleventh sends the same request
    /// twice. Every third coffee is redeemed 40 days before `now` (a command the shop sends late
    /// keeps its time): its coupon is past its 30 days when issued, and the clock expires it.
    public static func commands(users: [String], now: Int64) -> [(key: [UInt8], value: [UInt8], timestampMillis: Int64)] {
        var commands: [(key: [UInt8], value: [UInt8], timestampMillis: Int64)] = []
        for (index, user) in users.enumerated() where index % 4 != 3 {
            let reward = rewards[index % 4].id
            let address = reward == "demo-tote" ? #","address_ref":"addr-\#(user)""# : ""
            let time = reward == "demo-coffee" && index % 3 == 0 ? now - 40 * 86_400_000 : now
            func command(_ n: Int) -> [UInt8] {
                Array(#"{"type":"redeem_reward","request_id":"mall-\#(user)-\#(n)","user_id":"\#(user)","reward_id":"\#(reward)"\#(address)}"#.utf8)
            }
            commands.append((Array(user.utf8), command(0), time))
            if index % 7 == 0 { commands.append((Array(user.utf8), command(1), time)) }
            if index % 11 == 0 { commands.append((Array(user.utf8), command(0), time)) }
        }
        return commands
    }

    /// A coupon the demo saw issued (a `coupon_issued` member event).
    public struct IssuedCoupon: Sendable, Equatable {
        public var user: String
        public var code: String
        public var expiresAtMillis: Int64
        public init(user: String, code: String, expiresAtMillis: Int64) { (self.user, self.code, self.expiresAtMillis) = (user, code, expiresAtMillis) }
    }

    /// The shop's `coupon_used` events (for `orbit.user-events`, key: the user id) for `coupons`:
    /// every other coupon still valid at `now` is used by its owner (as people type it: grouped,
    /// lower case), then one used code again on another order, one code by a member who does not
    /// own it, one unknown code and one expired coupon: four uses rejected, each for its reason.
    public static func uses(of coupons: [IssuedCoupon], now: Int64) -> (events: [(key: [UInt8], value: [UInt8])], used: Int, rejected: [String: Int]) {
        var events: [(key: [UInt8], value: [UInt8])] = []
        var rejected: [String: Int] = [:]
        func use(_ user: String, _ code: String, _ order: String) {
            let json = #"{"id":"coupon-use-\#(order)","user_id":"\#(user)","type":"coupon_used","time":"\#(RFC3339.format(millis: now))","properties":{"code":"\#(code)","order_id":"\#(order)"}}"#
            events.append((Array(user.utf8), Array(json.utf8)))
        }
        let sorted = coupons.sorted { $0.code < $1.code }
        let valid = sorted.filter { $0.expiresAtMillis > now }
        let used = valid.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        for (n, coupon) in used.enumerated() { use(coupon.user, CouponCode.grouped(coupon.code).lowercased(), "shop-\(n)") }
        if let first = used.first {
            use(first.user, first.code, "shop-again")
            rejected["coupon_already_used", default: 0] += 1
        }
        if let other = valid.dropFirst().first(where: { $0.user != valid[0].user }), let owner = valid.first {
            use(other.user, owner.code, "shop-foreign")
            rejected["foreign_coupon", default: 0] += 1
        }
        if let someone = sorted.first {
            use(someone.user, "0000-0000-0000-0000", "shop-unknown")
            rejected["unknown_coupon", default: 0] += 1
        }
        if let expired = sorted.first(where: { $0.expiresAtMillis <= now }) {
            use(expired.user, expired.code, "shop-expired")
            rejected["coupon_expired", default: 0] += 1
        }
        return (events, used.count, rejected)
    }
}
