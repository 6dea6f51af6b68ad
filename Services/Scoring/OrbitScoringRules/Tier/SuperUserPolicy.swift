import OrbitContract

/// Who counts as a super user (MVP). Every configured criterion must hold; a criterion left
/// unset (nil) is not checked. The reasons say which criteria a user met or missed.
public struct SuperUserPolicy: Sendable, Equatable {
    public var minPaidPurchases: Int? = 2
    /// Net spend at or above this quantile of all users' (0.9: the top decile).
    public var minSpendQuantile: Double? = 0.9
    public var minTenureDays: Int? = 90
    public var minCommunityActions30d: Int? = 5
    public var minConvertedReferrals: Int? = nil

    public init() {}

    public struct Facts: Sendable, Equatable {
        public var paidPurchases: Int
        public var netSpendMinor: Int64
        public var tenureDays: Int
        public var communityActions30d: Int
        public var convertedReferrals: Int

        public init(paidPurchases: Int, netSpendMinor: Int64, tenureDays: Int, communityActions30d: Int, convertedReferrals: Int) {
            self.paidPurchases = paidPurchases
            self.netSpendMinor = netSpendMinor
            self.tenureDays = tenureDays
            self.communityActions30d = communityActions30d
            self.convertedReferrals = convertedReferrals
        }
    }

    /// - Parameter spendThreshold: the population's spend at `minSpendQuantile` (from the shared
    ///   quantile sketch); nil when not known yet, in which case the spend criterion fails.
    public func evaluate(_ facts: Facts, spendThreshold: Double?) -> (isSuperUser: Bool, missing: [SuperUserShortfall]) {
        var missing: [SuperUserShortfall] = []
        if let n = minPaidPurchases, facts.paidPurchases < n { missing.append(.paidPurchases(facts.paidPurchases, needs: n)) }
        if let q = minSpendQuantile {
            if let threshold = spendThreshold {
                if Double(facts.netSpendMinor) < threshold || facts.netSpendMinor <= 0 {
                    missing.append(.spendBelowTop(percent: Int(((1 - q) * 100).rounded())))
                }
            } else {
                missing.append(.populationSpendUnknown)
            }
        }
        if let days = minTenureDays, facts.tenureDays < days { missing.append(.tenureDays(facts.tenureDays, needs: days)) }
        if let n = minCommunityActions30d, facts.communityActions30d < n { missing.append(.communityActions30d(facts.communityActions30d, needs: n)) }
        if let n = minConvertedReferrals, facts.convertedReferrals < n { missing.append(.convertedReferrals(facts.convertedReferrals, needs: n)) }
        return (missing.isEmpty, missing)
    }
}

/// A super-user criterion a user does not meet, with the figures that say by how much.
///
/// Kept as figures and written as text only into the profile's JSON (``write(to:)``): the text of
/// every criterion of every user evaluated, built as `String`s per evaluation, was a tenth of the
/// scorer's evaluation.
public enum SuperUserShortfall: Sendable, Equatable, CustomStringConvertible {
    case paidPurchases(Int, needs: Int)
    case spendBelowTop(percent: Int)
    case populationSpendUnknown
    case tenureDays(Int, needs: Int)
    case communityActions30d(Int, needs: Int)
    case convertedReferrals(Int, needs: Int)

    /// The reason as the profile's `super_user_missing` states it.
    public var description: String {
        switch self {
        case .paidPurchases(let have, let needs): "paid \(have) times (needs \(needs))"
        case .spendBelowTop(let percent): "spend below the top \(percent) %"
        case .populationSpendUnknown: "population spend not known yet"
        case .tenureDays(let days, let needs): "tenure \(days) days (needs \(needs))"
        case .communityActions30d(let have, let needs): "\(have) community actions in 30 days (needs \(needs))"
        case .convertedReferrals(let have, let needs): "\(have) converted referrals (needs \(needs))"
        }
    }

    /// Writes ``description`` as a JSON string, part by part, without building it.
    public func write(to w: inout JSONWriter) {
        w.beginString()
        switch self {
        case .paidPurchases(let have, let needs):
            w.stringPart("paid "); w.stringPart(Int64(have)); w.stringPart(" times (needs "); w.stringPart(Int64(needs)); w.stringPart(ascii: ")")
        case .spendBelowTop(let percent):
            w.stringPart("spend below the top "); w.stringPart(Int64(percent)); w.stringPart(" %")
        case .populationSpendUnknown:
            w.stringPart("population spend not known yet")
        case .tenureDays(let days, let needs):
            w.stringPart("tenure "); w.stringPart(Int64(days)); w.stringPart(" days (needs "); w.stringPart(Int64(needs)); w.stringPart(ascii: ")")
        case .communityActions30d(let have, let needs):
            w.stringPart(Int64(have)); w.stringPart(" community actions in 30 days (needs "); w.stringPart(Int64(needs)); w.stringPart(ascii: ")")
        case .convertedReferrals(let have, let needs):
            w.stringPart(Int64(have)); w.stringPart(" converted referrals (needs "); w.stringPart(Int64(needs)); w.stringPart(ascii: ")")
        }
        w.endString()
    }
}
