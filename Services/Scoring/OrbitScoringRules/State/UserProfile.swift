import Foundation
import OrbitContract

/// The thresholds every scorer instance applies, from the shared population sketches.
public struct PopulationThresholds: Sendable, Equatable {
    public var rfm: RFMThresholds
    /// Net window spend (minor units) at the super-user spend quantile; nil when unknown.
    public var superUserSpendMinor: Double?

    public init(rfm: RFMThresholds, superUserSpendMinor: Double?) {
        self.rfm = rfm
        self.superUserSpendMinor = superUserSpendMinor
    }
}

/// A user's whole current profile: the value of `orbit.user-profiles`.
public struct UserProfile: Sendable, Equatable {
    public var userID: String
    public var evaluatedDay: Int32
    public var rfmValues: RFMValues
    public var rfmScore: RFMScore
    public var segment: RFMSegment
    public var lifecycle: LifecycleDecision
    public var evaluationScore: Double
    public var tier: ValueTier
    public var superUser: Bool
    public var superUserMissing: [SuperUserShortfall]
    public var probabilityAlive: Double?
    public var expectedPurchases30d: Double?
    public var expectedPurchases90d: Double?
    public var expectedOrderValueMinor: Double?
    public var clvMinor: Double?
    public var community30d: Int
    public var checkInStreak: Int
    public var checkInLongest: Int
    public var referrals: Int
    public var convertedReferrals: Int
    public var referralSpendMinor: Int64
    public var referredBy: String?
    public var configVersion: String
    public var reportingCurrency: String
    public var lastEventMillis: Int64
    // The portrait.
    public var tags = DerivedTags()
    public var attributes: [UserAttribute] = []
    public var member = MemberFacts()
    public var recentEvents: [RecentEventTotals] = []
    /// The operators' segments the user is in, sorted by id.
    public var customSegments: [String] = []

    /// The profile of a user who withdrew consent to profiling: no scores, segments, stages, tiers
    /// or predictions, and the reason in their place (deterministic bytes, like every profile).
    public static func withheld(userID: String, evaluatedDay: Int32) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 200)
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("user_id"); w.string(userID)
        w.field("evaluated_on"); w.date(day: Int64(evaluatedDay))
        w.field("profiling")
        w.beginObject()
        w.field("withheld"); w.bool(true)
        w.field("reason"); w.string("the user withdrew consent to profiling (consents.profiling is false in orbit.user-preferences)")
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// Deterministic bytes (fixed key order, rounded numbers), so equal profiles are equal records.
    public func encoded() -> [UInt8] {
        func rounded(_ w: inout JSONWriter, _ x: Double?, _ places: Double = 1e6) {
            guard let x, x.isFinite else { return w.null() }
            w.fixed6((x * places).rounded() / places)
        }
        // Room for a whole profile with its super-user reasons. With 700 bytes the buffer grew for
        // most profiles, a second allocation and a copy each (a jemalloc heap profile of the peer
        // job showed 65 MB of grown profile buffers live at its peak).
        var w = JSONWriter(reservingCapacity: 1200)
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("user_id"); w.string(userID)
        w.field("evaluated_on"); w.date(day: Int64(evaluatedDay))
        w.field("rfm")
        w.beginObject()
        w.field("recency_days"); if let r = rfmValues.recencyDays { w.int(r) } else { w.null() }
        w.field("frequency"); w.int(rfmValues.frequency)
        w.field("monetary_minor"); w.int(rfmValues.monetaryMinor)
        w.field("r"); w.int(rfmScore.recency)
        w.field("f"); w.int(rfmScore.frequency)
        w.field("m"); w.int(rfmScore.monetary)
        // `rfmScore.description`, written without building the `String`.
        w.field("score"); w.beginString()
        w.stringPart(Int64(rfmScore.recency)); w.stringPart(Int64(rfmScore.frequency)); w.stringPart(Int64(rfmScore.monetary))
        w.endString()
        w.endObject()
        w.field("segment"); w.string(segment.rawValue)
        w.field("lifecycle")
        w.beginObject()
        w.field("stage"); w.string(lifecycle.stage.rawValue)
        w.field("reason"); w.string(lifecycle.reason)
        w.field("since"); w.date(day: Int64(lifecycle.since))
        w.endObject()
        w.field("tier"); w.string(tier.rawValue)
        w.field("evaluation_score"); rounded(&w, evaluationScore, 1000)
        w.field("super_user"); w.bool(superUser)
        w.field("super_user_missing"); w.beginArray(); for m in superUserMissing { m.write(to: &w) }; w.endArray()
        w.field("churn")
        w.beginObject()
        w.field("probability_alive"); rounded(&w, probabilityAlive)
        w.field("expected_purchases_30d"); rounded(&w, expectedPurchases30d)
        w.field("expected_purchases_90d"); rounded(&w, expectedPurchases90d)
        w.field("expected_order_value_minor"); rounded(&w, expectedOrderValueMinor, 100)
        w.field("clv_minor"); rounded(&w, clvMinor, 100)
        w.endObject()
        w.field("engagement")
        w.beginObject()
        w.field("community_actions_30d"); w.int(community30d)
        w.field("check_in_streak"); w.int(checkInStreak)
        w.field("check_in_longest_streak"); w.int(checkInLongest)
        w.endObject()
        w.field("referral_circle")
        w.beginObject()
        w.field("referred_by"); if let referredBy { w.string(referredBy) } else { w.null() }
        w.field("referrals"); w.int(referrals)
        w.field("converted"); w.int(convertedReferrals)
        w.field("referee_spend_minor"); w.int(referralSpendMinor)
        w.endObject()
        w.field("currency"); w.string(reportingCurrency)
        w.field("config_version"); w.string(configVersion)
        w.field("last_event_time"); if lastEventMillis == .min { w.null() } else { w.timestamp(millis: lastEventMillis) }
        w.field("tags"); tags.write(to: &w)
        w.field("attributes")
        w.beginObject()
        for attribute in attributes { w.key(attribute.name); attribute.value.write(to: &w) }
        w.endObject()
        w.field("membership")
        w.beginObject()
        w.field("level"); if let level = member.level { w.string(level) } else { w.null() }
        w.field("paid"); w.bool(member.paid)
        w.endObject()
        w.field("recent_events")
        w.beginObject()
        for totals in recentEvents {
            w.key(totals.type.name)
            w.beginObject()
            for (window, count) in zip(RecentWindow.allCases, totals.counts) { w.key(window.label); w.int(count) }
            w.endObject()
        }
        w.endObject()
        w.field("custom_segments"); w.beginArray(); for id in customSegments { w.string(id) }; w.endArray()
        w.endObject()
        return w.bytes
    }
}

