/// Points set aside for a redemption until the stock stage answers: taken from the spendable lots
/// (oldest first, as spending takes them) and kept with their lots' identity, so a release puts
/// back exactly what was taken, with its original expiry.
public struct PointsHold: Sendable, Equatable {
    /// The redemption's id (its command's request id).
    public let id: String
    public let placedAtMillis: Int64
    /// The parts of lots taken, each a copy of its lot with `remaining` the points taken from it.
    public internal(set) var portions: [PointsLot]

    public var points: Int64 { portions.reduce(0) { $0 + $1.remaining } }

    public init(id: String, placedAtMillis: Int64, portions: [PointsLot]) {
        self.id = id
        self.placedAtMillis = placedAtMillis
        self.portions = portions
    }
}

extension PointsAccount {
    /// Sets `points` (> 0) aside under `id`: the balance stays, the spendable points drop. Fails
    /// without changing anything when fewer are spendable, or when a hold of that id is open.
    public mutating func hold(_ points: Int64, id: String, reason: String, at now: Int64) -> Result<PointsLedgerEntry, SpendFailure> {
        precondition(points > 0)
        let available = self.available(at: now)
        guard available >= points, !holds.contains(where: { $0.id == id }) else { return .failure(.insufficient(available: max(0, available))) }
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
    public mutating func commitHold(_ id: String, reason: String, at now: Int64) -> PointsLedgerEntry? {
        guard let index = holds.firstIndex(where: { $0.id == id }) else { return nil }
        let hold = holds.remove(at: index)
        return PointsLedgerEntry(key: "\(id):redeem", userID: userID, kind: .redeem, points: -hold.points, balanceAfter: balance, ruleID: nil,
                                 reason: reason, timeMillis: now, held: -hold.points)
    }

    /// Gives a hold's points back to the lots they came from, with their original expiry (a
    /// `release` entry; the balance does not change). Nil when no hold of that id is open.
    public mutating func releaseHold(_ id: String, reason: String, at now: Int64) -> PointsLedgerEntry? {
        guard let index = holds.firstIndex(where: { $0.id == id }) else { return nil }
        let hold = holds.remove(at: index)
        for portion in hold.portions {
            // Back into its own lot when that lot is still there (lot ids stay unique: expiry
            // removes a lot by id), otherwise a lot of its own again, in earning order.
            if let lot = lots.firstIndex(where: { $0.id == portion.id }) {
                lots[lot].remaining += portion.remaining
            } else {
                lots.insert(portion, at: lots.firstIndex { $0.earnedAtMillis > portion.earnedAtMillis } ?? lots.count)
            }
        }
        return PointsLedgerEntry(key: "\(id):release", userID: userID, kind: .release, points: 0, balanceAfter: balance, ruleID: nil,
                                 reason: reason, timeMillis: now, held: -hold.points)
    }

    /// Restores holds read from the state store.
    mutating func restore(holds: [PointsHold]) { self.holds = holds }
}
