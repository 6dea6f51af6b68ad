/// Points as payment at checkout (积分抵现): what a point is worth, how much of an order points
/// may pay, and how long an uncaptured hold lasts (`membership.checkout` in membership.yaml).
public struct CheckoutPolicy: Sendable, Equatable {
    /// Points worth one unit of the points currency (100: a point is a cent of it).
    public var pointsPerUnit: Int64 = 100
    /// The largest share of an order's amount payable with points (0.5: half).
    public var maxShare: Double = 0.5
    /// An uncaptured hold is released by itself after this long.
    public var holdMillis: Int64 = 30 * 60_000

    public init(pointsPerUnit: Int64 = 100, maxShare: Double = 0.5, holdMillis: Int64 = 30 * 60_000) {
        self.pointsPerUnit = pointsPerUnit
        self.maxShare = maxShare
        self.holdMillis = holdMillis
    }

    /// The most points an order of `units` of the points currency may be paid with (rounded down).
    public func maxPoints(forOrderUnits units: Double) -> Int64 {
        let points = (units * maxShare * Double(pointsPerUnit)).rounded(.down)
        return points.isFinite && points > 0 ? Int64(min(points, 1e15)) : 0
    }
}

/// Points held for an order at checkout, until the shop captures or releases them (or the hold
/// expires). The points themselves are the account's hold of id ``holdID``.
public struct CheckoutHold: Sendable, Equatable {
    public var orderID: String
    public var requestID: String
    public var points: Int64
    public var orderAmountMinor: Int64
    public var currency: String
    public var placedAtMillis: Int64

    /// The account's hold: named by the request, so an order held again after a release has
    /// ledger keys of its own.
    public var holdID: String { "checkout:\(requestID)" }

    public init(orderID: String, requestID: String, points: Int64, orderAmountMinor: Int64, currency: String, placedAtMillis: Int64) {
        (self.orderID, self.requestID, self.points, self.orderAmountMinor, self.currency, self.placedAtMillis) =
            (orderID, requestID, points, orderAmountMinor, currency, placedAtMillis)
    }
}

/// An order paid partly with points: what was taken, lot by lot (for a refund to give them back
/// with their original expiry), and how much of it refunds already settled.
public struct CapturedOrder: Sendable, Equatable {
    public var orderID: String
    /// The parts of lots spent and not given back yet.
    public var portions: [PointsLot]
    public var capturedPoints: Int64
    /// The points of ``portions``: paid and not given back.
    public var points: Int64 { portions.reduce(0) { $0 + $1.remaining } }
    public var orderAmountMinor: Int64
    /// The order's amount refunded so far, and the points that settled (given back, or expired meanwhile).
    public var refundedMinor: Int64 = 0
    public var returned: Int64 = 0
    /// Refunded points owed from these (see ``PointsHold/clawback``): taken back as they return.
    public var clawback: Int64 = 0
    public var capturedAtMillis: Int64

    public init(orderID: String, portions: [PointsLot], capturedPoints: Int64, orderAmountMinor: Int64, capturedAtMillis: Int64) {
        (self.orderID, self.portions, self.capturedPoints, self.orderAmountMinor, self.capturedAtMillis) = (orderID, portions, capturedPoints, orderAmountMinor, capturedAtMillis)
    }

    /// The points a refund of `amountMinor` more settles: the refunded share of the points paid,
    /// less what earlier refunds settled (in proportion for a partial refund, never beyond all).
    public mutating func refund(_ amountMinor: Int64) -> Int64 {
        refundedMinor = min(orderAmountMinor, refundedMinor + max(0, amountMinor))
        let target = min(capturedPoints, Int64((Double(capturedPoints) * Double(refundedMinor) / Double(max(1, orderAmountMinor))).rounded()))
        return max(0, target - returned)
    }
}

extension PointsAccount {
    /// Commits a hold like ``commitHold(_:reason:at:)``, and also returns the lot parts it spent.
    public mutating func captureHold(_ id: String, reason: String, at now: Int64) -> (entry: PointsLedgerEntry, portions: [PointsLot], clawback: Int64)? {
        guard let hold = openHold(id), let entry = commitHold(id, reason: reason, at: now) else { return nil }
        return (entry, hold.portions, hold.clawback)
    }

    /// Gives back `points` of a captured order's parts: a `refund` entry (``giveBack(_:from:key:reason:at:)``).
    public mutating func giveBack(_ points: Int64, of order: inout CapturedOrder, key: String, reason: String, at now: Int64) -> PointsLedgerEntry? {
        order.returned += points  // parts expired meanwhile count as returned: the refund is settled for them
        return giveBack(points, from: &order.portions, key: key, reason: reason, at: now)
    }

    /// Gives back `points` of spent lot parts (the latest-expiring first, so the member keeps the
    /// longest-lived points), each into its own lot or a lot of its own with its original expiry:
    /// a `refund` entry. Parts already expired are not given back (they would have expired in the
    /// member's hands too); nil when nothing was.
    public mutating func giveBack(_ points: Int64, from portions: inout [PointsLot], key: String, reason: String, at now: Int64) -> PointsLedgerEntry? {
        var needed = points
        let order = portions.indices.sorted { (portions[$0].expiresAtMillis ?? .max) > (portions[$1].expiresAtMillis ?? .max) }
        var given: Int64 = 0
        for index in order where needed > 0 {
            let portion = portions[index]
            guard portion.remaining > 0, (portion.expiresAtMillis ?? .max) > now else { continue }
            let amount = min(portion.remaining, needed)
            portions[index].remaining -= amount
            needed -= amount
            given += amount
            var part = portion
            part.remaining = amount
            putBack(part, returnedBy: key, at: now)
        }
        guard given > 0 else { return nil }
        return PointsLedgerEntry(key: key, userID: userID, kind: .refund, points: given, balanceAfter: balance, ruleID: nil, reason: reason, timeMillis: now)
    }
}