/// One change of a user's segment, lifecycle stage, tier or super-user flag: a record of
/// `orbit.segment-changes`.
public struct SegmentChange: Sendable, Equatable {
    public enum Dimension: Sendable, Hashable {
        case segment, lifecycle, tier, superUser
        /// An operator's segment (``SegmentDefinition``): `custom:<id>`, changing between "true" and "false".
        case custom(String)

        public var rawValue: String {
            switch self {
            case .segment: "segment"
            case .lifecycle: "lifecycle"
            case .tier: "tier"
            case .superUser: "super_user"
            case .custom(let id): "custom:\(id)"
            }
        }
    }
    public let userID: String
    public let dimension: Dimension
    public let from: String?
    public let to: String
    public let reason: String
    public let day: Int32

    public init(userID: String, dimension: Dimension, from: String?, to: String, reason: String, day: Int32) {
        self.userID = userID
        self.dimension = dimension
        self.from = from
        self.to = to
        self.reason = reason
        self.day = day
    }

    /// Deterministic id: the same change on the same day has the same id, so a replay repeats it identically.
    public var id: String { "\(userID):\(dimension.rawValue):\(to):\(day)" }

    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 320)  // with 200 the heap profile showed these buffers growing too
        w.beginObject()
        w.field("schema_version"); w.int(1)
        // `id`, written in parts (the same bytes as `string(id)`).
        w.field("id")
        w.beginString()
        w.stringPart(userID); w.stringPart(ascii: ":"); w.stringPart(dimension.rawValue); w.stringPart(ascii: ":")
        w.stringPart(to); w.stringPart(ascii: ":"); w.stringPart(Int64(day))
        w.endString()
        w.field("user_id"); w.string(userID)
        w.field("dimension"); w.string(dimension.rawValue)
        w.field("from"); if let from { w.string(from) } else { w.null() }
        w.field("to"); w.string(to)
        w.field("reason"); w.string(reason)
        w.field("on"); w.date(day: Int64(day))
        w.endObject()
        return w.bytes
    }
}

/// Turns a user's state into their profile, and notes what changed since the last publication.
public struct ProfileEvaluator: Sendable {
    public let policy: ScoringPolicy
    /// Minor units per major unit of the reporting currency (looked up once, not per user).
    let scale: Double
    /// The CLV model with its discounts worked out once, not per user.
    let lifetimeValue: LifetimeValue

    public init(policy: ScoringPolicy) {
        self.policy = policy
        let digits = policy.currencyDigits[policy.reportingCurrency] ?? 2
        self.scale = (0..<digits).reduce(1.0) { v, _ in v * 10 }
        self.lifetimeValue = LifetimeValue(purchases: policy.purchaseModel, spend: policy.spendModel, margin: policy.clvMargin,
                                           annualDiscountRate: policy.clvAnnualDiscountRate)
    }

