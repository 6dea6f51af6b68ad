import OrbitContract
import OrbitCore

/// Everything the membership service keeps about one member (the state store's value).
public struct MemberState: Sendable, Equatable {
    public var points: PointsAccount
    public var level: LevelState
    public var status: String
    public var known = false
    public var purchases = 0
    public var checkInLastDay: Int64?
    public var checkInStreak = 0
    public var referredBy: String?
    public var referredAtMillis: Int64 = .max
    public var segments: Set<String> = []
    public var caps = CapUsage()
    public var paid: PaidMembership?
    /// Orders' amounts and what was refunded, for the refunded share.
    public var orders: [String: OrderAmounts] = [:]
    /// Replay protection: the last applied offset of the merged input stream, and recent idempotency keys (hashed).
    public var replay = ReplayGuard(inputs: 1, limit: MemberState.recentKeyLimit)
    public var appliedOffset: Int64 { get { replay.appliedOffsets[0] } set { replay.appliedOffsets[0] = newValue } }
    public var recentKeys: [UInt64] { get { replay.recentIDs } set { replay.recentIDs = newValue } }
    /// The last results of commands, by request id, to answer a repeated request with the original result.
    public var commandResults: [CommandResultMemo] = []
    public var totalEarned: Int64 = 0
    public var totalRedeemed: Int64 = 0
    public var totalExpired: Int64 = 0
    /// The time of the member's latest input: what the account record is stated as of, so a
    /// replay writes the same account bytes.
    public var lastInputMillis: Int64 = 0
    /// The member's tags (`orbit.user-tags`), for rewards limited to tags.
    public var tags: Set<String> = []
    /// Redemptions whose points are held while the stock stage decides.
    public var pendingRedemptions: [PendingRedemption] = []
    /// Quantities redeemed per reward, for per-member limits.
    public var rewardUsage: [String: RewardUsage] = [:]
    /// Points held for orders at checkout, not yet captured or released.
    public var checkoutHolds: [CheckoutHold] = []
    /// Orders paid partly with points, for refunds (the newest ``orderLimit``, within the refund window).
    public var capturedOrders: [CapturedOrder] = []
    /// Redemptions by reward committed within the cancel window, with the lot parts they spent.
    public var committedRedemptions: [CommittedRedemption] = []
    /// Benefits redeemed in the points mall: name -> when it ends.
    public var rewardBenefits: [String: Int64] = [:]
    /// Codes of the coupons issued to the member, newest ``couponLimit``: what an erasure tells
    /// the coupon stage to forget.
    public var coupons: [String] = []
    /// The member's last ledger entries, newest last (``recentLedgerLimit``): what the support desk
    /// sees first (`GET /v1/members/{id}`) without reading the ledger topic.
    public var recentLedger: [LedgerSummary] = []

    public static let couponLimit = 1000
    /// Cancellations waiting for the coupon stage at once, at most (`too_many_cancellations`).
    public static let pendingCancelLimit = 20

    /// Keeps the newest ``commandResultLimit`` committed redemptions, and every one whose
    /// cancellation is waiting for the coupon stage.
    public mutating func trimCommittedRedemptions() {
        var excess = committedRedemptions.count - Self.commandResultLimit
        guard excess > 0 else { return }
        committedRedemptions.removeAll { redemption in
            guard excess > 0, redemption.cancelRequestID == nil else { return false }
            excess -= 1
            return true
        }
    }

    public static let recentLedgerLimit = 5

    /// One ledger entry as the member's state keeps it (the reason text stays on the ledger topic,
    /// found there by `key`).
    public struct LedgerSummary: Sendable, Equatable {
        public var key: String
        public var kind: PointsLedgerEntry.Kind
        public var points: Int64
        public var held: Int64
        public var balanceAfter: Int64
        public var ruleID: String?
        public var timeMillis: Int64
        public init(_ e: PointsLedgerEntry) {
            (key, kind, points, held, balanceAfter, ruleID, timeMillis) = (e.key, e.kind, e.points, e.held, e.balanceAfter, e.ruleID, e.timeMillis)
        }
        init(key: String, kind: PointsLedgerEntry.Kind, points: Int64, held: Int64, balanceAfter: Int64, ruleID: String?, timeMillis: Int64) {
            (self.key, self.kind, self.points, self.held, self.balanceAfter, self.ruleID, self.timeMillis) = (key, kind, points, held, balanceAfter, ruleID, timeMillis)
        }
    }

