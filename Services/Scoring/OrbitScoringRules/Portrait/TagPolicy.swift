import Foundation
import OrbitContract

/// The bounds of the tags the scorer derives from a user's events (`tags:` in scoring.yaml).
/// Each bound caps what one user costs in the state store, however much they do.
public struct TagPolicy: Sendable, Equatable {
    /// The sign-up property that names the channel a user came from (`first_touch_channel`).
    public var firstTouchProperty = "channel"
    /// Categories counted per user by name (spend in the reporting currency). When more are seen,
    /// the smallest counter is taken over (Space-Saving: a counter overestimates by at most what
    /// it inherited, so the top categories of a user with few categories are exact).
    public var categoriesTracked = 16
    /// How many of them the profile names (`top_categories`).
    public var topCategories = 3
    /// Activity events before a favourite weekday and hour are named.
    public var favouriteTimeMinimum = 5
    /// The time zone weekdays and hours are counted in (the deployment's market).
    public var timeZone = TimeZone(identifier: "UTC")! {
        didSet { fixedOffsetSeconds = Self.fixedOffset(timeZone) }
    }
    /// The zone's offset when it has no daylight saving (UTC, Asia/Shanghai): no lookup per event.
    private var fixedOffsetSeconds: Int64? = 0
    /// Community levels by community actions in the engagement window, ascending (`none` below
    /// the first).
    public var communityLevels: [CommunityLevel] = [
        CommunityLevel(name: "occasional", minimumActions: 1),
        CommunityLevel(name: "regular", minimumActions: 8),
        CommunityLevel(name: "champion", minimumActions: 30),
    ]

    public struct CommunityLevel: Sendable, Equatable {
        public var name: String
        public var minimumActions: Int
        public init(name: String, minimumActions: Int) { (self.name, self.minimumActions) = (name, minimumActions) }
    }

    public init() {}

    /// The level for this many community actions.
    public func communityLevel(actions: Int) -> String {
        communityLevels.last { actions >= $0.minimumActions }?.name ?? "none"
    }

    /// Seconds to add to UTC for the local time of an instant (looked up only in a zone with
    /// daylight saving: this runs for every activity event).
    func offsetSeconds(atMillis millis: Int64) -> Int64 {
        if let fixedOffsetSeconds { return fixedOffsetSeconds }
        return Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000)))
    }

    /// A zone without any daylight-saving transition since 1970 (UTC, a fixed offset) has one
    /// offset for every event; the others are looked up per event. Not "none lately": the answer
    /// must not depend on when the scorer starts, so a replay counts the same hours.
    static func fixedOffset(_ zone: TimeZone) -> Int64? {
        let epoch = Date(timeIntervalSince1970: 0)
        guard zone.nextDaylightSavingTimeTransition(after: epoch) == nil else { return nil }
        return Int64(zone.secondsFromGMT(for: epoch))
    }
}

/// Weekday names, Monday first (ISO 8601).
public enum Weekday: String, CaseIterable, Sendable {
    case monday, tuesday, wednesday, thursday, friday, saturday, sunday

    /// The weekday's index (Monday 0) of a day count since 1970-01-01 (a Thursday).
    static func index(ofDay day: Int64) -> Int { Int(((day + 3) % 7 + 7) % 7) }
}

/// The tags the scorer derives for a user's profile (`tags` in `orbit.user-profiles`).
public struct DerivedTags: Sendable, Equatable {
    public var firstTouchChannel: String?
    /// By spend, largest first (then by name).
    public var topCategories: [String] = []
    /// Mean days between purchases (one decimal), from two purchases on.
    public var purchaseIntervalDays: Double?
    public var favouriteWeekday: Weekday?
    public var favouriteHour: Int?
    public var community = "none"

    public init() {}

    public init(_ state: UserState, policy: TagPolicy, communityActions: Int) {
        firstTouchChannel = state.firstTouch?.channel
        if !state.categorySpend.isEmpty {
            topCategories = state.categorySpend.sorted { ($0.minor, $1.name) > ($1.minor, $0.name) }
                .prefix(policy.topCategories).filter { $0.minor > 0 }.map(\.name)
        }
        if state.purchases >= 2, let first = state.firstPurchaseDay, let last = state.lastPurchaseDay {
            purchaseIntervalDays = (Double(last - first) / Double(state.purchases - 1) * 10).rounded() / 10
        }
        let clock = state.activityClock
        if clock.count == ActivityClock.slots {
            let weekdays = clock[0..<7]
            if weekdays.reduce(0, { $0 + Int($1) }) >= policy.favouriteTimeMinimum {
                let day = weekdays.indices.max { weekdays[$0] < weekdays[$1] || (weekdays[$0] == weekdays[$1] && $0 > $1) }!
                favouriteWeekday = Weekday.allCases[day]
                let hours = clock[7...]
                favouriteHour = hours.indices.max { hours[$0] < hours[$1] || (hours[$0] == hours[$1] && $0 > $1) }! - 7
            }
        }
        community = policy.communityLevel(actions: communityActions)
    }

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("first_touch_channel"); if let firstTouchChannel { w.string(firstTouchChannel) } else { w.null() }
        w.field("top_categories"); w.beginArray(); for c in topCategories { w.string(c) }; w.endArray()
        w.field("purchase_interval_days"); if let purchaseIntervalDays { w.shortestNumber(purchaseIntervalDays) } else { w.null() }
        w.field("favourite_weekday"); if let favouriteWeekday { w.string(favouriteWeekday.rawValue) } else { w.null() }
        w.field("favourite_hour"); if let favouriteHour { w.int(favouriteHour) } else { w.null() }
        w.field("community"); w.string(community)
        w.endObject()
    }
}

/// Activity counted by local weekday (slots 0-6, Monday first) and hour (slots 7-30).
public enum ActivityClock {
    public static let slots = 31

    /// Counts one activity at this instant; counters halve together when one would overflow, so
    /// the favourite stays the favourite.
    static func count(_ clock: inout [UInt16], atMillis millis: Int64, policy: TagPolicy) {
        if clock.count != slots { clock = Array(repeating: 0, count: slots) }
        let local = millis / 1000 + policy.offsetSeconds(atMillis: millis)
        let day = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let hour = Int((local - day * 86_400) / 3600)
        let weekday = Weekday.index(ofDay: day)
        if clock[weekday] == .max || clock[7 + hour] == .max {
            for i in clock.indices { clock[i] /= 2 }
        }
        clock[weekday] += 1
        clock[7 + hour] += 1
    }
}

/// A category's spend in one user's counters.
public struct CategorySpend: Sendable, Equatable {
    public var name: String
    public var minor: Int64
    public init(name: String, minor: Int64) { (self.name, self.minor) = (name, minor) }
}

/// The sign-up that brought a user: the earliest one naming a channel wins, whatever order
/// sign-ups arrive in.
public struct FirstTouch: Sendable, Equatable {
    public var channel: String
    public var timeMillis: Int64
    public init(channel: String, timeMillis: Int64) { (self.channel, self.timeMillis) = (channel, timeMillis) }
}
