/// A member's points: lots, the debt left by reversals of points already spent (when negative
/// balances are allowed), and the operations that change them. Every operation returns the
/// ledger entries it made; the balance after each equals the running sum of the entries.
///
/// Pure: time is always passed in, never read.
public struct PointsAccount: Sendable, Equatable {
    public let userID: String
    public internal(set) var lots: [PointsLot] = []
    /// Points owed: reversals beyond what was left (only when negative balances are allowed).
    public internal(set) var debt: Int64 = 0
    /// Points earned per order, for proportional reversal on refund.
    public internal(set) var earnedOnOrder: [String: OrderPoints] = [:]
    /// Points set aside for a redemption not yet settled: no longer spendable, still the member's
    /// (in the balance) until the hold is committed or released.
    public internal(set) var holds: [PointsHold] = []

    public struct OrderPoints: Sendable, Equatable, Codable {
        public var points: Int64
        public var reversed: Int64
        public var earnedAtMillis: Int64
    }

    public init(userID: String) { self.userID = userID }

    /// Forgets orders earned before `cutoff` (their refund window is over), to keep the state small.
    public mutating func forgetOrders(earnedBefore cutoff: Int64) {
        earnedOnOrder = earnedOnOrder.filter { $0.value.earnedAtMillis >= cutoff }
    }

    /// Keeps the points of the newest `limit` orders only.
    public mutating func forgetOrders(keeping limit: Int) {
        guard earnedOnOrder.count > limit else { return }
        let oldest = earnedOnOrder.sorted { ($0.value.earnedAtMillis, $0.key) < ($1.value.earnedAtMillis, $1.key) }.prefix(earnedOnOrder.count - limit)
        for (key, _) in oldest { earnedOnOrder[key] = nil }
    }

    /// Everything the member has, locked, held or not, minus debt. Can be negative only through
    /// allowed reversals.
    public var balance: Int64 { lots.reduce(0) { $0 + $1.remaining } + held - debt }

    /// Points in open holds.
    public var held: Int64 { holds.reduce(0) { $0 + $1.points } }

    /// What can be spent at `now`: unlocked, unexpired lots, minus debt.
    public func available(at now: Int64) -> Int64 {
        lots.filter { $0.availableAtMillis <= now && ($0.expiresAtMillis ?? .max) > now }.reduce(0) { $0 + $1.remaining } - debt
    }

    // MARK: Earning

    /// Adds a lot of `points` (> 0). Debt is paid off first.
    public mutating func earn(_ points: Int64, key: String, kind: PointsLedgerEntry.Kind = .earn, ruleID: String?, reason: String, at time: Int64,
                              orderID: String?, expiry: LotExpiry, lockDays: Int) -> PointsLedgerEntry {
        precondition(points > 0)
        let paidOff = min(debt, points)
        debt -= paidOff
        let kept = points - paidOff
        if kept > 0 {
            let lot = PointsLot(id: key, earnedAtMillis: time, availableAtMillis: time + Int64(lockDays) * 86_400_000,
                                expiresAtMillis: expiry.expiry(earnedAt: time), orderID: orderID, remaining: kept)
            let index = lots.firstIndex { $0.earnedAtMillis > time } ?? lots.count
            // Points that unlock and expire together are one lot (a day's earnings): FIFO order and
            // every total stay the same, and a member's state stays small.
            if index > 0, lots[index - 1].expiresAtMillis == lot.expiresAtMillis,
               lots[index - 1].availableAtMillis / 86_400_000 == lot.availableAtMillis / 86_400_000, lots[index - 1].availableAtMillis >= lot.availableAtMillis - 86_400_000 {
                lots[index - 1].remaining += kept
                lots[index - 1].orderID = lots[index - 1].orderID == orderID ? orderID : nil
                lots[index - 1].availableAtMillis = max(lots[index - 1].availableAtMillis, lot.availableAtMillis)
            } else {
                lots.insert(lot, at: index)
            }
        }
        if let orderID {
            var current = earnedOnOrder[orderID] ?? OrderPoints(points: 0, reversed: 0, earnedAtMillis: time)
            current.points += points
            earnedOnOrder[orderID] = current
        }
        return PointsLedgerEntry(key: key, userID: userID, kind: kind, points: points, balanceAfter: balance, ruleID: ruleID,
                                 reason: paidOff > 0 ? "\(reason) (\(paidOff) paid off earlier shortfall)" : reason, timeMillis: time)
    }

    // MARK: Spending