    /// Keeps the newest ``recentLedgerLimit`` entries.
    public mutating func remember(ledger entries: [LedgerSummary]) {
        guard !entries.isEmpty else { return }
        recentLedger.append(contentsOf: entries.suffix(Self.recentLedgerLimit))
        if recentLedger.count > Self.recentLedgerLimit { recentLedger.removeFirst(recentLedger.count - Self.recentLedgerLimit) }
    }

    /// Remembers an issued coupon's code, forgetting the oldest beyond ``couponLimit``.
    public mutating func remember(coupon code: String) {
        coupons.append(code)
        if coupons.count > Self.couponLimit { coupons.removeFirst(coupons.count - Self.couponLimit) }
    }

    /// A committed redemption that may still be cancelled: what it spent, lot by lot.
    public struct CommittedRedemption: Sendable, Equatable {
        public var id: String
        public var rewardID: String
        public var quantity: Int64
        public var placedAtMillis: Int64
        public var committedAtMillis: Int64
        public var portions: [PointsLot]
        /// Refunded points owed from these (see ``PointsHold/clawback``): taken back on a cancellation.
        public var clawback: Int64 = 0
        public var issue: Reward.Issue?
        public var limitedStock = true
        /// The codes of the coupons it issued: what a cancellation voids.
        public var couponCodes: [String] = []
        /// A cancellation waiting for the coupon stage to void the coupons (the request's id).
        public var cancelRequestID: String?
        /// The coupon stage's answers so far, by code: voided or not.
        public var voidAnswers: [String: Bool] = [:]
        /// Why the last coupon that could not be voided could not.
        public var voidRefusal: String?
        public var voided: Int64 { Int64(voidAnswers.values.filter { $0 }.count) }
        public var points: Int64 { portions.reduce(0) { $0 + $1.remaining } }
        public init(id: String, rewardID: String, quantity: Int64, placedAtMillis: Int64, committedAtMillis: Int64, portions: [PointsLot]) {
            (self.id, self.rewardID, self.quantity, self.placedAtMillis, self.committedAtMillis, self.portions) = (id, rewardID, quantity, placedAtMillis, committedAtMillis, portions)
        }
    }

    /// A redemption waiting for the stock stage: its points are the hold of the same id.
    public struct PendingRedemption: Sendable, Equatable {
        public var id: String
        public var rewardID: String
        public var quantity: Int64
        public var points: Int64
        public var placedAtMillis: Int64
        /// Where goods go (the shop's reference), passed on to fulfilment.
        public var addressRef: String?
        /// What the reward issued and whether its stock was reserved, as the catalogue said when
        /// the points were held: a later change of the definition does not change this redemption.
        public var issue: Reward.Issue?
        public var limitedStock = true
        public init(id: String, rewardID: String, quantity: Int64, points: Int64, placedAtMillis: Int64, addressRef: String? = nil,
                    issue: Reward.Issue? = nil, limitedStock: Bool = true) {
            (self.id, self.rewardID, self.quantity, self.points, self.placedAtMillis, self.addressRef) = (id, rewardID, quantity, points, placedAtMillis, addressRef)
            (self.issue, self.limitedStock) = (issue, limitedStock)
        }
    }

    public static let recentKeyLimit = 64
    /// Orders remembered for refunds, newest kept: with the refund window, this bounds a heavy
    /// buyer's state (a refund of an order beyond it reverses nothing, as one beyond the window).
    public static let orderLimit = 1000
    public static let commandResultLimit = 100

    public struct OrderAmounts: Sendable, Equatable, Codable {
        public var amountMinor: Int64
        public var refundedMinor: Int64
        public var atMillis: Int64
        public init(amountMinor: Int64, refundedMinor: Int64, atMillis: Int64) {
            self.amountMinor = amountMinor
            self.refundedMinor = refundedMinor
            self.atMillis = atMillis
        }
    }

