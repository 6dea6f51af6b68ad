import OrbitContract
import OrbitCore

/// Everything the notification service knows about one user, joined from the topics partitioned
/// by user (never looked up per message): the latest profile and account facts, contacts,
/// preferences, tags, and what was sent (for caps, deduplication, digests, deferrals and
/// experiments). Kept in a changelog-backed ``KeyedStore``.
public struct Recipient: Sendable, Equatable {
    /// The user's latest profile from `orbit.user-profiles`, as the facts templates and audiences use.
    public struct ProfileFacts: Sendable, Equatable {
        public var segment: String?
        public var lifecycle: String?
        public var tier: String?
        public var superUser = false
        public var monetaryMinor: Int64 = 0
        public var rfmScore: String?
        public var lastEventMillis: Int64?
        public init() {}
    }

    /// The user's latest account from `orbit.member-accounts`.
    public struct AccountFacts: Sendable, Equatable {
        public var level: String?
        public var balance: Int64 = 0
        public var available: Int64 = 0
        public var expiringNext: Int64 = 0
        public var nextExpiry: String?
        public init() {}
    }

    /// From `orbit.user-contacts` (compacted; published by other systems).
    public struct Contacts: Sendable, Equatable {
        public var name: String?
        public var email: String?
        public var phone: String?
        public var pushToken: String?
        public var locale: String?
        public var timeZone: String?
        /// The user's WeCom (enterprise WeChat) id, for private messages.
        public var wecomID: String?
        public init() {}

        public func address(for channel: Channel) -> String? {
            switch channel {
            case .email: email
            case .sms: phone
            case .push: pushToken
            case .inApp: "inbox"
            case .wecom: wecomID
            }
        }
    }

    /// From `orbit.user-preferences` (compacted; published by other systems).
    public struct Preferences: Sendable, Equatable {
        /// Per channel: false is an opt-out. Missing: allowed.
        public var channels: [String: Bool] = [:]
        /// Per category: true is an opt-in (needed for marketing), false an opt-out.
        public var categories: [String: Bool] = [:]
        /// Minutes after local midnight; nil: the configured default.
        public var quietHours: QuietHours?
        /// Purposes the user withdrew consent to (`consents`): marketing withdrawn stops every
        /// marketing message, whatever the category opt-ins say.
        public var consents = Consents()
        public init() {}
    }

    /// One message counted against caps.
    public struct SentMark: Sendable, Equatable {
        public var category: String
        public var atMillis: Int64
        public init(category: String, atMillis: Int64) {
            self.category = category
            self.atMillis = atMillis
        }
    }

    /// A trigger that fired, for deduplication.
    public struct FiredMark: Sendable, Equatable {
        public var trigger: String
        public var atMillis: Int64
        public init(trigger: String, atMillis: Int64) {
            self.trigger = trigger
            self.atMillis = atMillis
        }
    }

    /// A rendered outbox record waiting for quiet hours to end.
    public struct Deferred: Sendable, Equatable {
        public var notificationID: String
        public var dueMillis: Int64
        public var record: [UInt8]

        public init(notificationID: String, dueMillis: Int64, record: [UInt8]) {
            (self.notificationID, self.dueMillis, self.record) = (notificationID, dueMillis, record)
        }
    }

    /// Events of a digest trigger collected until the window ends.
    public struct DigestBuffer: Sendable, Equatable {
        public var trigger: String
        public var windowEndMillis: Int64
        public var count: Int
        public var sum: Int64
        public var firstID: String
        /// The latest event of the window (its fields are the template's `event`).
        public var lastRecord: [UInt8]

        public init(trigger: String, windowEndMillis: Int64, count: Int, sum: Int64, firstID: String, lastRecord: [UInt8]) {
            (self.trigger, self.windowEndMillis, self.count, self.sum, self.firstID, self.lastRecord) = (trigger, windowEndMillis, count, sum, firstID, lastRecord)
        }
    }

    /// A user's place in an experiment and whether they converted.
    public struct Enrolment: Sendable, Equatable {
        public var experiment: String
        public var variant: String
        public var atMillis: Int64
        /// The event type that converts, and until when.
        public var conversionEvent: String
        public var untilMillis: Int64
        public var convertedAtMillis: Int64?

        public init(experiment: String, variant: String, atMillis: Int64, conversionEvent: String, untilMillis: Int64, convertedAtMillis: Int64? = nil) {
            (self.experiment, self.variant, self.atMillis) = (experiment, variant, atMillis)
            (self.conversionEvent, self.untilMillis, self.convertedAtMillis) = (conversionEvent, untilMillis, convertedAtMillis)
        }
    }

