/// A user's raw RFM values over the scoring window.
public struct RFMValues: Sendable, Equatable {
    /// Days since the last purchase; nil for a user who never bought.
    public var recencyDays: Int?
    /// Purchases in the window.
    public var frequency: Int
    /// Net spend in the window (purchases minus refunds), in minor units of the reporting currency.
    public var monetaryMinor: Int64

    public init(recencyDays: Int?, frequency: Int, monetaryMinor: Int64) {
        self.recencyDays = recencyDays
        self.frequency = frequency
        self.monetaryMinor = monetaryMinor
    }
}

/// R, F and M each scored 1 (worst) to 5 (best).
public struct RFMScore: Sendable, Equatable, CustomStringConvertible {
    public let recency: Int
    public let frequency: Int
    public let monetary: Int

    public init(recency: Int, frequency: Int, monetary: Int) {
        precondition((1...5).contains(recency) && (1...5).contains(frequency) && (1...5).contains(monetary))
        self.recency = recency
        self.frequency = frequency
        self.monetary = monetary
    }

    public var description: String { "\(recency)\(frequency)\(monetary)" }
}

/// Where the scores change. Four ascending cut points per dimension split it into five bands.
///
/// For F and M a value at or above the k-th cut point scores at least k+1. For R, fewer days is
/// better: at or below the k-th cut point (of `recencyDays`, ascending) scores 5-k. A user who
/// never bought scores R = 1.
public struct RFMThresholds: Sendable, Equatable, Codable {
    public var recencyDays: [Double]
    public var frequency: [Double]
    public var monetaryMinor: [Double]

    public init(recencyDays: [Double], frequency: [Double], monetaryMinor: [Double]) {
        self.recencyDays = recencyDays
        self.frequency = frequency
        self.monetaryMinor = monetaryMinor
    }

    public func score(_ values: RFMValues) -> RFMScore {
        let r: Int
        if let days = values.recencyDays {
            let band = recencyDays.firstIndex { Double(days) <= $0 } ?? recencyDays.count
            r = 5 - band
        } else {
            r = 1
        }
        return RFMScore(recency: max(1, r), frequency: Self.ascending(Double(values.frequency), frequency),
                        monetary: Self.ascending(Double(values.monetaryMinor), monetaryMinor))
    }

    static func ascending(_ value: Double, _ cuts: [Double]) -> Int {
        1 + cuts.filter { value >= $0 }.count
    }
}

/// The eight RFM value segments: R, F and M each high or low.
public enum RFMSegment: String, Sendable, CaseIterable, Codable {
    /// Recent, frequent, big spenders: the best users.
    case importantValue = "important_value"
    /// Frequent big spenders who have not bought lately: loyal but lapsing; win them back first.
    case importantKeep = "important_keep"
    /// Recent big spenders who buy rarely: grow their frequency.
    case importantDevelop = "important_develop"
    /// Big spenders, neither recent nor frequent: at risk of leaving for good.
    case importantRetain = "important_retain"
    /// Recent and frequent, small spend.
    case generalValue = "general_value"
    /// Frequent, small spend, not recent.
    case generalKeep = "general_keep"
    /// Recent, infrequent, small spend: new or occasional users.
    case generalDevelop = "general_develop"
    /// Low on everything.
    case generalRetain = "general_retain"

    /// A dimension is "high" at or above `highFrom` (3 by default: the top three of five bands).
    public init(_ score: RFMScore, highFrom: Int = 3) {
        let r = score.recency >= highFrom, f = score.frequency >= highFrom, m = score.monetary >= highFrom
        switch (m, r, f) {
        case (true, true, true): self = .importantValue
        case (true, false, true): self = .importantKeep
        case (true, true, false): self = .importantDevelop
        case (true, false, false): self = .importantRetain
        case (false, true, true): self = .generalValue
        case (false, false, true): self = .generalKeep
        case (false, true, false): self = .generalDevelop
        case (false, false, false): self = .generalRetain
        }
    }
}
