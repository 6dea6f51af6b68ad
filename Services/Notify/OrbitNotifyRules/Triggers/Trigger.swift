import OrbitContract

/// Which input a trigger listens to.
public enum TriggerSource: String, CaseIterable, Sendable {
    /// `orbit.segment-changes`: a user's segment, lifecycle stage, tier or super-user flag changed.
    case segmentChange = "segment_change"
    /// `orbit.member-events`: level moves, points expiring, command results, paid membership.
    case memberEvent = "member_event"
    /// `orbit.user-events.valid`: what the user did (signup, purchase, ...).
    case event
    /// `orbit.points-ledger`: every points movement (earned, redeemed, expired).
    case ledgerEntry = "ledger_entry"
}

/// Facts about an input that are not fields of its record, matched by a one-part path as fields
/// are: an event's `type` and whether it is the user's `first_purchase`. A struct rather than a
/// dictionary: one is made for every event, and building a dictionary each time was a measured cost.
public struct DerivedFacts: Sendable {
    public var type: String?
    public var firstPurchase: Bool?

    /// An input with no derived facts (every source but events).
    public static let none = DerivedFacts()

    public init(type: String? = nil, firstPurchase: Bool? = nil) {
        self.type = type
        self.firstPurchase = firstPurchase
    }

    public subscript(name: String) -> String? {
        switch name {
        case "type": type
        case "first_purchase": firstPurchase.map { $0 ? "true" : "false" }
        default: nil
        }
    }
}

/// One field condition of a trigger: the value at `path` of the source record (as text) must be
/// one of `values`. Derived facts (`first_purchase`) are matched the same way.
public struct FieldCondition: Sendable, Equatable {
    public var path: [String]
    public var values: Set<String>

    public init(path: [String], values: Set<String>) {
        self.path = path
        self.values = values
    }

    public func matches(_ record: JSONObject, derived: DerivedFacts) -> Bool {
        if path.count == 1, let value = derived[path[0]] { return values.contains(value) }
        guard let value = Self.text(at: path[...], in: record) else { return false }
        return values.contains(value)
    }

    /// A scalar at a dotted path as text: strings as they are, numbers by their lexeme, booleans
    /// as `true`/`false`; nil for objects, arrays, null and missing fields.
    package static func text(at path: ArraySlice<String>, in object: JSONObject) -> String? {
        guard let first = path.first, let value = object[first] else { return nil }
        if path.count > 1 {
            guard case .object(let inner) = value else { return nil }
            return text(at: path.dropFirst(), in: inner)
        }
        switch value {
        case .string(let s): return s
        case .number(let n): return n.lexeme
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }
}

/// A rule that turns one input record into a message: its source, its conditions, the category
/// that decides consent and policies, the channels, and how repeats are handled.
public struct Trigger: Sendable {
    public var id: String
    public var source: TriggerSource
    public var conditions: [FieldCondition]
    public var category: String
    public var channels: [Channel]
    /// The same trigger for the same user within this window is suppressed as `duplicate`.
    public var dedupWindowMillis: Int64
    /// Events of this trigger within the window become one message (0: no digest).
    public var digestWindowMillis: Int64
    /// The field summed over a digest's events (for example `points`), if any.
    public var digestSumField: String?
    public var experiment: Experiment?

    public init(id: String, source: TriggerSource, conditions: [FieldCondition], category: String, channels: [Channel],
                dedupWindowMillis: Int64 = 0, digestWindowMillis: Int64 = 0, digestSumField: String? = nil, experiment: Experiment? = nil) {
        self.id = id
        self.source = source
        self.conditions = conditions
        self.category = category
        self.channels = channels
        self.dedupWindowMillis = dedupWindowMillis
        self.digestWindowMillis = digestWindowMillis
        self.digestSumField = digestSumField
        self.experiment = experiment
    }

    public func matches(_ record: JSONObject, derived: DerivedFacts = .none) -> Bool {
        conditions.allSatisfy { $0.matches(record, derived: derived) }
    }
}
