import OrbitCore
import OrbitContract

/// Everything the scorer remembers about one user: counters and a few recent facts, never the
/// raw event history, so a user costs about 100-200 bytes however long they have been around.
///
/// Pure: `apply` turns a validated event into new state plus messages for other users (referral
/// credits). Replays are harmless: every applied input is remembered by the input's offset (per
/// input topic) and by a stable hash of its id (the last 32), so applying the same record or the
/// same event twice leaves the state unchanged.
public struct UserState: Sendable, Equatable {
    public static let recentIDLimit = 32
    public static let monthsKept = 13

    public struct Month: Sendable, Equatable {
        public var index: Int32
        public var purchases: Int32
        public var netMinor: Int64
    }

    public struct DayCount: Sendable, Equatable {
        public var day: Int32
        public var count: Int32
    }

    // Replay protection: input 0 is `.valid`, input 1 the repartition topic.
    public var replay = ReplayGuard(inputs: 2, limit: UserState.recentIDLimit)
    public var appliedOffsets: [Int64] { get { replay.appliedOffsets } set { replay.appliedOffsets = newValue } }
    public var recentIDs: [UInt64] { get { replay.recentIDs } set { replay.recentIDs = newValue } }

    // Time.
    public var signupDay: Int32?
    public var firstSeenDay: Int32 = .max
    public var lastActivityDay: Int32 = .min
    /// Day activity resumed after `lifecycle.atRiskDays` of quiet (or first began).
    public var activeSinceDay: Int32?
    /// Day activity resumed after `lifecycle.churnedDays` of quiet.
    public var reactivatedDay: Int32?
    public var lastEventMillis: Int64 = .min

    // Purchases (amounts in minor units of the reporting currency).
    public var purchases: Int32 = 0
    public var firstPurchaseDay: Int32?
    public var lastPurchaseDay: Int32?
    public var firstPurchaseMinor: Int64 = 0
    public var grossMinor: Int64 = 0
    public var refundedMinor: Int64 = 0
    public var refunds: Int32 = 0
    public var months: [Month] = []
    /// Categories hashed into 64 bits, as state written before ``categorySpend`` holds them (no longer added to).
    public var categories: UInt64 = 0

    // Referral circle.
    public var referredBy: String?
    /// When the winning referral happened: the earliest referral wins, whatever order they arrive in.
    public var referredAtMillis: Int64 = .max
    public var referrals: Int32 = 0
    public var convertedReferrals: Int32 = 0
    public var referralSpendMinor: Int64 = 0
    /// What each referee last reported (see ``RefereeTotals``): `convertedReferrals` and
    /// `referralSpendMinor` are derived from these, so credits may arrive in any order, twice, or
    /// from a replay that interleaved differently, and the totals come out the same.
    public var referees: [RefereeTotals] = []

    // Engagement.
    public var communityDays: [DayCount] = []
    public var checkInLastDay: Int32?
    public var checkInStreak: Int32 = 0
    public var checkInLongest: Int32 = 0

    // Minus variables.
    public var overduePayments: Int32 = 0
    public var complaints: Int32 = 0
    public var subscriptionActive = false

    // What was last published, to tell changes.
    public var lastLifecycle: LifecycleStage?
    public var lastLifecycleSince: Int32 = 0
    public var lastSegment: RFMSegment?
    public var lastTier: ValueTier?
    public var lastSuperUser = false
    /// Stable hash of the last profile published, to publish only changes.
    public var lastProfileHash: UInt64 = 0

    /// The user withdrew consent to profiling (`consents.profiling: false` in their preferences):
    /// their activity is still counted, but no segment, tier, lifecycle or prediction is made.
    public var profilingWithheld = false
    /// The operator's segments (``SegmentDefinition`` ids) the user was last found in, sorted.
    public var customSegments: [String] = []

    // The portrait: attributes other systems publish, facts the tags are derived from, membership.
    /// Declared attributes (``AttributeSchema``), sorted by name: the last record's accepted values.
    public var attributes: [UserAttribute] = []
    public var firstTouch: FirstTouch?
    /// Spend per category by name, at most ``TagPolicy/categoriesTracked``.
    public var categorySpend: [CategorySpend] = []
    /// Empty, or ``ActivityClock/slots`` counters.
    public var activityClock: [UInt16] = []
    public var recentEvents: [RecentEventCount] = []
    public var member = MemberFacts()

