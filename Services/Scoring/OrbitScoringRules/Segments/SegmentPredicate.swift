import OrbitContract

/// Which users an operator's segment holds: a predicate over profile fields (Apache Unomi's
/// conditions, in the shape operators write them in YAML and the definitions topic carries them):
///
/// ```yaml
/// where:
///   all:
///     - {field: rfm.monetary_minor, gte: 100000}
///     - {field: lifecycle, in: [at_risk, churned]}
///     - not: {field: super_user, eq: true}
///     - exists: churn.probability_alive
///     - {field: rfm.recency_days, between: [30, 90]}
/// ```
///
/// A test of a field the profile does not have (a user who never bought has no recency) is false,
/// `ne` included; `not` of it is true. A list field (`tags.top_categories`, a list attribute)
/// `eq` a value contains it, `ne` a value does not, and is `in` values when it holds any of them.
/// Dates are written `YYYY-MM-DD` and ordered like numbers.
public indirect enum SegmentPredicate: Sendable, Equatable {
    case all([SegmentPredicate])
    case any([SegmentPredicate])
    case not(SegmentPredicate)
    case exists(SegmentField)
    case compare(SegmentField, Comparison, FieldValue)
    case oneOf(SegmentField, [FieldValue])
    /// Inclusive at both ends (dates as days since 1970-01-01).
    case between(SegmentField, Double, Double)

    public enum Comparison: String, CaseIterable, Sendable {
        case eq, ne, lt, lte, gt, gte
    }

    /// At most this deep and this many conditions: every definition is evaluated for every user
    /// the scorer evaluates.
    public static let maxDepth = 8
    public static let maxConditions = 100

    public func matches(_ profile: some ProfileFieldSource) -> Bool {
        switch self {
        case .all(let parts): return parts.allSatisfy { $0.matches(profile) }
        case .any(let parts): return parts.contains { $0.matches(profile) }
        case .not(let part): return !part.matches(profile)
        case .exists(let field): return profile.value(of: field) != nil
        case .compare(let field, let comparison, let expected):
            guard let value = profile.value(of: field) else { return false }
            switch (value, expected) {
            case (.list(let items), .text(let t)):
                switch comparison {
                case .eq: return items.contains(t)
                case .ne: return !items.contains(t)
                default: return false  // lists are not ordered (checked when parsed)
                }
            case (.number(let a), .number(let b)):
                switch comparison {
                case .eq: return a == b
                case .ne: return a != b
                case .lt: return a < b
                case .lte: return a <= b
                case .gt: return a > b
                case .gte: return a >= b
                }
            default:
                switch comparison {
                case .eq: return value == expected
                case .ne: return value != expected
                default: return false  // ordering is for numbers (checked when parsed)
                }
            }
        case .oneOf(let field, let values):
            guard let value = profile.value(of: field) else { return false }
            if case .list(let items) = value {
                return values.contains { if case .text(let t) = $0 { items.contains(t) } else { false } }
            }
            return values.contains(value)
        case .between(let field, let low, let high):
            guard case .number(let n)? = profile.value(of: field) else { return false }
            return n >= low && n <= high
        }
    }

    // MARK: The record's JSON

    public func write(to w: inout JSONWriter) {
        func number(_ n: Double, _ field: SegmentField) {
            if field.kind == .date { w.date(day: Int64(n)) } else { w.shortestNumber(n) }
        }
        func value(_ v: FieldValue, _ field: SegmentField) {
            switch v {
            case .number(let n): number(n, field)
            case .text(let t): w.string(t)
            case .flag(let b): w.bool(b)
            case .list(let l): w.beginArray(); for t in l { w.string(t) }; w.endArray()
            }
        }
        w.beginObject()
        switch self {
        case .all(let parts), .any(let parts):
            w.key(self.isAll ? "all" : "any"); w.beginArray(); for part in parts { part.write(to: &w) }; w.endArray()
        case .not(let part): w.key("not"); part.write(to: &w)
        case .exists(let field): w.key("exists"); w.string(field.description)
        case .compare(let field, let comparison, let expected): w.key("field"); w.string(field.description); w.key(comparison.rawValue); value(expected, field)
        case .oneOf(let field, let values): w.key("field"); w.string(field.description); w.key("in"); w.beginArray(); for v in values { value(v, field) }; w.endArray()
        case .between(let field, let low, let high): w.key("field"); w.string(field.description); w.key("between"); w.beginArray(); number(low, field); number(high, field); w.endArray()
        }
        w.endObject()
    }

    private var isAll: Bool { if case .all = self { true } else { false } }
}

/// Reads a predicate from a tree of conditions (a YAML section, a JSON object), with errors that
/// name the offending key; the caller turns them into file-and-line or record errors.
public protocol PredicateNode {
    /// Whether the node has this key.
    func has(_ key: String) -> Bool
    /// The keys present, to refuse unknown ones.
    func keys() throws -> [String]
    func child(_ key: String) throws -> Self
    func children(_ key: String) throws -> [Self]
    /// A scalar's text and whether it was written as a string (quoted, or a JSON string).
    func scalar(_ key: String) throws -> (text: String, quoted: Bool)?
    func scalars(_ key: String) throws -> [(text: String, quoted: Bool)]
    func invalid(_ key: String, _ message: String) -> any Error
}

