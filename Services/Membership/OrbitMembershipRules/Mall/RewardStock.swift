import OrbitCore

/// One reward's stock as the stock stage keeps it (keyed by reward id, so every reservation of a
/// reward is decided in one place, in one order: however many members redeem at once, and on
/// however many ledger partitions, no more than the stock is ever reserved).
///
/// Requests come from the ledger and may come twice (a ledger replay after a crash sends its
/// requests again): each is recognised by its redemption id among the latest ``recentLimit``
/// decisions and answered as the first time, marked as a repeat. A repeat older than that is
/// decided again; the ledger, finding no pending hold for a fresh reservation, returns it, so
/// the only cost of a forgotten repeat is a moment of stock counted twice, never stock sold twice.
public struct RewardStock: Sendable, Equatable {
    public static func == (a: RewardStock, b: RewardStock) -> Bool {
        (a.rewardID, a.issued, a.appliedOffset, a.lowNoticeSent) == (b.rewardID, b.issued, b.appliedOffset, b.lowNoticeSent)
            && a.returnedIDs == b.returnedIDs && a.decisions == b.decisions
    }

    /// The latest decisions, oldest first.
    public var decisions: [Decision] { Array(recent[recentStart...] + recent[..<recentStart]) }

    public var rewardID: String
    /// Units reserved and not returned.
    public var issued: Int64 = 0
    /// The latest decisions, at most ``recentLimit``: a ring whose oldest is at `recentStart`, with
    /// an index by redemption, so a decision is found and remembered in constant time however
    /// many are kept.
    private var recent: [Decision] = []
    private var recentStart = 0
    private var recentIndex: [UInt64: Int] = [:]
    /// Replay protection for the stage's own input: the highest offset applied.
    public var appliedOffset: Int64 = -1
    /// Redemptions whose reservation was returned, latest ``returnedLimit`` (returns are rare: a
    /// cancellation may come long after its reservation left ``recent``).
    public var returnedIDs: [UInt64] = []

    public static let returnedLimit = 4096
    /// Whether operators were told the stock runs low, since it last did not (``checkLow(under:percent:)``).
    public var lowNoticeSent = false

    public static let recentLimit = 4096

    public struct Decision: Sendable, Equatable {
        public enum State: UInt8, Sendable { case reserved = 1, refusedOutOfStock = 2, refusedUnknown = 3, returned = 4 }
        public var idHash: UInt64
        public var quantity: Int64
        public var state: State
    }

    /// What a request came to.
    public enum Outcome: Sendable, Equatable {
        case reserved(repeat: Bool)
        case refused(RedemptionRejection, repeat: Bool)
        case returned
        /// Nothing to do: a repeated return, or a return of nothing this stage remembers reserving.
        case ignored
    }

    public init(rewardID: String) { self.rewardID = rewardID }

    /// Units left under `stock` (nil: the reward is not in this stage's catalogue).
    public func remaining(under stock: Reward.Stock?) -> Int64? {
        switch stock {
        case .limited(let n)?: max(0, n - issued)
        case .unlimited?: .max
        case nil: nil
        }
    }

    /// Reserves `quantity` for redemption `id` if the stock allows.
    public mutating func reserve(_ quantity: Int64, for id: String, stock: Reward.Stock?) -> Outcome {
        let hash = StableHash.fnv1a(id)
        if let previous = recentIndex[hash].map({ recent[$0] }) {
            switch previous.state {
            case .reserved, .returned: return .reserved(repeat: true)
            case .refusedOutOfStock: return .refused(.outOfStock, repeat: true)
            case .refusedUnknown: return .refused(.unknownReward, repeat: true)
            }
        }
        guard let remaining = remaining(under: stock) else {
            remember(Decision(idHash: hash, quantity: quantity, state: .refusedUnknown))
            return .refused(.unknownReward, repeat: false)
        }
        guard quantity > 0, quantity <= remaining else {
            remember(Decision(idHash: hash, quantity: quantity, state: .refusedOutOfStock))
            return .refused(.outOfStock, repeat: false)
        }
        issued += quantity
        remember(Decision(idHash: hash, quantity: quantity, state: .reserved))
        return .reserved(repeat: false)
    }