    public struct PaidMembership: Sendable, Equatable, Codable {
        public var plan: String
        public var startedAtMillis: Int64
        public var expiresAtMillis: Int64
        public var cancelled: Bool
        /// The expiry the member was last told is coming (`paid_membership` change `expiring`), so
        /// each plan end is announced once; a renewal moves the expiry and the next one is announced.
        public var expiringAnnouncedFor: Int64?
        public init(plan: String, startedAtMillis: Int64, expiresAtMillis: Int64, cancelled: Bool) {
            self.plan = plan
            self.startedAtMillis = startedAtMillis
            self.expiresAtMillis = expiresAtMillis
            self.cancelled = cancelled
        }
    }

    public struct CommandResultMemo: Sendable, Equatable, Codable {
        public var requestID: String
        public var result: [UInt8]
    }

    public init(userID: String, policy: MembershipPolicy) {
        self.init(points: PointsAccount(userID: userID), level: LevelState(level: policy.levels.levels[0].name), status: policy.defaultStatus)
    }

    init(points: PointsAccount, level: LevelState, status: String) {
        self.points = points
        self.level = level
        self.status = status
    }

    /// True if this input record or key was applied already; otherwise records it.
    public mutating func alreadyApplied(offset: Int64, key: String) -> Bool {
        replay.alreadyApplied(offset: offset, id: key)
    }

    /// Remembers an order's amount for refunds, forgetting the oldest beyond ``orderLimit``.
    public mutating func remember(order id: String, _ amounts: OrderAmounts) {
        orders[id] = amounts
        guard orders.count > Self.orderLimit else { return }
        let oldest = orders.sorted { ($0.value.atMillis, $0.key) < ($1.value.atMillis, $1.key) }.prefix(orders.count - Self.orderLimit)
        for (key, _) in oldest { orders[key] = nil }
        points.forgetOrders(keeping: Self.orderLimit)
    }

    /// Forgets orders placed before `cutoff` (their refund window is over).
    public mutating func forgetOrders(placedBefore cutoff: Int64) {
        orders = orders.filter { $0.value.atMillis >= cutoff }
        capturedOrders.removeAll { $0.capturedAtMillis < cutoff }
        points.forgetOrders(earnedBefore: cutoff)
    }

    /// Owes refunded points a refund could not take to what can still come back: open holds
    /// first, then redemptions that can still be cancelled, then orders paid with points.
    public mutating func owe(_ shortfall: Int64) {
        var left = points.owe(shortfall)
        for index in committedRedemptions.indices where left > 0 {
            let owed = min(left, committedRedemptions[index].points - committedRedemptions[index].clawback)
            committedRedemptions[index].clawback += owed
            left -= owed
        }
        for index in capturedOrders.indices where left > 0 {
            let owed = min(left, capturedOrders[index].points - capturedOrders[index].clawback)
            capturedOrders[index].clawback += owed
            left -= owed
        }
    }

    public func previousResult(_ requestID: String) -> [UInt8]? {
        commandResults.last { $0.requestID == requestID }?.result
    }

    public mutating func remember(_ requestID: String, result: [UInt8]) {
        commandResults.append(CommandResultMemo(requestID: requestID, result: result))
        if commandResults.count > Self.commandResultLimit { commandResults.removeFirst(commandResults.count - Self.commandResultLimit) }
    }

    public func encoded() -> [UInt8] { MemberStateCoding.encode(self) }

    public static func decode(_ bytes: [UInt8]) throws -> MemberState { try MemberStateCoding.decode(bytes) }
}