    /// What evaluation writes: the last published segment, stage, tier, super-user flag and
    /// profile hash (to tell whether an evaluation changed the state without comparing all of it).
    public struct Published: Equatable, Sendable {
        var lifecycle: LifecycleStage?
        var lifecycleSince: Int32
        var segment: RFMSegment?
        var tier: ValueTier?
        var superUser: Bool
        var profileHash: UInt64
        var customSegments: [String]
    }

    public var published: Published {
        Published(lifecycle: lastLifecycle, lifecycleSince: lastLifecycleSince, segment: lastSegment, tier: lastTier,
                  superUser: lastSuperUser, profileHash: lastProfileHash, customSegments: customSegments)
    }

    public init() {}

    public var isEmpty: Bool { firstSeenDay == .max }

    // MARK: Replay protection

    /// True if this input (topic index, offset) or this id was applied already; otherwise records it.
    public mutating func alreadyApplied(input: Int, offset: Int64, id: String) -> Bool {
        replay.alreadyApplied(input: input, offset: offset, id: id)
    }

    // MARK: Events

    static let activityTypes: Set<EventType> = [.signup, .login, .purchase, .referral, .checkIn, .post, .comment, .like, .share, .subscriptionStarted]

    public static func day(_ millis: Int64) -> Int32 {
        Int32(clamping: millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000)
    }

    /// Applies a validated event; returns the messages it causes for other users.
    public mutating func apply(_ event: UserEvent, policy: ScoringPolicy) -> [ReferralCredit] {
        let day = Self.day(event.timeMillis)
        firstSeenDay = min(firstSeenDay, day)
        lastEventMillis = max(lastEventMillis, event.timeMillis)
        RecentEvents.count(&recentEvents, type: event.type, day: day)
        if Self.activityTypes.contains(event.type) {
            ActivityClock.count(&activityClock, atMillis: event.timeMillis, policy: policy.tags)
            if lastActivityDay == .min {
                activeSinceDay = day
            } else if day > lastActivityDay {
                let quiet = Int(day - lastActivityDay)
                if quiet >= policy.lifecycle.atRiskDays { activeSinceDay = day }
                if quiet >= policy.lifecycle.churnedDays { reactivatedDay = day }
            } else if day < (activeSinceDay ?? day) {
                activeSinceDay = day  // an older event arrived late
            }
            lastActivityDay = max(lastActivityDay, day)
        }
        var credits: [ReferralCredit] = []
        switch event.type {
        case .signup:
            signupDay = min(signupDay ?? day, day)
            if let channel = event.properties[policy.tags.firstTouchProperty]?.stringValue, !channel.isEmpty, channel.utf8.count <= 64,
               event.timeMillis < firstTouch?.timeMillis ?? .max {
                firstTouch = FirstTouch(channel: channel, timeMillis: event.timeMillis)
            }
        case .purchase:
            let amount = reportingAmount(event, policy)
            purchases += 1
            grossMinor += amount
            if firstPurchaseDay == nil || day < firstPurchaseDay! {
                firstPurchaseDay = day
                firstPurchaseMinor = amount
            }
            lastPurchaseDay = max(lastPurchaseDay ?? day, day)
            addToMonth(day, purchases: 1, netMinor: amount)
            if let items = event.properties["items"]?.arrayValue, let currency = event.properties["currency"]?.stringValue {
                for item in items {
                    guard let object = item.objectValue, let category = object["category"]?.stringValue else { continue }
                    let price = object["price_minor"]?.numberValue?.int64Value ?? 0
                    let quantity = object["quantity"]?.numberValue?.int64Value ?? 1
                    let (line, overflow) = price.multipliedReportingOverflow(by: quantity)
                    addCategorySpend(category, minor: overflow ? 0 : policy.reportingMinor(line, currency: currency) ?? 0, limit: policy.tags.categoriesTracked)
                }
            }
            if let referrer = referredBy { credits.append(totalsCredit(to: referrer)) }
        case .refund:
            let amount = reportingAmount(event, policy)
            refundedMinor += amount
            refunds += 1
            addToMonth(day, purchases: 0, netMinor: -amount)
        case .referral:
            referrals += 1
            if let referred = event.properties["referred_user_id"]?.stringValue {
                credits.append(ReferralCredit(id: "\(event.id):referred", target: referred, kind: .referredBy, referee: "", amountMinor: 0, timeMillis: event.timeMillis))
            }
        case .post, .comment, .like, .share:
            if let index = communityDays.firstIndex(where: { $0.day == day }) {
                communityDays[index].count += 1
            } else {
                communityDays.append(DayCount(day: day, count: 1))
                communityDays.sort { $0.day < $1.day }
                let oldest = (communityDays.last?.day ?? day) - Int32(policy.engagementWindowDays)
                communityDays.removeAll { $0.day <= oldest }
            }
        case .checkIn:
            if let last = checkInLastDay {
                if day == last + 1 { checkInStreak += 1; checkInLastDay = day }
                else if day > last + 1 { checkInStreak = 1; checkInLastDay = day }
            } else {
                checkInStreak = 1
                checkInLastDay = day
            }
            checkInLongest = max(checkInLongest, checkInStreak)
        case .paymentOverdue:
            overduePayments += 1
        case .complaint:
            complaints += 1
        case .subscriptionStarted, .subscriptionRenewed:
            subscriptionActive = true
        case .subscriptionCancelled:
            subscriptionActive = false
        default:
            break
        }
        return credits
    }