    public enum SpendFailure: Error, Equatable, Sendable {
        case insufficient(available: Int64)
    }

    /// Takes `points` (> 0) from the available lots, oldest first. Fails without changing anything
    /// when fewer are available.
    public mutating func spend(_ points: Int64, key: String, kind: PointsLedgerEntry.Kind = .redeem, ruleID: String? = nil, reason: String, at now: Int64) -> Result<PointsLedgerEntry, SpendFailure> {
        precondition(points > 0)
        let available = self.available(at: now)
        guard available >= points else { return .failure(.insufficient(available: max(0, available))) }
        take(points, at: now, preferring: nil)
        return .success(PointsLedgerEntry(key: key, userID: userID, kind: kind, points: -points, balanceAfter: balance, ruleID: ruleID, reason: reason, timeMillis: now))
    }

    /// Removes up to `points` from spendable lots (the given order's first, then oldest first);
    /// returns how many were taken.
    @discardableResult
    mutating func take(_ points: Int64, at now: Int64, preferring orderID: String?, includeLocked: Bool = false) -> Int64 {
        var needed = points
        let order = lots.indices.sorted { a, b in
            let pa = lots[a].orderID == orderID && orderID != nil, pb = lots[b].orderID == orderID && orderID != nil
            if pa != pb { return pa }
            return (lots[a].earnedAtMillis, a) < (lots[b].earnedAtMillis, b)
        }
        for index in order where needed > 0 {
            let lot = lots[index]
            guard (lot.expiresAtMillis ?? .max) > now, includeLocked || lot.availableAtMillis <= now || lot.orderID == orderID && orderID != nil else { continue }
            let used = min(lot.remaining, needed)
            lots[index].remaining -= used
            needed -= used
        }
        lots.removeAll { $0.remaining == 0 }
        return points - needed
    }

    // MARK: Expiry

    /// Expires every lot whose time has come: one entry per lot.
    public mutating func expire(at now: Int64) -> [PointsLedgerEntry] {
        var entries: [PointsLedgerEntry] = []
        for lot in lots where (lot.expiresAtMillis ?? .max) <= now && lot.remaining > 0 {
            lots.removeAll { $0.id == lot.id }
            entries.append(PointsLedgerEntry(key: "expire:\(lot.id)", userID: userID, kind: .expire, points: -lot.remaining, balanceAfter: balance,
                                             ruleID: nil, reason: "\(lot.remaining) points earned \(String(RFC3339Day.format(lot.earnedAtMillis))) expired", timeMillis: lot.expiresAtMillis!))
        }
        return entries
    }

    /// Lots expiring within `days` that have not been announced yet; marks them announced.
    public mutating func expiringSoon(at now: Int64, withinDays days: Int) -> [PointsLot] {
        var result: [PointsLot] = []
        for index in lots.indices {
            guard !lots[index].warned, let expires = lots[index].expiresAtMillis, expires > now, expires - now <= Int64(days) * 86_400_000 else { continue }
            lots[index].warned = true
            result.append(lots[index])
        }
        return result
    }

    // MARK: Refunds and adjustments

    /// Reverses the points earned on an order in proportion to the refunded share (0...1). Takes
    /// from that order's lots first, then the oldest. What was already spent is a shortfall: owed
    /// as debt when `allowNegative`, otherwise recorded on the entry and forgiven.
    public mutating func reverse(orderID: String, share: Double, key: String, reason: String, at now: Int64, allowNegative: Bool) -> PointsLedgerEntry? {
        guard let earned = earnedOnOrder[orderID], earned.points > 0 else { return nil }
        let target = min(earned.points, Int64((Double(earned.points) * min(max(share, 0), 1)).rounded()) + earned.reversed)
        let toReverse = target - earned.reversed
        guard toReverse > 0 else { return nil }
        earnedOnOrder[orderID]?.reversed += toReverse
        let taken = take(toReverse, at: now, preferring: orderID, includeLocked: true)
        let shortfall = toReverse - taken
        if shortfall > 0 && allowNegative { debt += shortfall }

        let applied = allowNegative ? toReverse : taken
        return PointsLedgerEntry(key: key, userID: userID, kind: .reverse, points: -applied, balanceAfter: balance, ruleID: nil,
                                 reason: reason, timeMillis: now, shortfall: shortfall)
    }
}

/// Day formatting for reasons.
enum RFC3339Day {
    static func format(_ millis: Int64) -> Substring { RFC3339.format(millis: millis).prefix(10) }
}

import OrbitContract
