import OrbitCore

/// An A/B test on a trigger: weighted variants (each may have its own template), a holdout that
/// gets nothing, and the conversion that measures it.
///
/// Assignment is a pure function of the experiment id and the user id (a stable hash), so every
/// instance, every replay and the report agree on who is in which group without sharing state.
public struct Experiment: Sendable, Equatable {
    public static let holdout = "holdout"

    public var id: String
    /// Variant names and weights, in configuration order.
    public var variants: [(name: String, weight: Int)]
    /// Share of users, in percent, who get nothing (the control group).
    public var holdoutPercent: Int
    /// The event type that counts as a conversion, and how long after the assignment it counts.
    public var conversionEvent: String
    public var conversionWindowMillis: Int64

    public init(id: String, variants: [(name: String, weight: Int)], holdoutPercent: Int, conversionEvent: String, conversionWindowMillis: Int64) {
        self.id = id
        self.variants = variants
        self.holdoutPercent = holdoutPercent
        self.conversionEvent = conversionEvent
        self.conversionWindowMillis = conversionWindowMillis
    }

    /// The user's group: a variant name or ``holdout``.
    public func assign(userID: String) -> String {
        let bucket = Int(StableHash.fnv1a("\(id)\u{1F}\(userID)") % 10_000)
        if bucket < holdoutPercent * 100 { return Self.holdout }
        let total = variants.reduce(0) { $0 + $1.weight }
        guard total > 0 else { return variants.first?.name ?? Self.holdout }
        // Spread the rest of the buckets over the variants by weight.
        let position = (bucket - holdoutPercent * 100) * total / max(1, 10_000 - holdoutPercent * 100)
        var upTo = 0
        for variant in variants {
            upTo += variant.weight
            if position < upTo { return variant.name }
        }
        return variants[variants.count - 1].name
    }

    public static func == (lhs: Experiment, rhs: Experiment) -> Bool {
        lhs.id == rhs.id && lhs.holdoutPercent == rhs.holdoutPercent && lhs.conversionEvent == rhs.conversionEvent
            && lhs.conversionWindowMillis == rhs.conversionWindowMillis
            && lhs.variants.map(\.name) == rhs.variants.map(\.name) && lhs.variants.map(\.weight) == rhs.variants.map(\.weight)
    }
}
