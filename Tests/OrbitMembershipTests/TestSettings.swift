import OrbitMembership

extension MembershipSettings {
    /// The rules the processor tests use: 1 point per USD spent, 100 for a signup, lots that never expire.
    static let spendAndSignup: MembershipSettings = {
        var s = MembershipSettings()
        s.policy.engine = EarningEngine(rules: [
            EarningRule(id: "spend", kind: .spending(pointsPerUnit: 1, minimumAmount: 0, excludedSKUs: [], excludedCategories: [])),
            EarningRule(id: "signup", kind: .event(.event(.signup), points: 100)),
        ])
        s.policy.lotExpiry = .never
        return s
    }()
}