/// The state store's binary format for ``MemberState`` (version 1; fields only ever appended).
/// Binary rather than JSON: a member is read and written on every batch, and JSON's encoder
/// was most of the service's time.
enum MemberStateCoding {
    static func encode(_ m: MemberState) -> [UInt8] {
        var w = CompactWriter(capacity: estimatedSize(m))
        w.unsigned(1)
        w.string(m.points.userID)
        w.unsigned(UInt64(m.points.lots.count))
        for lot in m.points.lots { write(lot, to: &w) }
        w.signed(m.points.debt)
        w.unsigned(UInt64(m.points.earnedOnOrder.count))
        for (order, p) in m.points.earnedOnOrder.sorted(by: { $0.key < $1.key }) { w.string(order); w.signed(p.points); w.signed(p.reversed); w.signed(p.earnedAtMillis) }
        w.string(m.level.level)
        w.unsigned(UInt64(m.level.months.count)); for month in m.level.months { w.signed(month.index); w.signed(month.value) }
        w.signed(m.level.belowSinceMillis ?? .min); w.signed(m.level.lastEvaluatedMonth)
        w.string(m.status); w.unsigned(m.known ? 1 : 0); w.int(m.purchases); w.signed(m.checkInLastDay ?? .min); w.int(m.checkInStreak)
        w.string(m.referredBy); w.signed(m.referredAtMillis)
        w.unsigned(UInt64(m.segments.count)); for segment in m.segments.sorted() { w.string(segment) }
        w.unsigned(UInt64(m.caps.byRule.count))
        for (rule, periods) in m.caps.byRule.sorted(by: { $0.key < $1.key }) {
            w.string(rule); w.unsigned(UInt64(periods.count)); for p in periods { w.signed(p.key); w.signed(p.used) }
        }
        if let paid = m.paid { w.unsigned(1); w.string(paid.plan); w.signed(paid.startedAtMillis); w.signed(paid.expiresAtMillis); w.unsigned(paid.cancelled ? 1 : 0) } else { w.unsigned(0) }
        w.unsigned(UInt64(m.orders.count))
        for (order, o) in m.orders.sorted(by: { $0.key < $1.key }) { w.string(order); w.signed(o.amountMinor); w.signed(o.refundedMinor); w.signed(o.atMillis) }
        w.signed(m.appliedOffset)
        w.unsigned(UInt64(m.recentKeys.count)); for k in m.recentKeys { w.fixed64(k) }
        w.unsigned(UInt64(m.commandResults.count))
        for r in m.commandResults { w.string(r.requestID); w.string(String(decoding: r.result, as: UTF8.self)) }
        w.signed(m.totalEarned); w.signed(m.totalRedeemed); w.signed(m.totalExpired)
        w.signed(m.lastInputMillis)
        // The points mall and tags (appended later: older values end before them, and a member
        // without any is written as before).
        guard !m.points.holds.isEmpty || !m.pendingRedemptions.isEmpty || !m.rewardUsage.isEmpty || !m.tags.isEmpty
                || !m.checkoutHolds.isEmpty || !m.capturedOrders.isEmpty || !m.rewardBenefits.isEmpty || !m.committedRedemptions.isEmpty
                || !m.coupons.isEmpty || !m.recentLedger.isEmpty || m.paid?.expiringAnnouncedFor != nil else { return w.bytes }
        w.unsigned(UInt64(m.points.holds.count))
        for hold in m.points.holds {
            w.string(hold.id); w.signed(hold.placedAtMillis); w.signed(hold.clawback); w.unsigned(UInt64(hold.portions.count))
            for lot in hold.portions { write(lot, to: &w) }
        }
        w.unsigned(UInt64(m.pendingRedemptions.count))
        for r in m.pendingRedemptions {
            w.string(r.id); w.string(r.rewardID); w.signed(r.quantity); w.signed(r.points); w.signed(r.placedAtMillis); w.string(r.addressRef)
            write(r.issue, to: &w); w.unsigned(r.limitedStock ? 1 : 0)
        }
        w.unsigned(UInt64(m.rewardUsage.count))
        for (reward, usage) in m.rewardUsage.sorted(by: { $0.key < $1.key }) {
            w.string(reward); w.signed(usage.lifetime); w.unsigned(UInt64(usage.periods.count))
            for p in usage.periods { w.signed(p.key); w.signed(p.used) }
        }
        w.unsigned(UInt64(m.tags.count)); for tag in m.tags.sorted() { w.string(tag) }
        w.unsigned(UInt64(m.checkoutHolds.count))
        for h in m.checkoutHolds { w.string(h.orderID); w.string(h.requestID); w.signed(h.points); w.signed(h.orderAmountMinor); w.string(h.currency); w.signed(h.placedAtMillis) }
        w.unsigned(UInt64(m.capturedOrders.count))
        for o in m.capturedOrders {
            w.string(o.orderID); w.signed(o.capturedPoints); w.signed(o.orderAmountMinor); w.signed(o.refundedMinor); w.signed(o.returned); w.signed(o.clawback); w.signed(o.capturedAtMillis)
            w.unsigned(UInt64(o.portions.count))
            for lot in o.portions { write(lot, to: &w) }
        }
        w.unsigned(UInt64(m.rewardBenefits.count)); for (name, until) in m.rewardBenefits.sorted(by: { $0.key < $1.key }) { w.string(name); w.signed(until) }
        w.unsigned(UInt64(m.committedRedemptions.count))
        for c in m.committedRedemptions {
            w.string(c.id); w.string(c.rewardID); w.signed(c.quantity); w.signed(c.placedAtMillis); w.signed(c.committedAtMillis); w.signed(c.clawback)
            write(c.issue, to: &w); w.unsigned(c.limitedStock ? 1 : 0)
            w.unsigned(UInt64(c.portions.count))
            for lot in c.portions { write(lot, to: &w) }
        }
        // Coupons (appended later again): codes issued, and each redemption's coupons and
        // cancellation waiting for voids.
        func hasCoupons(_ c: MemberState.CommittedRedemption) -> Bool { !c.couponCodes.isEmpty || c.cancelRequestID != nil }
        let withCoupons = m.committedRedemptions.reduce(0) { $0 + (hasCoupons($1) ? 1 : 0) }
        let announced = m.paid?.expiringAnnouncedFor
        guard !m.coupons.isEmpty || withCoupons > 0 || !m.recentLedger.isEmpty || announced != nil else { return w.bytes }
        w.unsigned(UInt64(m.coupons.count)); for code in m.coupons { w.string(code) }
        w.unsigned(UInt64(withCoupons))
        for c in m.committedRedemptions where hasCoupons(c) {
            w.string(c.id)
            w.unsigned(UInt64(c.couponCodes.count)); for code in c.couponCodes { w.string(code) }
            w.string(c.cancelRequestID)
            w.unsigned(UInt64(c.voidAnswers.count))
            for (code, voided) in c.voidAnswers.sorted(by: { $0.key < $1.key }) { w.string(code); w.bool(voided) }
            w.string(c.voidRefusal)
        }
        // The last ledger entries (appended later still).
        guard !m.recentLedger.isEmpty || announced != nil else { return w.bytes }
        w.unsigned(UInt64(m.recentLedger.count))
        for e in m.recentLedger {
            w.string(e.key); w.unsigned(UInt64(PointsLedgerEntry.Kind.allCases.firstIndex(of: e.kind)!)); w.signed(e.points); w.signed(e.held)
            w.signed(e.balanceAfter); w.string(e.ruleID); w.signed(e.timeMillis)
        }
        // The paid plan's announced expiry (appended later still; only a member told of one).
        guard let announced else { return w.bytes }
        w.signed(announced)
        return w.bytes
    }

