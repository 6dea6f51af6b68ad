import OrbitContract

/// The windows recent events are counted in (`recent_events.<type>.<window>` in the profile and in
/// segment conditions).
public enum RecentWindow: Int, CaseIterable, Sendable {
    case day = 1, week = 7, fortnight = 14, month = 30

    /// `1d`, `7d`, `14d`, `30d`.
    public var label: String { "\(rawValue)d" }
    public init?(label: String) {
        guard let window = Self.allCases.first(where: { $0.label == label }) else { return nil }
        self = window
    }
}

/// How many events of one built-in type a user had on one day.
public struct RecentEventCount: Sendable, Equatable {
    public var day: Int32
    /// The type's index in ``EventType/builtIn``.
    public var type: UInt8
    public var count: UInt16
}

/// A user's events per type and day over the last 30 days: enough to answer "3 logins in the last
/// 7 days" for any of the ``RecentWindow``s, and bounded (a busy user costs at most
/// ``maxEntries`` entries of 8 bytes).
public enum RecentEvents {
    public static let daysKept = Int32(RecentWindow.month.rawValue)
    public static let maxEntries = 160

    static let typeIndex: [EventType: UInt8] = Dictionary(uniqueKeysWithValues: EventType.builtIn.enumerated().map { ($1, UInt8($0)) })

    /// Counts one event (configured kinds are not counted: they have no stable index).
    static func count(_ entries: inout [RecentEventCount], type: EventType, day: Int32) {
        guard let index = typeIndex[type] else { return }
        var latest = day
        for entry in entries where entry.day > latest { latest = entry.day }
        guard day > latest - daysKept else { return }  // older than anything a window reaches
        if let position = entries.firstIndex(where: { $0.day == day && $0.type == index }) {
            if entries[position].count < .max { entries[position].count += 1 }
            return
        }
        entries.append(RecentEventCount(day: day, type: index, count: 1))
        if entries.contains(where: { $0.day <= latest - daysKept }) { entries.removeAll { $0.day <= latest - daysKept } }
        if entries.count > maxEntries, let oldest = entries.map(\.day).min() { entries.removeAll { $0.day == oldest } }
    }

    /// Counts per type (built-in order) in each window ending `today`, for the types with any in
    /// the widest window.
    public static func counts(_ entries: [RecentEventCount], today: Int32) -> [RecentEventTotals] {
        guard !entries.isEmpty else { return [] }
        // One array per type seen (most users have a few), in built-in order: this runs for every
        // profile evaluated.
        var indices: [UInt8] = []
        var totals: [RecentEventTotals] = []
        for entry in entries where entry.day <= today && today - entry.day < daysKept && Int(entry.type) < EventType.builtIn.count {
            let age = Int(today - entry.day)
            var position = indices.firstIndex(of: entry.type) ?? -1
            if position < 0 {
                position = indices.firstIndex { $0 > entry.type } ?? indices.count
                indices.insert(entry.type, at: position)
                totals.insert(RecentEventTotals(type: EventType.builtIn[Int(entry.type)], counts: [0, 0, 0, 0]), at: position)
            }
            for (w, window) in RecentWindow.allCases.enumerated() where age < window.rawValue { totals[position].counts[w] += Int(entry.count) }
        }
        return totals
    }
}

/// A type's event counts in each ``RecentWindow`` (in its order).
public struct RecentEventTotals: Sendable, Equatable {
    public var type: EventType
    public var counts: [Int]

    public func count(in window: RecentWindow) -> Int { counts[RecentWindow.allCases.firstIndex(of: window)!] }
}

/// What membership last said about a user (`orbit.member-events`): their level and whether they
/// hold a paid plan. For each, the latest by time wins, so replays and late records change nothing.
public struct MemberFacts: Sendable, Equatable {
    public var level: String?
    public var levelMillis: Int64 = .min
    public var paid = false
    public var paidMillis: Int64 = .min

    public init() {}

    /// Reads a member event; nil for kinds that say nothing about level or plan.
    public static func change(_ object: JSONObject) -> (level: String?, paid: Bool?, timeMillis: Int64)? {
        guard let kind = object["kind"]?.stringValue, let time = object["time"]?.stringValue.flatMap({ try? RFC3339.parse($0) }) else { return nil }
        switch kind {
        case "level_changed":
            guard let level = object["to"]?.stringValue, !level.isEmpty, level.utf8.count <= 64 else { return nil }
            return (level, nil, time)
        case "paid_membership":
            switch object["change"]?.stringValue {
            case "joined", "renewed", "cancelled": return (nil, true, time)  // cancelled: paid until it expires
            case "expired": return (nil, false, time)
            default: return nil
            }
        default:
            return nil
        }
    }

    /// Applies a change unless a later one of the same fact is known; true when something changed.
    public mutating func apply(level: String?, paid: Bool?, timeMillis: Int64) -> Bool {
        let before = self
        if let level, timeMillis >= levelMillis { self.level = level; levelMillis = timeMillis }
        if let paid, timeMillis >= paidMillis { self.paid = paid; paidMillis = timeMillis }
        return self != before
    }
}
