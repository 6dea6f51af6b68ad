import OrbitContract
import OrbitNotifyRules
import OrbitScoringRules

/// Everything the operations report shows, as plain values: built from live topics by
/// ``ReportData/from(_:)`` and rendered by ``OperationsReport``; tests build it by hand.
public struct ReportData: Sendable {
    /// One user's latest profile, as far as the report needs it.
    public struct Profile: Sendable, Equatable {
        public var userID: String
        public var r: Int
        public var f: Int
        public var segment: String
        public var stage: String
        public var tier: String
        public var superUser: Bool
        public var clvMinor: Double?
        public var referredBy: String?
        public var referrals: Int
        public var convertedReferrals: Int
        public init(userID: String, r: Int, f: Int, segment: String, stage: String, tier: String, superUser: Bool, clvMinor: Double?,
                    referredBy: String? = nil, referrals: Int = 0, convertedReferrals: Int = 0) {
            self.userID = userID; self.r = r; self.f = f; self.segment = segment; self.stage = stage; self.tier = tier
            self.superUser = superUser; self.clvMinor = clvMinor; self.referredBy = referredBy; self.referrals = referrals
            self.convertedReferrals = convertedReferrals
        }
    }

    public struct PointsDay: Sendable, Equatable {
        public var day: String
        public var earned: Int64 = 0
        public var redeemed: Int64 = 0
        public var expired: Int64 = 0
        public init(day: String) { self.day = day }
    }

    public var generatedAt: String
    public var currency: String = "USD"
    public var currencyDigits: Int = 2
    public var profiles: [Profile] = []
    /// Lifecycle moves seen on the segment-changes topic: (from, to) -> users.
    public var lifecycleFlows: [String: [String: Int]] = [:]
    public var pointsByDay: [PointsDay] = []
    public var levels: [String: Int] = [:]
    public var levelOrder: [String] = []
    /// channel -> status -> delivery records.
    public var deliveries: [String: [String: Int]] = [:]
    public var experiments: [ExperimentReport] = []
    /// Each journey's funnel, summed over partitions (`orbit.journey-progress`).
    public var journeys: [JourneyReport.Row] = []
    public var calibration: ModelCalibration?
    /// Where the calibration's deployed model came from (a refit on orbit.models, or the model file).
    public var calibrationModel = "the model file"
    /// The points mall: units redeemed per day and reward, redemption results, each reward's
    /// stock, and the points liability (outstanding balances, and their value at checkout).
    public var mall = Mall()
    /// Operators' segments: sizes now, each day's sizes (the day's last census of each scorer
    /// partition, summed), and their names.
    public var customSegments = CustomSegments()

    public struct CustomSegments: Sendable {
        public var now: [String: Int] = [:]
        public var byDay: [String: [String: Int]] = [:]
        public var names: [String: String] = [:]
        public init() {}
    }

    public struct Mall: Sendable {
        /// day -> reward -> units redeemed (net of nothing: a cancellation shows in `results`).
        public var redeemedByDay: [String: [String: Int64]] = [:]
        /// accepted, or the rejection reason -> redemptions.
        public var results: [String: Int] = [:]
        public var cancelled = 0
        /// reward -> (units issued, the stock: nil when unlimited), for the rewards of the catalogue.
        public var stock: [String: (issued: Int64, total: Int64?)] = [:]
        public var rewardNames: [String: String] = [:]
        public var outstandingPoints: Int64 = 0
        public var heldPoints: Int64 = 0
        public var pointsPerUnit: Int64 = 100
        /// Coupons by their latest status (issued, used, expired, voided), from `orbit.coupons`.
        public var coupons: [String: Int] = [:]
        /// Used coupons among those settled by the shop or the clock (used or expired); nil: none yet.
        public var couponUseRate: Double? {
            let used = coupons["used", default: 0], settled = used + coupons["expired", default: 0]
            return settled == 0 ? nil : Double(used) / Double(settled)
        }
        public init() {}
    }

    public init(generatedAt: String) { self.generatedAt = generatedAt }

    public static let segmentOrder = RFMSegment.allCases.map(\.rawValue)
    public static let stageOrder = LifecycleStage.allCases.map(\.rawValue)
}