    /// About the encoded size (a little over), so the buffer is allocated once: a member with
    /// results and redemptions to remember was copied to a larger buffer several times as it grew.
    static func estimatedSize(_ m: MemberState) -> Int {
        var size = 192 + 48 * (m.points.lots.count + m.recentLedger.count + m.points.holds.count) + 32 * (m.rewardUsage.count + m.coupons.count)
        for result in m.commandResults { size += result.requestID.utf8.count + result.result.count + 4 }
        for redemption in m.committedRedemptions { size += 96 + 48 * redemption.portions.count + 20 * redemption.couponCodes.count }
        return size + 64 * (m.pendingRedemptions.count + m.orders.count + m.capturedOrders.count + m.checkoutHolds.count)
    }

    /// One lot (or a held, captured or redeemed part of one).
    static func write(_ lot: PointsLot, to w: inout CompactWriter) {
        w.string(lot.id); w.signed(lot.earnedAtMillis); w.signed(lot.availableAtMillis); w.signed(lot.expiresAtMillis ?? .min)
        w.string(lot.orderID); w.signed(lot.remaining); w.unsigned(lot.warned ? 1 : 0)
    }

    /// What a reward issues: 0 unknown, 1 a coupon, 2 goods, 3 a benefit, then its fields.
    static func write(_ issue: Reward.Issue?, to w: inout CompactWriter) {
        switch issue {
        case nil: w.unsigned(0)
        case .coupon(let value, let currency, let days)?: w.unsigned(1); w.signed(value); w.string(currency); w.int(days)
        case .goods(let sku)?: w.unsigned(2); w.string(sku)
        case .benefit(let name, let days)?: w.unsigned(3); w.string(name); w.int(days)
        }
    }