    /// Takes back a reservation of redemption `id` (its hold was settled otherwise, or it was
    /// cancelled), once. A reservation still among the latest decisions is returned by what it
    /// reserved, or `quantity` of it if that is less; an older one (a cancellation within its window, after many more decisions) by
    /// `quantity`, unless it was returned already.
    public mutating func giveBack(for id: String, quantity: Int64) -> Outcome {
        let hash = StableHash.fnv1a(id)
        guard !returnedIDs.contains(hash) else { return .ignored }
        if let index = recentIndex[hash] {
            guard recent[index].state == .reserved else { return .ignored }
            // Part of it when only part comes back (a cancellation voided some of its coupons).
            issued -= quantity > 0 ? min(quantity, recent[index].quantity) : recent[index].quantity
            recent[index].state = .returned
        } else {
            guard quantity > 0 else { return .ignored }
            issued = max(0, issued - quantity)
        }
        returnedIDs.append(hash)
        if returnedIDs.count > Self.returnedLimit { returnedIDs.removeFirst(returnedIDs.count - Self.returnedLimit) }
        return .returned
    }

    /// The units left when they have just fallen to `percent` of a limited stock (at least one
    /// unit) and operators have not been told since they were last above it; nil otherwise.
    /// Stock rising above again (returns, or an operator adding stock) re-arms the notice.
    public mutating func checkLow(under stock: Reward.Stock?, percent: Int) -> Int64? {
        guard percent > 0, case .limited(let total)? = stock else { return nil }
        let remaining = max(0, total - issued)
        if remaining > max(1, total * Int64(percent) / 100) {
            lowNoticeSent = false
            return nil
        }
        guard !lowNoticeSent else { return nil }
        lowNoticeSent = true
        return remaining
    }

    private mutating func remember(_ decision: Decision) {
        guard recent.count == Self.recentLimit else {
            recentIndex[decision.idHash] = recent.count
            recent.append(decision)
            return
        }
        let oldest = recent[recentStart]
        if recentIndex[oldest.idHash] == recentStart { recentIndex[oldest.idHash] = nil }
        recent[recentStart] = decision
        recentIndex[decision.idHash] = recentStart
        recentStart = (recentStart + 1) % Self.recentLimit
    }

    // MARK: State store format (binary, version 1)

    public func encoded() -> [UInt8] {
        var w = CompactWriter(capacity: 32 + recent.count * 12)
        w.unsigned(1)
        w.string(rewardID)
        w.signed(issued)
        w.signed(appliedOffset)
        w.unsigned(UInt64(recent.count))
        for d in decisions { w.fixed64(d.idHash); w.signed(d.quantity); w.unsigned(UInt64(d.state.rawValue)) }
        w.unsigned(UInt64(returnedIDs.count)); for hash in returnedIDs { w.fixed64(hash) }
        w.bool(lowNoticeSent)  // appended later: older values end before it
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> RewardStock {
        var r = CompactReader(bytes)
        guard try r.unsigned() == 1 else { throw CompactReader.Failure.malformed }
        var stock = RewardStock(rewardID: try r.string() ?? "")
        stock.issued = try r.signed()
        stock.appliedOffset = try r.signed()
        let count = try r.unsigned()
        guard count <= UInt64(recentLimit) else { throw CompactReader.Failure.malformed }
        for _ in 0..<count {
            let hash = try r.fixed64(), quantity = try r.signed()
            guard let state = Decision.State(rawValue: UInt8(truncatingIfNeeded: try r.unsigned())) else { throw CompactReader.Failure.malformed }
            stock.remember(Decision(idHash: hash, quantity: quantity, state: state))
        }
        let returned = try r.unsigned()
        guard returned <= UInt64(returnedLimit) else { throw CompactReader.Failure.malformed }
        for _ in 0..<returned { stock.returnedIDs.append(try r.fixed64()) }
        if !r.atEnd { stock.lowNoticeSent = try r.bool() }
        return stock
    }
}
