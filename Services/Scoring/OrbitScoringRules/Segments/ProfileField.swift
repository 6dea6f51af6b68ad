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
    case firstTouchChannel = "tags.first_touch_channel"
    case topCategories = "tags.top_categories"
    case purchaseIntervalDays = "tags.purchase_interval_days"
    case favouriteWeekday = "tags.favourite_weekday"
    case favouriteHour = "tags.favourite_hour"
    case community = "tags.community"
    case level = "membership.level"
    case paid = "membership.paid"

    public var kind: FieldKind {
        switch self {
        case .segment, .lifecycle, .tier, .rfmScore, .referredBy, .firstTouchChannel, .favouriteWeekday, .community, .level: .text
        case .superUser, .paid: .flag
        case .topCategories: .list
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

/// What a field holds, and so which tests it takes: numbers and dates are ordered (`lt`,
/// `between`); texts, flags and lists are compared (`eq`, `ne`, `in`); a list `eq` a value
/// contains it, and is `in` values when it contains any of them.
public enum FieldKind: String, Sendable, Hashable { case number, text, flag, date, list }

/// A field a segment's condition names: a fixed field of the profile, a declared attribute
/// (`attributes.<name>`), or a count of recent events (`recent_events.<type>.<window>`), each
/// named as the profile's JSON names it.
public enum SegmentField: Sendable, Hashable, CustomStringConvertible {
    case profile(ProfileField)
    case attribute(String, AttributeKind)
    case recentEvents(EventType, RecentWindow)

    public var description: String {
        switch self {
        case .profile(let field): field.rawValue
        case .attribute(let name, _): "attributes.\(name)"
        case .recentEvents(let type, let window): "recent_events.\(type.name).\(window.label)"
        }
    }

    public var kind: FieldKind {
        switch self {
        case .profile(let field): field.kind
        case .attribute(_, let kind):
            switch kind {
            case .string, .enum: .text
            case .number: .number
            case .date: .date
            case .list: .list
            }
        case .recentEvents: .number
        }
    }

    /// Where the field is in the profile's JSON.
    var path: [String] {
        switch self {
        case .profile(let field): field.path
        case .attribute(let name, _): ["attributes", name]
        case .recentEvents(let type, let window): ["recent_events", type.name, window.label]
        }
    }

    /// The field a condition names, or why there is none.
    public static func named(_ name: String, attributes: AttributeSchema) -> Result<SegmentField, UnusableRecord> {
        if let field = ProfileField(rawValue: name) { return .success(.profile(field)) }
        if name.hasPrefix("attributes.") {
            let attribute = String(name.dropFirst("attributes.".count))
            guard let declaration = attributes[attribute] else {
                let declared = attributes.declarations.keys.sorted()
                return .failure(UnusableRecord(name, "\(attribute) is not a declared attribute (\(declared.isEmpty ? "none are declared in scoring.yaml attributes" : "declared: " + declared.joined(separator: ", ")))"))
            }
            return .success(.attribute(attribute, declaration.kind))
        }
        if name.hasPrefix("recent_events.") {
            let parts = name.split(separator: ".", omittingEmptySubsequences: false)
            let windows = RecentWindow.allCases.map(\.label).joined(separator: ", ")
            guard parts.count == 3, EventType.builtInSet.contains(EventType(String(parts[1]))), let window = RecentWindow(label: String(parts[2])) else {
                return .failure(UnusableRecord(name, "recent_events.<type>.<window>: a built-in event type (\(EventType.builtIn.map(\.name).joined(separator: ", "))) and one of \(windows)"))
            }
            return .success(.recentEvents(EventType(String(parts[1])), window))
        }
        return .failure(UnusableRecord(name, "\(name) is not a profile field (one of: \(ProfileField.allCases.map(\.rawValue).joined(separator: ", ")), attributes.<name>, recent_events.<type>.<window>)"))
    }
}

/// A field's value: a number (dates as days since 1970-01-01), a text, a flag or a list of texts.
/// Numbers compare as numbers whatever their JSON spelling (`5`, `5.0`).
public enum FieldValue: Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case text(String)
    case flag(Bool)
    case list([String])

    public var description: String {
        switch self {
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .text(let t): t
        case .flag(let b): String(b)
        case .list(let l): "[" + l.joined(separator: ", ") + "]"
        }
    }
}

extension JSONWriter {
    /// A number in its shortest form (`5` for 5.0), as ``FieldValue`` prints it: segment bounds,
    /// attribute values and tags are written this way.
    mutating func shortestNumber(_ value: Double) { number(JSONNumber(lexeme: FieldValue.number(value).description)) }
}

/// What a segment's predicate reads: the typed profile (the scorer) or its JSON (a preview).
public protocol ProfileFieldSource {
    /// The field's value, or nil when the profile has none (a user who never bought has no
    /// recency; an empty list is none). A recent-event count is 0 when there were none.
    func value(of field: SegmentField) -> FieldValue?
}

extension UserProfile: ProfileFieldSource {
    public func value(of field: SegmentField) -> FieldValue? {
        switch field {
        case .profile(let field): return value(of: field)
        case .attribute(let name, _):
            guard let value = attributes.first(where: { $0.name == name })?.value else { return nil }
            if case .list(let l) = value, l.isEmpty { return nil }
            return value.fieldValue
        case .recentEvents(let type, let window):
            return .number(Double(recentEvents.first { $0.type == type }?.count(in: window) ?? 0))
        }
    }

    func value(of field: ProfileField) -> FieldValue? {
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
        case .firstTouchChannel: return tags.firstTouchChannel.map(FieldValue.text)
        case .topCategories: return tags.topCategories.isEmpty ? nil : .list(tags.topCategories)
        case .purchaseIntervalDays: return number(tags.purchaseIntervalDays)
        case .favouriteWeekday: return tags.favouriteWeekday.map { .text($0.rawValue) }
        case .favouriteHour: return tags.favouriteHour.map { .number(Double($0)) }
        case .community: return .text(tags.community)
        case .level: return member.level.map(FieldValue.text)
        case .paid: return .flag(member.paid)
        }
    }
}

/// A published profile (`orbit.user-profiles`), read by path.
public struct ProfileJSON: ProfileFieldSource {
    public let object: JSONObject
    public init(_ object: JSONObject) { self.object = object }

    public func value(of field: SegmentField) -> FieldValue? {
        var node: JSONValue = .object(object)
        for key in field.path {
            guard case .object(let o) = node, let next = o[key] else {
                if case .recentEvents = field { return .number(0) }  // none of that type recently
                return nil
            }
            node = next
        }
        switch (field.kind, node) {
        case (.number, .number(let n)): return Double(n.lexeme).map(FieldValue.number)
        case (.text, .string(let s)): return .text(s)
        case (.flag, .bool(let b)): return .flag(b)
        case (.date, .string(let s)): return CalendarDate.day(s).map { .number(Double($0)) }
        case (.list, .array(let items)):
            let texts = items.compactMap(\.stringValue)
            return texts.isEmpty ? nil : .list(texts)
        default: return nil
        }
    }
}
