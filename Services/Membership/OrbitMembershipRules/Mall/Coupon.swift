import OrbitContract
import OrbitCore

/// A points-mall coupon as the coupon stage keeps it, keyed by its code: whose it is, what it is
/// worth, until when, and where it is in its life: `issued`, then `used` on an order, `expired`
/// on the clock, or `voided` when its redemption is cancelled. The stage publishes each change on
/// `orbit.coupons` (compacted, key: the code).
///
/// Every decision about one code is made here, in one order: a code is used at most once, and a
/// use, an expiry and a void never both happen.
public struct Coupon: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable { case issued, used, expired, voided }

    public var code: String
    /// The owner; empty once the owner was erased (the code stays taken, never reused).
    public var userID: String
    public var redemptionID: String
    public var rewardID: String
    public var valueMinor: Int64
    public var currency: String
    public var issuedAtMillis: Int64
    public var expiresAtMillis: Int64
    public var status: Status = .issued
    /// The order it was used on.
    public var orderID: String?
    /// When it was used, expired or voided.
    public var settledAtMillis: Int64?
    /// Whether the `coupon_expiring` notice went out.
    public var expiringNoticeSent = false
    /// Replay protection for the stage's own input: the highest offset applied.
    public var appliedOffset: Int64 = -1

    public init(code: String, userID: String, redemptionID: String, rewardID: String, valueMinor: Int64, currency: String,
                issuedAtMillis: Int64, expiresAtMillis: Int64) {
        (self.code, self.userID, self.redemptionID, self.rewardID) = (code, userID, redemptionID, rewardID)
        (self.valueMinor, self.currency, self.issuedAtMillis, self.expiresAtMillis) = (valueMinor, currency, issuedAtMillis, expiresAtMillis)
    }

    /// What a `coupon_used` event came to.
    public enum UseOutcome: Sendable, Equatable {
        case used
        /// The same order again (the shop sent its use twice): the first answer stands.
        case repeated
        case rejected(CouponRejection)
    }

    /// How long after its expiry a use placed before it may still arrive (24 hours).
    public static let lateUseGraceMillis: Int64 = 86_400_000

    /// The shop took the code on `order` at `time` (the event's time), and the use reached Orbit
    /// at `arrival`: used, if it is `user`'s, not used or voided, and `time` lies in its validity.
    /// Time is the order's: a use the shop accepted before the coupon expired counts when it is
    /// reported after the expiry tick, if it arrives within ``lateUseGraceMillis`` of the expiry
    /// (so a backdated event cannot revive an old coupon).
    public mutating func use(by user: String, order: String, at time: Int64, arrival: Int64) -> UseOutcome {
        guard !userID.isEmpty, userID == user else { return .rejected(.foreignCoupon) }
        switch status {
        case .used: return orderID == order ? .repeated : .rejected(.alreadyUsed)
        case .voided: return .rejected(.voided)
        case .issued, .expired:
            guard time >= issuedAtMillis else { return .rejected(.notYetValid) }
            guard time < expiresAtMillis, arrival < expiresAtMillis + Self.lateUseGraceMillis else { return .rejected(.expired) }
            (status, orderID, settledAtMillis) = (.used, order, time)
            return .used
        }
    }

    /// What a void (its redemption is being cancelled) came to.
    public enum VoidOutcome: Sendable, Equatable {
        case voided
        /// Voided before, for this redemption (a repeated request).
        case alreadyVoided
        case refused(CouponRejection)
    }

    /// Voids the coupon for the cancellation of `redemption`, unless it was used or is past its
    /// expiry (whether or not the clock has said so yet).
    public mutating func void(for redemption: String, user: String, at time: Int64) -> VoidOutcome {
        guard redemptionID == redemption, userID == user else { return .refused(.foreignCoupon) }
        switch status {
        case .voided: return .alreadyVoided
        case .used: return .refused(.alreadyUsed)
        case .expired: return .refused(.expired)
        case .issued:
            guard time < expiresAtMillis else { return .refused(.expired) }
            (status, settledAtMillis) = (.voided, time)
            return .voided
        }
    }

    /// What time does to a coupon.
    public enum Due: Sendable, Equatable { case expire, notice }

    /// Whether the clock at `time` expires the coupon, or is `noticeMillis` or less before its
    /// expiry with the notice not sent yet (0: no notice; nor for a coupon valid for no longer
    /// than that, whose owner was just told its expiry when it was issued).
    public func due(at time: Int64, noticeMillis: Int64) -> Due? {
        guard status == .issued else { return nil }
        if time >= expiresAtMillis { return .expire }
        if wantsNotice(noticeMillis), time >= expiresAtMillis - noticeMillis { return .notice }
        return nil
    }

    func wantsNotice(_ noticeMillis: Int64) -> Bool {
        noticeMillis > 0 && !expiringNoticeSent && expiresAtMillis - noticeMillis > issuedAtMillis
    }

    /// Applies what `due` said.
    public mutating func apply(_ due: Due, at time: Int64) {
        switch due {
        case .expire: (status, settledAtMillis) = (.expired, time)
        case .notice: expiringNoticeSent = true
        }
    }

    /// The owner was erased: the coupon keeps nothing about them, and one not used yet is voided.
    /// The code stays taken.
    public mutating func forgetOwner(at time: Int64) {
        userID = ""
        if status == .issued { (status, settledAtMillis) = (.voided, time) }
    }

    // MARK: State store format (binary, version 1)

    public func encoded() -> [UInt8] {
        var w = CompactWriter(capacity: 96 + code.utf8.count + redemptionID.utf8.count)
        w.unsigned(1)
        w.string(code); w.string(userID); w.string(redemptionID); w.string(rewardID)
        w.signed(valueMinor); w.string(currency); w.signed(issuedAtMillis); w.signed(expiresAtMillis)
        w.unsigned(UInt64(Status.allCases.firstIndex(of: status)!))
        w.string(orderID); w.optionalSigned(settledAtMillis); w.bool(expiringNoticeSent); w.signed(appliedOffset)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> Coupon {
        var r = CompactReader(bytes)
        guard try r.unsigned() == 1 else { throw CompactReader.Failure.malformed }
        var coupon = Coupon(code: try r.requiredString(), userID: try r.string() ?? "", redemptionID: try r.string() ?? "", rewardID: try r.string() ?? "",
                            valueMinor: try r.signed(), currency: try r.string() ?? "", issuedAtMillis: try r.signed(), expiresAtMillis: try r.signed())
        let status = try r.unsigned()
        guard status < UInt64(Status.allCases.count) else { throw CompactReader.Failure.malformed }
        coupon.status = Status.allCases[Int(status)]
        coupon.orderID = try r.string()
        coupon.settledAtMillis = try r.optionalSigned()
        coupon.expiringNoticeSent = try r.bool()
        coupon.appliedOffset = try r.signed()
        return coupon
    }

    // MARK: The public record (`orbit.coupons`)

    /// The coupon as `orbit.coupons` carries it (docs/CONTRACT.md).
    public func record() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 320)
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("code"); w.string(code)
        w.field("status"); w.string(status.rawValue)
        w.field("user_id"); if userID.isEmpty { w.null() } else { w.string(userID) }
        w.field("redemption_id"); w.string(redemptionID)
        w.field("reward_id"); w.string(rewardID)
        w.field("value_minor"); w.int(valueMinor)
        w.field("currency"); w.string(currency)
        w.field("issued_at"); w.timestamp(millis: issuedAtMillis)
        w.field("expires_at"); w.timestamp(millis: expiresAtMillis)
        w.field("order_id"); if let orderID { w.string(orderID) } else { w.null() }
        w.field("settled_at"); if let settledAtMillis { w.timestamp(millis: settledAtMillis) } else { w.null() }
        w.endObject()
        return w.bytes
    }
}

/// Why a coupon could not be used or voided: the `reason` of a `coupon_rejected` member event
/// (error codes of the contract: never renamed or reused).
public enum CouponRejection: String, Sendable, CaseIterable, Error {
    /// No coupon has that code.
    case unknownCoupon = "unknown_coupon"
    /// The code is another member's.
    case foreignCoupon = "foreign_coupon"
    /// Past its expiry (or reported too long after it).
    case expired = "coupon_expired"
    /// Used before it was issued (an event time earlier than the coupon).
    case notYetValid = "coupon_not_yet_valid"
    /// Used on another order.
    case alreadyUsed = "coupon_already_used"
    /// Its redemption was cancelled.
    case voided = "coupon_voided"
}