    static func readIssue(_ r: inout CompactReader) throws -> Reward.Issue? {
        switch try r.unsigned() {
        case 0: return nil
        case 1: return .coupon(valueMinor: try r.signed(), currency: try r.string() ?? "", validityDays: try r.int())
        case 2: return .goods(sku: try r.string() ?? "")
        case 3: return .benefit(name: try r.string() ?? "", durationDays: try r.int())
        default: throw CompactReader.Failure.malformed
        }
    }

    static func readLot(_ r: inout CompactReader) throws -> PointsLot {
        let id = try r.string() ?? "", earned = try r.signed(), available = try r.signed(), expires = try r.signed()
        var lot = PointsLot(id: id, earnedAtMillis: earned, availableAtMillis: available, expiresAtMillis: expires == .min ? nil : expires,
                            orderID: try r.string(), remaining: try r.signed())
        lot.warned = try r.unsigned() == 1
        return lot
    }

    static func decode(_ bytes: [UInt8]) throws -> MemberState {
        var r = CompactReader(bytes)
        guard try r.unsigned() == 1 else { throw CompactReader.Failure.malformed }
        func count(_ limit: UInt64) throws -> Int {
            let n = try r.unsigned()
            guard n <= limit else { throw CompactReader.Failure.malformed }
            return Int(n)
        }
        func optional(_ v: Int64) -> Int64? { v == .min ? nil : v }
        let user = try r.string() ?? ""
        var points = PointsAccount(userID: user)
        for _ in 0..<(try count(1_000_000)) {
            points.lots.append(try readLot(&r))
        }
        points.debt = try r.signed()
        for _ in 0..<(try count(10_000_000)) {
            let order = try r.string() ?? ""
            points.earnedOnOrder[order] = .init(points: try r.signed(), reversed: try r.signed(), earnedAtMillis: try r.signed())
        }
        var level = LevelState(level: try r.string() ?? "")
        for _ in 0..<(try count(1000)) { level.months.append(.init(index: try r.signed(), value: try r.signed())) }
        level.belowSinceMillis = optional(try r.signed())
        level.lastEvaluatedMonth = try r.signed()
        var m = MemberState(points: points, level: level, status: try r.string() ?? "")
        m.known = try r.unsigned() == 1
        m.purchases = try r.int()
        m.checkInLastDay = optional(try r.signed())
        m.checkInStreak = try r.int()
        m.referredBy = try r.string()
        m.referredAtMillis = try r.signed()
        for _ in 0..<(try count(10_000)) { if let s = try r.string() { m.segments.insert(s) } }
        for _ in 0..<(try count(100_000)) {
            let rule = try r.string() ?? ""
            var periods: [CapUsage.Period] = []
            for _ in 0..<(try count(16)) { periods.append(.init(key: try r.signed(), used: try r.signed())) }
            m.caps.byRule[rule] = periods
        }
        if try r.unsigned() == 1 {
            m.paid = .init(plan: try r.string() ?? "", startedAtMillis: try r.signed(), expiresAtMillis: try r.signed(), cancelled: try r.unsigned() == 1)
        }
        for _ in 0..<(try count(10_000_000)) {
            let order = try r.string() ?? ""
            m.orders[order] = .init(amountMinor: try r.signed(), refundedMinor: try r.signed(), atMillis: try r.signed())
        }
        m.appliedOffset = try r.signed()
        for _ in 0..<(try count(UInt64(MemberState.recentKeyLimit))) { m.recentKeys.append(try r.fixed64()) }
        for _ in 0..<(try count(UInt64(MemberState.commandResultLimit))) {
            m.commandResults.append(.init(requestID: try r.string() ?? "", result: Array((try r.string() ?? "").utf8)))
        }
        m.totalEarned = try r.signed(); m.totalRedeemed = try r.signed(); m.totalExpired = try r.signed()
        if !r.atEnd { m.lastInputMillis = try r.signed() }  // appended later: older values lack it
        guard !r.atEnd else { return m }  // the points mall, appended later
        var holds: [PointsHold] = []
        for _ in 0..<(try count(10_000)) {
            let id = try r.string() ?? "", placed = try r.signed(), clawback = try r.signed()
            var portions: [PointsLot] = []
            for _ in 0..<(try count(1_000_000)) {
                portions.append(try readLot(&r))
            }
            var hold = PointsHold(id: id, placedAtMillis: placed, portions: portions)
            hold.clawback = clawback
            holds.append(hold)
        }
        m.points.restore(holds: holds)
        for _ in 0..<(try count(10_000)) {
            m.pendingRedemptions.append(.init(id: try r.string() ?? "", rewardID: try r.string() ?? "", quantity: try r.signed(), points: try r.signed(),
                                              placedAtMillis: try r.signed(), addressRef: try r.string(), issue: try readIssue(&r), limitedStock: try r.unsigned() == 1))
        }
        for _ in 0..<(try count(1_000_000)) {
            let reward = try r.string() ?? ""
            var usage = RewardUsage(lifetime: try r.signed())
            for _ in 0..<(try count(3)) { usage.periods.append(.init(key: try r.signed(), used: try r.signed())) }
            m.rewardUsage[reward] = usage
        }
        for _ in 0..<(try count(10_000)) { if let tag = try r.string() { m.tags.insert(tag) } }
        for _ in 0..<(try count(10_000)) {
            m.checkoutHolds.append(CheckoutHold(orderID: try r.string() ?? "", requestID: try r.string() ?? "", points: try r.signed(),
                                                orderAmountMinor: try r.signed(), currency: try r.string() ?? "", placedAtMillis: try r.signed()))
        }
        for _ in 0..<(try count(UInt64(MemberState.orderLimit))) {
            let id = try r.string() ?? "", captured = try r.signed(), amount = try r.signed(), refunded = try r.signed(), returned = try r.signed(),
                clawback = try r.signed()
            var order = CapturedOrder(orderID: id, portions: [], capturedPoints: captured, orderAmountMinor: amount, capturedAtMillis: try r.signed())
            order.refundedMinor = refunded
            order.returned = returned
            order.clawback = clawback
            for _ in 0..<(try count(1_000_000)) {
                order.portions.append(try readLot(&r))
            }
            m.capturedOrders.append(order)
        }
        for _ in 0..<(try count(10_000)) { let name = try r.string() ?? ""; m.rewardBenefits[name] = try r.signed() }
        for _ in 0..<(try count(UInt64(MemberState.commandResultLimit + MemberState.pendingCancelLimit))) {
            var c = MemberState.CommittedRedemption(id: try r.string() ?? "", rewardID: try r.string() ?? "", quantity: try r.signed(), placedAtMillis: try r.signed(),
                                        committedAtMillis: try r.signed(), portions: [])
            c.clawback = try r.signed()
            c.issue = try readIssue(&r)
            c.limitedStock = try r.unsigned() == 1
            for _ in 0..<(try count(1_000_000)) {
                c.portions.append(try readLot(&r))
            }
            m.committedRedemptions.append(c)
        }
        guard !r.atEnd else { return m }
        for _ in 0..<(try count(UInt64(MemberState.couponLimit))) { m.coupons.append(try r.requiredString()) }
        for _ in 0..<(try count(UInt64(MemberState.commandResultLimit + MemberState.pendingCancelLimit))) {
            let id = try r.requiredString()
            guard let index = m.committedRedemptions.firstIndex(where: { $0.id == id }) else { throw CompactReader.Failure.malformed }
            for _ in 0..<(try count(100)) { m.committedRedemptions[index].couponCodes.append(try r.requiredString()) }
            m.committedRedemptions[index].cancelRequestID = try r.string()
            for _ in 0..<(try count(100)) { let code = try r.requiredString(); m.committedRedemptions[index].voidAnswers[code] = try r.bool() }
            m.committedRedemptions[index].voidRefusal = try r.string()
        }
        guard !r.atEnd else { return m }
        for _ in 0..<(try count(UInt64(MemberState.recentLedgerLimit))) {
            let key = try r.requiredString(), kind = try r.unsigned()
            guard kind < UInt64(PointsLedgerEntry.Kind.allCases.count) else { throw CompactReader.Failure.malformed }
            m.recentLedger.append(.init(key: key, kind: PointsLedgerEntry.Kind.allCases[Int(kind)], points: try r.signed(), held: try r.signed(),
                                        balanceAfter: try r.signed(), ruleID: try r.string(), timeMillis: try r.signed()))
        }
        guard !r.atEnd else { return m }
        let announced = try r.signed()
        guard m.paid != nil else { throw CompactReader.Failure.malformed }
        m.paid?.expiringAnnouncedFor = announced
        return m
    }
}
