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

    /// `redeem_reward` commands (key: the user id): of every four users one redeems coffee, one
    /// the tote bag (with an address), one free delivery; every seventh asks twice under another
    /// request id (beyond a limit), every eleventh sends the same request twice.
    public static func commands(users: [String]) -> [(key: [UInt8], value: [UInt8])] {
        var commands: [(key: [UInt8], value: [UInt8])] = []
        for (index, user) in users.enumerated() where index % 4 != 3 {
            let reward = rewards[index % 4].id
            let address = reward == "demo-tote" ? #","address_ref":"addr-\#(user)""# : ""
            func command(_ n: Int) -> [UInt8] {
                Array(#"{"type":"redeem_reward","request_id":"mall-\#(user)-\#(n)","user_id":"\#(user)","reward_id":"\#(reward)"\#(address)}"#.utf8)
            }
            commands.append((Array(user.utf8), command(0)))
            if index % 7 == 0 { commands.append((Array(user.utf8), command(1))) }
            if index % 11 == 0 { commands.append((Array(user.utf8), command(0))) }
        }
        return commands
    }
}
