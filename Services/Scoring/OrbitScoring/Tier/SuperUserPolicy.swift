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
    public func evaluate(_ facts: Facts, spendThreshold: Double?) -> (isSuperUser: Bool, missing: [String]) {
        var missing: [String] = []
        if let n = minPaidPurchases, facts.paidPurchases < n { missing.append("paid \(facts.paidPurchases) times (needs \(n))") }
        if let q = minSpendQuantile {
            if let threshold = spendThreshold {
                if Double(facts.netSpendMinor) < threshold || facts.netSpendMinor <= 0 {
                    missing.append("spend below the top \(Int(((1 - q) * 100).rounded())) %")
                }
            } else {
                missing.append("population spend not known yet")
            }
        }
        if let days = minTenureDays, facts.tenureDays < days { missing.append("tenure \(facts.tenureDays) days (needs \(days))") }
        if let n = minCommunityActions30d, facts.communityActions30d < n { missing.append("\(facts.communityActions30d) community actions in 30 days (needs \(n))") }
        if let n = minConvertedReferrals, facts.convertedReferrals < n { missing.append("\(facts.convertedReferrals) converted referrals (needs \(n))") }
        return (missing.isEmpty, missing)
    }
}