    /// Applies a credit from another user's partition; returns messages it causes in turn.
    public mutating func apply(_ credit: ReferralCredit, sender: String) -> [ReferralCredit] {
        switch credit.kind {
        case .referredBy:
            // Two users may refer the same person: the earlier referral wins (then the smaller id),
            // so the outcome does not depend on which credit arrives first.
            if let current = referredBy {
                guard (credit.timeMillis, sender) < (referredAtMillis, current) else { return [] }
                referredBy = sender
                referredAtMillis = credit.timeMillis
                // The old referrer forgets this referee for good; the new one gets the totals.
                let revoke = ReferralCredit(id: "\(credit.id):revoke", target: current, kind: .revoked, referee: "", amountMinor: 0)
                return purchases > 0 ? [revoke, totalsCredit(to: sender)] : [revoke]
            }
            referredBy = sender
            referredAtMillis = credit.timeMillis
            // Bought before the referral arrived: the referrer gets the totals at once.
            if purchases > 0 { return [totalsCredit(to: sender)] }
        case .refereeTotals:
            record(RefereeTotals(referee: StableHash.fnv1a(sender), purchases: credit.purchases, grossMinor: credit.amountMinor, revoked: false))
        case .revoked:
            record(RefereeTotals(referee: StableHash.fnv1a(sender), purchases: 0, grossMinor: 0, revoked: true))
        case .converted:
            // Written by earlier versions (before totals): still applied as they were.
            convertedReferrals += 1
            referralSpendMinor += credit.amountMinor
        case .spend:
            referralSpendMinor += credit.amountMinor
        }
        return []
    }

    /// This referee's totals for its referrer: what it bought since it exists (gross, refunds
    /// never reduce a referrer's credit). Both only grow, so the latest totals are the largest.
    private func totalsCredit(to referrer: String) -> ReferralCredit {
        ReferralCredit(id: "totals:\(purchases):\(grossMinor)", target: referrer, kind: .refereeTotals, referee: "", amountMinor: grossMinor, purchases: purchases)
    }

    /// Keeps the largest totals per referee (a revocation is final), then derives the counters.
    private mutating func record(_ totals: RefereeTotals) {
        if let index = referees.firstIndex(where: { $0.referee == totals.referee }) {
            let known = referees[index]
            guard !known.revoked else { return }
            guard totals.revoked || (totals.purchases, totals.grossMinor) > (known.purchases, known.grossMinor) else { return }
            referees[index] = totals
        } else {
            referees.append(totals)
            referees.sort { $0.referee < $1.referee }
        }
        let live = referees.filter { !$0.revoked }
        convertedReferrals = Int32(live.filter { $0.purchases > 0 }.count)
        referralSpendMinor = live.reduce(0) { $0 + $1.grossMinor }
    }

    private func reportingAmount(_ event: UserEvent, _ policy: ScoringPolicy) -> Int64 {
        guard let minor = event.properties["amount_minor"]?.numberValue?.int64Value,
              let currency = event.properties["currency"]?.stringValue else { return 0 }
        return policy.reportingMinor(minor, currency: currency) ?? 0
    }

