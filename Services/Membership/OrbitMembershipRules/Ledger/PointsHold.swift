/// Points set aside for a redemption until the stock stage answers: taken from the spendable lots
/// (oldest first, as spending takes them) and kept with their lots' identity, so a release puts
/// back exactly what was taken, with its original expiry.
public struct PointsHold: Sendable, Equatable {
    /// The redemption's id (its command's request id).
    public let id: String
    public let placedAtMillis: Int64
    /// The parts of lots taken, each a copy of its lot with `remaining` the points taken from it.
    public internal(set) var portions: [PointsLot]
    /// Points a refund could not take because they sat in this hold (negative balances not
    /// allowed): taken back if the hold is released, forgiven if it is spent.
    public internal(set) var clawback: Int64 = 0

    public var points: Int64 { portions.reduce(0) { $0 + $1.remaining } }

    public init(id: String, placedAtMillis: Int64, portions: [PointsLot]) {
        self.id = id
        self.placedAtMillis = placedAtMillis
        self.portions = portions
    }
}

extension PointsAccount {
    /// Open holds per member (redemptions waiting for stock and orders at checkout): a new one
    /// beyond this is refused, well under what the state store reads back.
    public static let holdLimit = 1000

    /// Why a hold was not placed.
    public enum HoldFailure: Error, Equatable, Sendable {
        case insufficient(available: Int64)
        /// ``holdLimit`` holds are open.
        case tooManyHolds
        /// A hold of that id is open.
        case alreadyHeld
    }

    /// Sets `points` (> 0) aside under `id`: the balance stays, the spendable points drop. Fails
    /// without changing anything when ``holdLimit`` holds are open, when a hold of that id is
    /// open, or when fewer points are spendable.
    public mutating func hold(_ points: Int64, id: String, reason: String, at now: Int64) -> Result<PointsLedgerEntry, HoldFailure> {
        precondition(points > 0)
        guard holds.count < Self.holdLimit else { return .failure(.tooManyHolds) }
        guard !holds.contains(where: { $0.id == id }) else { return .failure(.alreadyHeld) }
        let available = self.available(at: now)
        guard available >= points else { return .failure(.insufficient(available: max(0, available))) }
        var needed = points
        var portions: [PointsLot] = []
        let order = lots.indices.sorted { (lots[$0].earnedAtMillis, $0) < (lots[$1].earnedAtMillis, $1) }
        for index in order where needed > 0 {
            let lot = lots[index]
            guard (lot.expiresAtMillis ?? .max) > now, lot.availableAtMillis <= now, lot.remaining > 0 else { continue }
            let used = min(lot.remaining, needed)
            var portion = lot
            portion.remaining = used
            portions.append(portion)
            lots[index].remaining -= used
            needed -= used
        }
        lots.removeAll { $0.remaining == 0 }
        holds.append(PointsHold(id: id, placedAtMillis: now, portions: portions))
        return .success(PointsLedgerEntry(key: "\(id):hold", userID: userID, kind: .hold, points: 0, balanceAfter: balance, ruleID: nil,
                                          reason: reason, timeMillis: now, held: points))
    }

    /// The open hold of that id, if any.
    public func openHold(_ id: String) -> PointsHold? { holds.first { $0.id == id } }

    /// Spends a hold: its points leave the balance (a `redeem` entry). Nil when no hold of that id is open.
    /// (``captureHold(_:reason:at:)`` also returns what it spent.)
    public mutating func commitHold(_ id: String, reason: String, at now: Int64) -> PointsLedgerEntry? {
        guard let index = holds.firstIndex(where: { $0.id == id }) else { return nil }
        let hold = holds.remove(at: index)
        return PointsLedgerEntry(key: "\(id):redeem", userID: userID, kind: .redeem, points: -hold.points, balanceAfter: balance, ruleID: nil,
                                 reason: reason, timeMillis: now, held: -hold.points)
    }

    /// Gives a hold's points back to the lots they came from, with their original expiry (a
    /// `release` entry; the balance does not change), then takes back what a refund could not
    /// take while they were held (a `reverse` entry). Empty when no hold of that id is open.
    public mutating func releaseHold(_ id: String, reason: String, at now: Int64) -> [PointsLedgerEntry] {
        guard let index = holds.firstIndex(where: { $0.id == id }) else { return [] }
        let hold = holds.remove(at: index)
        for portion in hold.portions { putBack(portion, returnedBy: id, at: now) }
        var entries = [PointsLedgerEntry(key: "\(id):release", userID: userID, kind: .release, points: 0, balanceAfter: balance, ruleID: nil,
                                         reason: reason, timeMillis: now, held: -hold.points)]
        if let reclaimed = reclaim(hold.clawback, key: "\(id):clawback", reason: "refunded points that were held for \(id)", at: now) { entries.append(reclaimed) }
        return entries
    }

    /// Owes `shortfall` refunded points to the open holds (each up to its points), the oldest
    /// first; returns what no hold took.
    public mutating func owe(_ shortfall: Int64) -> Int64 {
        var left = shortfall
        for index in holds.indices where left > 0 {
            let owed = min(left, holds[index].points - holds[index].clawback)
            holds[index].clawback += owed
            left -= owed
        }
        return left
    }

    /// Takes back up to `points` from the lots (a `reverse` entry): refunded points that were
    /// out of reach (held or spent) when the refund came, and have just come back.
    public mutating func reclaim(_ points: Int64, key: String, reason: String, at now: Int64) -> PointsLedgerEntry? {
        guard points > 0 else { return nil }
        let taken = take(points, at: now, preferring: nil, includeLocked: true)
        guard taken > 0 else { return nil }
        return PointsLedgerEntry(key: key, userID: userID, kind: .reverse, points: -taken, balanceAfter: balance, ruleID: nil, reason: reason, timeMillis: now)
    }

    /// Puts a part of a lot back: into its own lot when that lot is still there, otherwise as a
    /// lot of its own, in earning order: under its old id, or a new one when its lot has expired
    /// meanwhile (its `expire:<id>` entry is written, and must not be written twice).
    mutating func putBack(_ portion: PointsLot, returnedBy key: String, at now: Int64) {
        if let lot = lots.firstIndex(where: { $0.id == portion.id }) {
            lots[lot].remaining += portion.remaining
        } else {
            let expired = (portion.expiresAtMillis ?? .max) <= now
            var lot = PointsLot(id: expired ? "\(portion.id)~\(key)" : portion.id, earnedAtMillis: portion.earnedAtMillis, availableAtMillis: portion.availableAtMillis,
                                expiresAtMillis: portion.expiresAtMillis, orderID: portion.orderID, remaining: portion.remaining)
            lot.warned = portion.warned
            lots.insert(lot, at: lots.firstIndex { $0.earnedAtMillis > lot.earnedAtMillis } ?? lots.count)
        }
    }

    /// Restores holds read from the state store.
    mutating func restore(holds: [PointsHold]) { self.holds = holds }
}
