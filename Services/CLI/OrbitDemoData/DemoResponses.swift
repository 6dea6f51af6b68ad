import Foundation
import OrbitContract

/// How the demo's people answer messages, as people do: a share acts after the first message of
/// an experiment (a journey, a campaign, a trigger with variants; more for one variant than
/// another), a few act with no message at all (the holdout's baseline), most never. Every decision
/// is a pure function of the seed, the user and the experiment, so the same seed gives the same week.
public enum DemoResponses {
    /// What acting means for each experiment (a journey's is `journey:<id>`): the event the user
    /// publishes.
    public static func action(experiment: String) -> String {
        experiment == "journey:renewal" ? "subscription_renewed" : "purchase"
    }

    /// The share who act within the week after the experiment's first message, by variant.
    public static func rateAfterMessage(experiment: String, variant: String?) -> Double {
        switch (experiment, variant) {
        case ("journey:winback", "discount"): 0.30
        case ("journey:winback", "free_delivery"): 0.15
        case ("journey:onboarding", _): 0.25
        case ("journey:renewal", _): 0.55
        case ("win_back_offer", "discount"): 0.25
        case ("win_back_offer", _): 0.12
        default: 0.20
        }
    }

    /// The share who act within the week with no message (the holdout, or anyone not reached).
    public static func baseRate(experiment: String) -> Double {
        experiment == "journey:renewal" ? 0.15 : 0.04
    }

    /// Whether the user acts, and how long after `from` (a message, or the week's start for the
    /// baseline): 2 to 40 hours after a message, any time in the week without one.
    public static func response(seed: UInt64, user: String, experiment: String, variant: String?, messaged: Bool) -> Int64? {
        let rate = messaged ? rateAfterMessage(experiment: experiment, variant: variant) : baseRate(experiment: experiment)
        guard draw(seed, user, experiment, "acts") < rate else { return nil }
        let hours = messaged ? 2 + 38 * draw(seed, user, experiment, "delay") : 6 * 24 * draw(seed, user, experiment, "delay")
        return Int64(hours * 3_600_000)
    }

    /// A user event of the demo's week (valid by the contract; `action` events carry what
    /// ingestion asks of them).
    public static func event(id: String, user: String, type: String, time: Int64) -> [UInt8] {
        let properties: [(String, JSONValue)]
        switch type {
        case "purchase": properties = [("order_id", .string("o-\(id)")), ("amount", .string("42.00")), ("currency", .string("USD"))]
        case "subscription_renewed": properties = [("plan", .string("plus")), ("amount", .string("9.99")), ("currency", .string("USD"))]
        case "signup": properties = [("channel", .string("web"))]
        default: properties = []
        }
        return DemoPopulation.event(id: id, user: user, type: type, time: time, properties: properties)
    }

    /// A uniform number in [0, 1) from FNV-1a over the parts.
    static func draw(_ seed: UInt64, _ parts: String...) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for part in parts {
            for byte in part.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            hash = (hash ^ 0xff) &* 0x100_0000_01b3
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return Double(hash >> 11) / Double(1 << 53)
    }
}
