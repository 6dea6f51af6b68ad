import OrbitContract
import OrbitCore

/// A branch's condition over what orbit-notify holds for the user (profile facts, level, tags,
/// operators' segments) and the user's variant in the journey. The shape is the segment
/// definitions' (`{field: tier, in: [S, A]}`, `all`, `any`, `not`) so operators write one language.
public indirect enum JourneyCondition: Sendable, Equatable {
    case all([JourneyCondition])
    case any([JourneyCondition])
    case not(JourneyCondition)
    case test(Field, Test)

    public enum Field: String, Sendable, CaseIterable {
        case segment, lifecycle, tier, level, variant, locale
        case superUser = "super_user"
        case monetaryMinor = "monetary_minor"
        case balance
        /// Lists: `eq` and `in` hold when any element is one of the values.
        case tags
        case customSegments = "custom_segments"

        var isNumber: Bool { self == .monetaryMinor || self == .balance }
    }

    public enum Test: Sendable, Equatable {
        case oneOf(Set<String>)
        case notOneOf(Set<String>)
        case atLeast(Int64)
        case atMost(Int64)
    }

    /// Whether any test, however deep, is of `field`.
    public func tests(_ field: Field) -> Bool {
        switch self {
        case .all(let parts), .any(let parts): parts.contains { $0.tests(field) }
        case .not(let part): part.tests(field)
        case .test(let tested, _): tested == field
        }
    }

    /// Every value the condition compares `field` with, however deep, in order.
    public func values(of field: Field) -> [String] {
        switch self {
        case .all(let parts), .any(let parts): return parts.flatMap { $0.values(of: field) }
        case .not(let part): return part.values(of: field)
        case .test(let tested, let test):
            guard tested == field else { return [] }
            switch test {
            case .oneOf(let values), .notOneOf(let values): return values.sorted()
            case .atLeast, .atMost: return []
            }
        }
    }

    /// Whether the condition holds for `recipient`, who is in variant `variant` of the journey.
    public func holds(for r: Recipient, variant: String) -> Bool {
        switch self {
        case .all(let parts): return parts.allSatisfy { $0.holds(for: r, variant: variant) }
        case .any(let parts): return parts.contains { $0.holds(for: r, variant: variant) }
        case .not(let part): return !part.holds(for: r, variant: variant)
        case .test(let field, let test):
            switch test {
            case .atLeast(let n): return Self.number(field, r) >= n
            case .atMost(let n): return Self.number(field, r) <= n
            case .oneOf(let values): return !Self.texts(field, r, variant).isDisjoint(with: values)
            case .notOneOf(let values): return Self.texts(field, r, variant).isDisjoint(with: values)
            }
        }
    }

    static func number(_ field: Field, _ r: Recipient) -> Int64 {
        field == .balance ? r.account.balance : r.profile.monetaryMinor
    }

    static func texts(_ field: Field, _ r: Recipient, _ variant: String) -> Set<String> {
        switch field {
        case .segment: r.profile.segment.map { [$0] } ?? []
        case .lifecycle: r.profile.lifecycle.map { [$0] } ?? []
        case .tier: r.profile.tier.map { [$0] } ?? []
        case .level: r.account.level.map { [$0] } ?? []
        case .variant: [variant]
        case .locale: r.contacts.locale.map { [$0] } ?? []
        case .superUser: [r.profile.superUser ? "true" : "false"]
        case .monetaryMinor: [String(r.profile.monetaryMinor)]
        case .balance: [String(r.account.balance)]
        case .tags: Set(r.tags)
        case .customSegments: Set(r.customSegments)
        }
    }

    /// Reads `{field: F, eq|ne|in|gte|lte: V}`, `{all: [...]}`, `{any: [...]}` or `{not: {...}}`.
    public static func read(_ s: ConfigSection, depth: Int = 1) throws(ConfigError) -> JourneyCondition {
        guard depth <= 4 else { throw s.invalid("all", "conditions nest at most 4 deep") }
        let keys = try s.keys()
        for composite in ["all", "any"] where keys.contains(composite) {
            guard keys == [composite] else { throw s.invalid(composite, "\(composite) stands alone in its condition") }
            var parts: [JourneyCondition] = []
            for part in try s.sectionList(composite) { parts.append(try read(part, depth: depth + 1)) }
            guard !parts.isEmpty else { throw s.invalid(composite, "lists at least one condition") }
            return composite == "all" ? .all(parts) : .any(parts)
        }
        if keys.contains("not") {
            guard keys == ["not"] else { throw s.invalid("not", "not stands alone in its condition") }
            return .not(try read(s.section("not"), depth: depth + 1))
        }
        try s.rejectUnknownKeys(["field", "eq", "ne", "in", "gte", "lte"])
        let name = try s.string("field")
        guard let field = Field(rawValue: name) else {
            throw s.invalid("field", "\(name) is not a field a branch can test (one of \(Field.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let tests = keys.filter { $0 != "field" }
        guard tests.count == 1, let test = tests.first else { throw s.invalid("field", "a field condition has exactly one test (eq, ne, in, gte, lte)") }
        switch test {
        case "gte", "lte":
            guard field.isNumber else { throw s.invalid(test, "\(test) is for numbers (monetary_minor, balance); \(name) is not one") }
            guard let text = try s.optionalString(test), let n = Int64(text) else { throw s.invalid(test, "must be a whole number") }
            return .test(field, test == "gte" ? .atLeast(n) : .atMost(n))
        case "in":
            let values = try s.stringList("in")
            guard !values.isEmpty, values.count <= 100 else { throw s.invalid("in", "lists 1 to 100 values") }
            return .test(field, .oneOf(Set(values)))
        default:
            guard let value = try s.optionalString(test) else { throw s.invalid(test, "needs a value") }
            return .test(field, test == "eq" ? .oneOf([value]) : .notOneOf([value]))
        }
    }

    /// The condition as the definition record writes it (read back by ``read(_:depth:)``).
    func write(_ w: inout JSONWriter) {
        w.beginObject()
        switch self {
        case .all(let parts), .any(let parts):
            w.key({ if case .all = self { "all" } else { "any" } }())
            w.beginArray(); for p in parts { p.write(&w) }; w.endArray()
        case .not(let part): w.key("not"); part.write(&w)
        case .test(let field, let test):
            w.key("field"); w.string(field.rawValue)
            switch test {
            case .oneOf(let values) where values.count == 1: w.key("eq"); w.string(values.first!)
            case .oneOf(let values): w.key("in"); w.beginArray(); for v in values.sorted() { w.string(v) }; w.endArray()
            case .notOneOf(let values): w.key("ne"); w.string(values.sorted().first ?? "")
            case .atLeast(let n): w.key("gte"); w.int(n)
            case .atMost(let n): w.key("lte"); w.int(n)
            }
        }
        w.endObject()
    }
}
