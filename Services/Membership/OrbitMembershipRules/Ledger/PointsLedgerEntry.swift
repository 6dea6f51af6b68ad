import OrbitContract

/// One line of a user's points ledger: what changed, by how much, why, and the balance after.
/// Entries are append-only; the balance is always the sum of a user's entries.
public struct PointsLedgerEntry: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case earn, redeem, expire, adjust, reverse
        /// The balance of an erased member, closed to 0 (`orbit forget`): either sign.
        case forfeit
        /// Points set aside for a redemption (`points` 0, `held` > 0); a `redeem` entry with a
        /// negative `held` spends them, a `release` entry (`points` 0) gives them back.
        case hold, release
        /// Points paid at checkout given back on the order's refund, with their original expiry.
        case refund
    }

    /// Idempotency key: the source event or command id plus the rule id. Never applied twice.
    public let key: String
    public let userID: String
    public let kind: Kind
    /// Signed: positive adds to the balance, negative takes from it.
    public let points: Int64
    public let balanceAfter: Int64
    public let ruleID: String?
    /// For people: "why did my points change?"
    public let reason: String
    public let timeMillis: Int64
    /// Points that could not be taken because they were already spent (refund reversals only).
    public let shortfall: Int64
    /// The change in points held for redemptions: + on `hold`, - on the `redeem` or `release` that settles it.
    public let held: Int64

    public init(key: String, userID: String, kind: Kind, points: Int64, balanceAfter: Int64, ruleID: String?, reason: String, timeMillis: Int64,
                shortfall: Int64 = 0, held: Int64 = 0) {
        self.key = key
        self.userID = userID
        self.kind = kind
        self.points = points
        self.balanceAfter = balanceAfter
        self.ruleID = ruleID
        self.reason = reason
        self.timeMillis = timeMillis
        self.shortfall = shortfall
        self.held = held
    }
}

/// Points earned together, with their own expiry and lock. Spending and expiry take from the
/// oldest lot first.
public struct PointsLot: Sendable, Equatable, Codable {
    /// The key of the entry that created the lot.
    public let id: String
    public let earnedAtMillis: Int64
    /// Not spendable before this (a lock period), though it counts in the balance.
    public internal(set) var availableAtMillis: Int64
    /// Nil: never expires.
    public let expiresAtMillis: Int64?
    /// The order the points were earned on, for refund reversals (nil once lots of several orders merge).
    public internal(set) var orderID: String?
    public var remaining: Int64
    /// An "expiring soon" notice was sent for this lot.
    public var warned = false

    public init(id: String, earnedAtMillis: Int64, availableAtMillis: Int64, expiresAtMillis: Int64?, orderID: String?, remaining: Int64) {
        self.id = id
        self.earnedAtMillis = earnedAtMillis
        self.availableAtMillis = availableAtMillis
        self.expiresAtMillis = expiresAtMillis
        self.orderID = orderID
        self.remaining = remaining
    }
}

/// When newly earned points expire.
public enum LotExpiry: Sendable, Equatable {
    case afterDays(Int)
    case endOfMonth
    case endOfYear
    case never

    /// The expiry instant for points earned at `millis` (UTC calendar).
    public func expiry(earnedAt millis: Int64) -> Int64? {
        let day: Int64 = 86_400_000
        switch self {
        // Rounded up to the end of the UTC day, so a day's lots share an expiry and merge.
        case .afterDays(let days): return (millis / day + Int64(days) + 1) * day - 1
        case .never: return nil
        case .endOfMonth, .endOfYear:
            let (year, month) = CivilCalendar.yearMonth(millis: millis)
            let (nextYear, nextMonth) = self == .endOfMonth ? (month == 12 ? (year + 1, 1) : (year, month + 1)) : (year + 1, 1)
            return CivilCalendar.startOfMonth(year: nextYear, month: nextMonth) - 1
        }
    }
}

/// Month arithmetic in UTC, on the contract's calendar functions.
enum CivilCalendar {
    static func yearMonth(millis: Int64) -> (Int, Int) {
        let (year, month, _) = RFC3339.civilFromDays(Int((millis >= 0 ? millis : millis - 86_399_999) / 86_400_000))
        return (year, month)
    }

    static func startOfMonth(year: Int, month: Int) -> Int64 {
        Int64(RFC3339.daysFromCivil(year: year, month: month, day: 1)) * 86_400_000
    }
}