    /// The churn models' view of a user, in model time units.
    public func history(_ state: UserState, today: Int32) -> CustomerHistory? {
        guard let first = state.firstPurchaseDay, let last = state.lastPurchaseDay else { return nil }
        let unit = policy.modelTimeUnitDays
        let repeats = Double(max(0, state.purchases - 1))
        let repeatMean = repeats > 0 ? Double(state.grossMinor - state.firstPurchaseMinor) / repeats / scale : 0
        return CustomerHistory(frequency: repeats, recency: Double(last - first) / unit,
                               age: Double(max(today, last) - first) / unit, monetaryValue: max(0, repeatMean))
    }

    /// - Parameter segments: the operators' segments, sorted by id: the user enters and leaves them
    ///   as the profile matches them (``SegmentChange/Dimension/custom(_:)``); one the user is in
    ///   that is no longer defined (retired) is left.
    ///   `retired`: ids of segments known to be retired (their record is a tombstone): their members
    ///   leave. A segment the user is in that is neither defined nor known retired (its definition
    ///   not read yet after a start, say) is kept as it is.
    public func evaluate(_ state: inout UserState, userID: String, today: Int32, thresholds: PopulationThresholds,
                         segments: [SegmentDefinition] = [], retired: Set<String> = []) -> (UserProfile, [SegmentChange]) {
        let window = state.window(today: today, days: policy.rfmWindowDays)
        let recency = state.lastPurchaseDay.map { Int(max(0, today - $0)) }
        let values = RFMValues(recencyDays: recency, frequency: window.purchases, monetaryMinor: window.netMinor)
        let score = thresholds.rfm.score(values)
        let segment = RFMSegment(score, highFrom: policy.rfmHighFrom)

        let history = self.history(state, today: today)
        let alive = history.map { policy.purchaseModel.probabilityAlive($0) }
        let unit = policy.modelTimeUnitDays
        let expected30 = history.map { policy.purchaseModel.expectedPurchases(in: 30 / unit, $0) }
        let expected90 = history.map { policy.purchaseModel.expectedPurchases(in: 90 / unit, $0) }
        let orderValue = history.map { policy.spendModel.expectedAverageValue($0) * scale }
        let clv = history.map { lifetimeValue.value($0, months: policy.clvMonths, unitsPerMonth: 30.4375 / unit) * scale }

        let facts = LifecycleFacts(signupDay: state.signupDay, firstSeenDay: state.firstSeenDay,
                                   lastActivityDay: state.lastActivityDay == .min ? state.firstSeenDay : state.lastActivityDay,
                                   activeSinceDay: state.activeSinceDay, reactivatedDay: state.reactivatedDay,
                                   purchases: Int(state.purchases), probabilityAlive: alive)
        let lifecycle = policy.lifecycle.evaluate(facts, today: today)

        let tenureDays = Int(today - (state.signupDay ?? state.firstSeenDay))
        let community = state.communityActions(today: today, days: policy.engagementWindowDays)
        let inputs = EvaluationInputs(
            spend: Double(window.netMinor) / scale, variety: Double(state.categoryVariety),
            tenureYears: Double(max(0, tenureDays)) / 365, convertedReferrals: Double(state.convertedReferrals),
            referralSpend: Double(state.referralSpendMinor) / scale, engagement: Double(community),
            overduePayments: Double(state.overduePayments),
            refundRatio: state.grossMinor > 0 ? Double(state.refundedMinor) / Double(state.grossMinor) : 0,
            complaints: Double(state.complaints))
        let evaluation = policy.tier.score(inputs)
        let tier = policy.tier.tier(forScore: evaluation)
        let mvp = policy.superUser.evaluate(.init(paidPurchases: Int(state.purchases), netSpendMinor: window.netMinor, tenureDays: tenureDays,
                                                  communityActions30d: community, convertedReferrals: Int(state.convertedReferrals)),
                                            spendThreshold: thresholds.superUserSpendMinor)

        var changes: [SegmentChange] = []
        if state.lastSegment != segment {
            changes.append(SegmentChange(userID: userID, dimension: .segment, from: state.lastSegment?.rawValue, to: segment.rawValue,
                                         reason: "RFM \(score) (recency \(recency.map { "\($0) days" } ?? "never bought"), \(window.purchases) purchases, net \(window.netMinor) minor in \(policy.rfmWindowDays) days)", day: today))
        }
        if state.lastLifecycle != lifecycle.stage {
            changes.append(SegmentChange(userID: userID, dimension: .lifecycle, from: state.lastLifecycle?.rawValue, to: lifecycle.stage.rawValue, reason: lifecycle.reason, day: today))
        }
        if state.lastTier != tier {
            changes.append(SegmentChange(userID: userID, dimension: .tier, from: state.lastTier?.rawValue, to: tier.rawValue,
                                         reason: "evaluation score \(evaluation) (S from \(policy.tier.sCutoff), A from \(policy.tier.aCutoff))", day: today))
        }
        if state.lastSuperUser != mvp.isSuperUser, !(state.lastTier == nil && !mvp.isSuperUser) {
            changes.append(SegmentChange(userID: userID, dimension: .superUser, from: String(state.lastSuperUser), to: String(mvp.isSuperUser),
                                         reason: mvp.isSuperUser ? "meets every super-user criterion" : "no longer: " + mvp.missing.map(\.description).joined(separator: "; "), day: today))
        }
        state.lastSegment = segment
        state.lastLifecycle = lifecycle.stage
        state.lastLifecycleSince = lifecycle.since
        state.lastTier = tier
        state.lastSuperUser = mvp.isSuperUser

        var profile = UserProfile(
            userID: userID, evaluatedDay: today, rfmValues: values, rfmScore: score, segment: segment, lifecycle: lifecycle,
            evaluationScore: evaluation, tier: tier, superUser: mvp.isSuperUser, superUserMissing: mvp.missing,
            probabilityAlive: alive, expectedPurchases30d: expected30, expectedPurchases90d: expected90,
            expectedOrderValueMinor: orderValue, clvMinor: clv, community30d: community,
            checkInStreak: Int(state.checkInStreak), checkInLongest: Int(state.checkInLongest), referrals: Int(state.referrals),
            convertedReferrals: Int(state.convertedReferrals), referralSpendMinor: state.referralSpendMinor, referredBy: state.referredBy,
            configVersion: policy.configVersion, reportingCurrency: policy.reportingCurrency, lastEventMillis: state.lastEventMillis)
        profile.tags = DerivedTags(state, policy: policy.tags, communityActions: community)
        profile.attributes = state.attributes
        profile.member = state.member
        profile.recentEvents = RecentEvents.counts(state.recentEvents, today: today)
        if !segments.isEmpty || !state.customSegments.isEmpty {
            Self.customSegments(segments, retired: retired, profile: profile, state: &state, userID: userID, today: today, changes: &changes)
        }
        profile.customSegments = state.customSegments
        return (profile, changes)
    }