    /// Space-Saving: a category not counted takes over the smallest counter when all are in use.
    private mutating func addCategorySpend(_ name: String, minor: Int64, limit: Int) {
        if let index = categorySpend.firstIndex(where: { $0.name == name }) {
            categorySpend[index].minor &+= max(0, minor)
        } else if categorySpend.count < limit {
            categorySpend.append(CategorySpend(name: name, minor: max(0, minor)))
        } else if let smallest = categorySpend.indices.min(by: { categorySpend[$0].minor < categorySpend[$1].minor }) {
            categorySpend[smallest] = CategorySpend(name: name, minor: categorySpend[smallest].minor &+ max(0, minor))
        }
    }

    /// Distinct categories bought: the named counters (and, for state written before them, the
    /// categories hashed into 64 bits).
    public var categoryVariety: Int { max(categories.nonzeroBitCount, categorySpend.count) }

    static func monthIndex(_ day: Int32) -> Int32 { day / 30 }

    private mutating func addToMonth(_ day: Int32, purchases count: Int32, netMinor: Int64) {
        let index = Self.monthIndex(day)
        if let position = months.firstIndex(where: { $0.index == index }) {
            months[position].purchases += count
            months[position].netMinor += netMinor
        } else {
            months.append(Month(index: index, purchases: count, netMinor: netMinor))
            months.sort { $0.index < $1.index }
            if months.count > Self.monthsKept { months.removeFirst(months.count - Self.monthsKept) }
        }
    }

    // MARK: Derived facts

    /// Purchases and net spend in the RFM window ending `today` (30-day buckets: the window edge is
    /// exact to a bucket, not to a day).
    public func window(today: Int32, days: Int) -> (purchases: Int, netMinor: Int64) {
        let first = Self.monthIndex(today - Int32(days) + 1)
        var purchases = 0
        var net: Int64 = 0
        for month in months where month.index >= first && month.index <= Self.monthIndex(today) {
            purchases += Int(month.purchases)
            net += month.netMinor
        }
        return (purchases, net)
    }

    public func communityActions(today: Int32, days: Int) -> Int {
        communityDays.filter { $0.day > today - Int32(days) && $0.day <= today }.reduce(0) { $0 + Int($1.count) }
    }
}

/// What a referrer knows of one referee: the referee's own totals (an idempotent, commutative
/// record: the largest totals win), or that the referee chose an earlier referrer.
public struct RefereeTotals: Sendable, Equatable {
    /// Stable hash of the referee's user id.
    public var referee: UInt64
    public var purchases: Int32
    public var grossMinor: Int64
    public var revoked: Bool
}

/// A message from one user's partition to another's (through the repartition topic keyed by
/// `target`): the referral circle. `id` is derived from the causing event, so a replayed message
/// is recognised and applied once.
public struct ReferralCredit: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case referredBy = "referred_by", refereeTotals = "referee_totals", revoked
        /// Written by earlier versions only (one credit per purchase, which could double-count
        /// when a replay interleaved differently); still read.
        case converted, spend
    }
    public let id: String
    public let target: String
    public let kind: Kind
    public let referee: String
    public let amountMinor: Int64
    /// When the referral happened (for `referredBy`).
    public let timeMillis: Int64
    /// The referee's purchase count (for `refereeTotals`).
    public let purchases: Int32

    public init(id: String, target: String, kind: Kind, referee: String, amountMinor: Int64, timeMillis: Int64 = 0, purchases: Int32 = 0) {
        self.id = id
        self.target = target
        self.kind = kind
        self.referee = referee
        self.amountMinor = amountMinor
        self.timeMillis = timeMillis
        self.purchases = purchases
    }

    public func encoded(sender: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("kind"); w.string(kind.rawValue)
        w.key("from"); w.string(sender)
        w.key("amount_minor"); w.int(amountMinor)
        w.key("time_ms"); w.int(timeMillis)
        if kind == .refereeTotals { w.key("purchases"); w.int(Int64(purchases)) }
        w.endObject()
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8], target: String) -> (credit: ReferralCredit, sender: String)? {
        guard let object = try? JSONParser.parse(bytes).objectValue,
              let id = object["id"]?.stringValue, let kind = object["kind"]?.stringValue.flatMap(Kind.init(rawValue:)),
              let sender = object["from"]?.stringValue, let amount = object["amount_minor"]?.numberValue?.int64Value else { return nil }
        let time = object["time_ms"]?.numberValue?.int64Value ?? 0
        let purchases = Int32(clamping: object["purchases"]?.numberValue?.int64Value ?? 0)
        return (ReferralCredit(id: id, target: target, kind: kind, referee: sender, amountMinor: amount, timeMillis: time, purchases: purchases), sender)
    }
}
