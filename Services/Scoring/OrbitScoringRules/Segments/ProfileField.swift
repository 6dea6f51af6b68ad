import OrbitContract

/// A field of a user's profile that an operator's segment may test, named as the profile's JSON
/// names it (`rfm.monetary_minor`, `lifecycle`): the same name reads the typed profile when the
/// scorer evaluates and the published JSON when `orbit segments preview` does.
public enum ProfileField: String, CaseIterable, Sendable {
    case segment, lifecycle, tier
    case superUser = "super_user"
    case rfmScore = "rfm.score"
    case recencyDays = "rfm.recency_days"
    case frequency = "rfm.frequency"
    case monetaryMinor = "rfm.monetary_minor"
    case r = "rfm.r", f = "rfm.f", m = "rfm.m"
    case evaluationScore = "evaluation_score"
    case probabilityAlive = "churn.probability_alive"
    case expectedPurchases30d = "churn.expected_purchases_30d"
    case expectedPurchases90d = "churn.expected_purchases_90d"
    case expectedOrderValueMinor = "churn.expected_order_value_minor"
    case clvMinor = "churn.clv_minor"
    case communityActions30d = "engagement.community_actions_30d"
    case checkInStreak = "engagement.check_in_streak"
    case checkInLongestStreak = "engagement.check_in_longest_streak"
    case referrals = "referral_circle.referrals"
    case convertedReferrals = "referral_circle.converted"
    case refereeSpendMinor = "referral_circle.referee_spend_minor"
    case referredBy = "referral_circle.referred_by"

    public enum Kind: String, Sendable { case number, text, flag }

    public var kind: Kind {
        switch self {
        case .segment, .lifecycle, .tier, .rfmScore, .referredBy: .text
        case .superUser: .flag
        default: .number
        }
    }

    /// Where the field is in the profile's JSON.
    var path: [String] {
        switch self {
        case .lifecycle: ["lifecycle", "stage"]
        default: rawValue.split(separator: ".").map(String.init)
        }
    }
}

/// A field's value: a number, a text or a flag. Numbers compare as numbers whatever their JSON
/// spelling (`5`, `5.0`).
public enum FieldValue: Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case text(String)
    case flag(Bool)

    public var description: String {
        switch self {
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .text(let t): t
        case .flag(let b): String(b)
        }
    }
}

/// What a segment's predicate reads: the typed profile (the scorer) or its JSON (a preview).
public protocol ProfileFieldSource {
    /// The field's value, or nil when the profile has none (a user who never bought has no recency).
    func value(of field: ProfileField) -> FieldValue?
}

extension UserProfile: ProfileFieldSource {
    public func value(of field: ProfileField) -> FieldValue? {
        func number(_ x: Double?) -> FieldValue? { x.flatMap { $0.isFinite ? .number($0) : nil } }
        switch field {
        case .segment: return .text(segment.rawValue)
        case .lifecycle: return .text(lifecycle.stage.rawValue)
        case .tier: return .text(tier.rawValue)
        case .superUser: return .flag(superUser)
        case .rfmScore: return .text(rfmScore.description)
        case .recencyDays: return number(rfmValues.recencyDays.map(Double.init))
        case .frequency: return .number(Double(rfmValues.frequency))
        case .monetaryMinor: return .number(Double(rfmValues.monetaryMinor))
        case .r: return .number(Double(rfmScore.recency))
        case .f: return .number(Double(rfmScore.frequency))
        case .m: return .number(Double(rfmScore.monetary))
        case .evaluationScore: return number((evaluationScore * 1000).rounded() / 1000)
        case .probabilityAlive: return number(probabilityAlive.map { ($0 * 1e6).rounded() / 1e6 })
        case .expectedPurchases30d: return number(expectedPurchases30d.map { ($0 * 1e6).rounded() / 1e6 })
        case .expectedPurchases90d: return number(expectedPurchases90d.map { ($0 * 1e6).rounded() / 1e6 })
        case .expectedOrderValueMinor: return number(expectedOrderValueMinor.map { ($0 * 100).rounded() / 100 })
        case .clvMinor: return number(clvMinor.map { ($0 * 100).rounded() / 100 })
        case .communityActions30d: return .number(Double(community30d))
        case .checkInStreak: return .number(Double(checkInStreak))
        case .checkInLongestStreak: return .number(Double(checkInLongest))
        case .referrals: return .number(Double(referrals))
        case .convertedReferrals: return .number(Double(convertedReferrals))
        case .refereeSpendMinor: return .number(Double(referralSpendMinor))
        case .referredBy: return referredBy.map(FieldValue.text)
        }
    }
}

/// A published profile (`orbit.user-profiles`), read by path.
public struct ProfileJSON: ProfileFieldSource {
    public let object: JSONObject
    public init(_ object: JSONObject) { self.object = object }

    public func value(of field: ProfileField) -> FieldValue? {
        var node: JSONValue = .object(object)
        for key in field.path {
            guard case .object(let o) = node, let next = o[key] else { return nil }
            node = next
        }
        switch (field.kind, node) {
        case (.number, .number(let n)): return Double(n.lexeme).map(FieldValue.number)
        case (.text, .string(let s)): return .text(s)
        case (.flag, .bool(let b)): return .flag(b)
        default: return nil
        }
    }
}