    /// Entries into and exits from the operators' segments, in id order. `segments` is sorted by
    /// id, so the user's segments before and after are compared as sorted lists (no set or
    /// dictionary per user: this runs for every profile evaluated).
    static func customSegments(_ segments: [SegmentDefinition], retired: Set<String>, profile: UserProfile, state: inout UserState, userID: String, today: Int32,
                               changes: inout [SegmentChange]) {
        var now: [String] = []
        for definition in segments where definition.predicate.matches(profile) { now.append(definition.id) }
        if !state.customSegments.isEmpty {
            // Kept as they are: segments the user is in that are not defined (yet) and not retired.
            func defined(_ id: String) -> Bool {
                var low = 0, high = segments.count
                while low < high {
                    let middle = (low + high) / 2
                    if segments[middle].id < id { low = middle + 1 } else { high = middle }
                }
                return low < segments.count && segments[low].id == id
            }
            let unknown = state.customSegments.filter { !defined($0) && !retired.contains($0) }
            if !unknown.isEmpty { now = (now + unknown).sorted() }
        }
        guard now != state.customSegments else { return }
        func name(_ id: String) -> String? { segments.first { $0.id == id }?.name }
        var (i, j) = (0, 0)
        let before = state.customSegments
        while i < before.count || j < now.count {
            if j == now.count || (i < before.count && before[i] < now[j]) {
                let id = before[i]
                changes.append(SegmentChange(userID: userID, dimension: .custom(id), from: "true", to: "false",
                                             reason: name(id).map { "no longer matches \($0)" } ?? "the segment was retired", day: today))
                i += 1
            } else if i == before.count || now[j] < before[i] {
                let id = now[j]
                changes.append(SegmentChange(userID: userID, dimension: .custom(id), from: "false", to: "true", reason: "matches \(name(id) ?? id)", day: today))
                j += 1
            } else {
                i += 1
                j += 1
            }
        }
        state.customSegments = now
    }
}

/// `%.6f` without Foundation's formatter (which was an eighth of the scorer's CPU): profiles
/// write their numbers with ``JSONWriter/fixed6(_:)``; this is the same as a `String`, for tests.
public enum FixedDecimal {
    public static func sixPlaces(_ x: Double) -> String {
        var w = JSONWriter()
        w.fixed6(x)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