extension SegmentPredicate {
    static let operators = ["all", "any", "not", "exists", "field"]

    /// The predicate a node holds. Exactly one of `all`, `any`, `not`, `exists` or `field` (with
    /// one comparison: `eq`, `ne`, `lt`, `lte`, `gt`, `gte`, `in`, `between`).
    /// - Parameter attributes: the declared attributes (`attributes.<name>` names one of them).
    public static func read<Node: PredicateNode>(_ node: Node, attributes: AttributeSchema, depth: Int = 1, conditions: inout Int) throws -> SegmentPredicate {
        conditions += 1
        guard conditions <= maxConditions else { throw node.invalid("field", "a segment has at most \(maxConditions) conditions") }
        guard depth <= maxDepth else { throw node.invalid("all", "conditions nest at most \(maxDepth) deep") }
        let keys = try node.keys()
        let present = operators.filter(node.has)
        guard present.count == 1, let kind = present.first else {
            throw node.invalid(present.dropFirst().first ?? "field", "a condition is exactly one of all, any, not, exists or field (found \(present.isEmpty ? "none" : present.joined(separator: ", ")))")
        }
        func field(_ key: String) throws -> SegmentField {
            guard let name = try node.scalar(key)?.text else { throw node.invalid(key, "names a profile field") }
            switch SegmentField.named(name, attributes: attributes) {
            case .success(let field): return field
            case .failure(let unknown): throw node.invalid(key, unknown.message)
            }
        }
        switch kind {
        case "all", "any":
            guard keys == [kind] else { throw node.invalid(keys.first { $0 != kind } ?? kind, "\(kind) stands alone in its condition") }
            let parts = try node.children(kind).map { try read($0, attributes: attributes, depth: depth + 1, conditions: &conditions) }
            guard !parts.isEmpty else { throw node.invalid(kind, "lists at least one condition") }
            return kind == "all" ? .all(parts) : .any(parts)
        case "not":
            guard keys == ["not"] else { throw node.invalid(keys.first { $0 != "not" } ?? "not", "not stands alone in its condition") }
            return .not(try read(try node.child("not"), attributes: attributes, depth: depth + 1, conditions: &conditions))
        case "exists":
            guard keys == ["exists"] else { throw node.invalid(keys.first { $0 != "exists" } ?? "exists", "exists stands alone in its condition") }
            return .exists(try field("exists"))
        default:
            let subject = try field("field")
            let tests = keys.filter { $0 != "field" }
            let known = SegmentPredicate.Comparison.allCases.map(\.rawValue) + ["in", "between"]
            if let unknown = tests.first(where: { !known.contains($0) }) {
                throw node.invalid(unknown, "unknown test (one of: \(known.joined(separator: ", ")))")
            }
            guard tests.count == 1, let test = tests.first else { throw node.invalid("field", "a field condition has exactly one test (\(known.joined(separator: ", ")))") }
            func value(_ scalar: (text: String, quoted: Bool), key: String) throws -> FieldValue {
                switch subject.kind {
                case .number:
                    guard !scalar.quoted, let n = Double(scalar.text), n.isFinite else { throw node.invalid(key, "\(subject) is a number, not \(scalar.text)") }
                    return .number(n)
                case .date:
                    guard let day = CalendarDate.day(scalar.text) else { throw node.invalid(key, "\(subject) is a date (YYYY-MM-DD), not \(scalar.text)") }
                    return .number(Double(day))
                case .flag:
                    guard !scalar.quoted, let b = Bool(scalar.text) else { throw node.invalid(key, "\(subject) is true or false, not \(scalar.text)") }
                    return .flag(b)
                case .text, .list:
                    guard scalar.text.utf8.count <= 256 else { throw node.invalid(key, "a text to compare is at most 256 bytes") }
                    return .text(scalar.text)
                }
            }
            switch test {
            case "in":
                let values = try node.scalars("in").map { try value($0, key: "in") }
                guard !values.isEmpty, values.count <= 100 else { throw node.invalid("in", "lists 1 to 100 values") }
                return .oneOf(subject, values)
            case "between":
                guard subject.kind == .number || subject.kind == .date else { throw node.invalid("between", "between is for numbers and dates; \(subject) is a \(subject.kind.rawValue)") }
                let bounds = try node.scalars("between").map { try value($0, key: "between") }
                guard bounds.count == 2, case .number(let low) = bounds[0], case .number(let high) = bounds[1], low <= high else {
                    throw node.invalid("between", "is [low, high] with low <= high")
                }
                return .between(subject, low, high)
            default:
                let comparison = SegmentPredicate.Comparison(rawValue: test)!
                guard let scalar = try node.scalar(test) else { throw node.invalid(test, "needs a value") }
                if subject.kind != .number, subject.kind != .date, ![.eq, .ne].contains(comparison) {
                    throw node.invalid(test, "\(test) is for numbers and dates; \(subject) is a \(subject.kind.rawValue) (use eq, ne or in)")
                }
                return .compare(subject, comparison, try value(scalar, key: test))
            }
        }
    }
}