    public var profile = ProfileFacts()
    public var account = AccountFacts()
    public var contacts = Contacts()
    public var preferences = Preferences()
    public var tags: [String] = []
    /// The operators' segments (`custom:<id>` on `orbit.segment-changes`) the user is in, by id, sorted.
    public var customSegments: [String] = []
    public var purchases = 0
    public var sent: [SentMark] = []
    public var fired: [FiredMark] = []
    public var deferred: [Deferred] = []
    public var digests: [DigestBuffer] = []
    public var enrolments: [Enrolment] = []
    /// Campaigns this user was already evaluated for (a campaign reaches a user once).
    public var campaigns: [String] = []
    /// The ids of the user's in-app messages that may be in the inbox topic (newest last), so an
    /// erasure can tombstone each `<user id>/<notification id>` key. At most ``inboxLimit``: an
    /// older message is removed from the inbox when a newer one pushes it out.
    public var inbox: [String] = []
    public static let inboxLimit = 200
    public var replay = ReplayGuard(inputs: 1, limit: 32)
    /// The journeys the user is in now (at most one enrolment per journey).
    public var journeys: [JourneyEnrolment] = []
    /// How many times the user entered each journey, by journey id (sorted; at most 64 journeys
    /// remembered): message ids count enrolments, and `reentry: never` reads it.
    public var journeyEntries: [JourneyEntryCount] = []
    /// The buyer's expected next purchase, kept while a journey is entered by it.
    public var repurchase: Repurchase?

    /// When a buyer is expected to buy again: the day of the last purchase, the expected day of
    /// the next (days since 1970-01-01, UTC), and whether a repurchase-due entry took it.
    public struct Repurchase: Sendable, Equatable {
        public var lastPurchaseDay: Int
        public var dueDay: Int
        public var entered: Bool
        public init(lastPurchaseDay: Int, dueDay: Int, entered: Bool = false) { (self.lastPurchaseDay, self.dueDay, self.entered) = (lastPurchaseDay, dueDay, entered) }
    }

    public struct JourneyEntryCount: Sendable, Equatable {
        public var journey: String
        public var count: Int
        public init(journey: String, count: Int) { (self.journey, self.count) = (journey, count) }
    }

    public init() {}

    /// Forgets marks older than `keepMillis` before `now` (caps look back 7 days; dedup windows
    /// are bounded by configuration), so the state of a user stays small.
    public mutating func prune(now: Int64, keepMillis: Int64) {
        sent.removeAll { $0.atMillis < now - keepMillis }
        fired.removeAll { $0.atMillis < now - keepMillis }
        if enrolments.count > 16 { enrolments.removeFirst(enrolments.count - 16) }
        if campaigns.count > 64 { campaigns.removeFirst(campaigns.count - 64) }
    }
}

/// Quiet hours: a daily interval in the user's local time, in minutes after midnight. An interval
/// may cross midnight (22:00-08:00).
public struct QuietHours: Sendable, Equatable {
    public var startMinute: Int
    public var endMinute: Int

    public init(startMinute: Int, endMinute: Int) {
        self.startMinute = startMinute
        self.endMinute = endMinute
    }

    /// Parses `HH:MM-HH:MM`.
    public init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let start = Self.minute(parts[0]), let end = Self.minute(parts[1]), start != end else { return nil }
        self.init(startMinute: start, endMinute: end)
    }

    static func minute(_ text: Substring) -> Int? {
        let hm = text.trimmingSpaces.split(separator: ":")
        guard hm.count == 2, hm[0].count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
        return h * 60 + m
    }

    public var description: String {
        func hm(_ m: Int) -> String { (m / 60 < 10 ? "0" : "") + "\(m / 60):" + (m % 60 < 10 ? "0" : "") + "\(m % 60)" }
        return "\(hm(startMinute))-\(hm(endMinute))"
    }

    /// True if the local minute of day is inside the quiet interval.
    public func contains(minuteOfDay minute: Int) -> Bool {
        startMinute < endMinute ? (minute >= startMinute && minute < endMinute) : (minute >= startMinute || minute < endMinute)
    }

    /// How many minutes from `minute` until the quiet interval ends (0 when outside it).
    public func minutesUntilEnd(from minute: Int) -> Int {
        guard contains(minuteOfDay: minute) else { return 0 }
        return (endMinute - minute + 1440) % 1440
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
