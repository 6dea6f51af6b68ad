import OrbitContract

/// A message to the coupon stage on `orbit-members.coupon-requests` (key: the coupon code, so
/// every decision about one code is made in one place, in one order). From the ledger: issue a
/// redeemed coupon, use one (a `coupon_used` event), void one (its redemption is cancelled),
/// forget an erased owner.
public struct CouponRequest: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case issue, use, void, forget
    }

    public var kind: Kind
    public var code: String
    public var userID: String
    public var redemptionID: String
    public var timeMillis: Int64
    /// `issue`: what the coupon is.
    public var rewardID = ""
    public var valueMinor: Int64 = 0
    public var currency = ""
    public var expiresAtMillis: Int64 = 0
    /// `use`: the order and the event; `void`: the cancellation's request id, in `eventID`.
    public var orderID = ""
    public var eventID = ""

    public init(kind: Kind, code: String, userID: String, redemptionID: String, timeMillis: Int64) {
        (self.kind, self.code, self.userID, self.redemptionID, self.timeMillis) = (kind, code, userID, redemptionID, timeMillis)
    }

    /// An issue request for `coupon`.
    public static func issue(_ coupon: Coupon) -> CouponRequest {
        var request = CouponRequest(kind: .issue, code: coupon.code, userID: coupon.userID, redemptionID: coupon.redemptionID, timeMillis: coupon.issuedAtMillis)
        (request.rewardID, request.valueMinor, request.currency, request.expiresAtMillis) = (coupon.rewardID, coupon.valueMinor, coupon.currency, coupon.expiresAtMillis)
        return request
    }

    /// The coupon an issue request describes.
    public var coupon: Coupon {
        Coupon(code: code, userID: userID, redemptionID: redemptionID, rewardID: rewardID, valueMinor: valueMinor, currency: currency,
               issuedAtMillis: timeMillis, expiresAtMillis: expiresAtMillis)
    }

    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 200)
        w.beginObject()
        w.field("kind"); w.string(kind.rawValue)
        w.field("code"); w.string(code)
        w.field("user_id"); w.string(userID)
        w.field("redemption_id"); w.string(redemptionID)
        w.field("time_ms"); w.int(timeMillis)
        switch kind {
        case .issue:
            w.field("reward_id"); w.string(rewardID)
            w.field("value_minor"); w.int(valueMinor)
            w.field("currency"); w.string(currency)
            w.field("expires_ms"); w.int(expiresAtMillis)
        case .use:
            w.field("order_id"); w.string(orderID)
            w.field("event_id"); w.string(eventID)
        case .void:
            w.field("event_id"); w.string(eventID)
        case .forget:
            break
        }
        w.endObject()
        return w.bytes
    }

    /// Reads a request back (in one pass as the ledger writes them; ``JSONMembers/read(_:into:maxDepth:_:)``).
    public static func decode(_ bytes: [UInt8]) -> CouponRequest? {
        struct Fields {
            var kind: Kind?, code: String?, user: String?, redemption: String?, time: Int64?
            var reward: String?, value: Int64?, currency: String?, expires: Int64?, order: String?, event: String?
        }
        guard let f = JSONMembers.read(bytes, into: Fields(), { f, member, named in
            if named("kind") { f.kind = member.stringValue.flatMap(Kind.init(rawValue:)) }
            else if named("code") { f.code = member.stringValue }
            else if named("user_id") { f.user = member.stringValue }
            else if named("redemption_id") { f.redemption = member.stringValue }
            else if named("time_ms") { f.time = member.numberValue?.int64Value }
            else if named("reward_id") { f.reward = member.stringValue }
            else if named("value_minor") { f.value = member.numberValue?.int64Value }
            else if named("currency") { f.currency = member.stringValue }
            else if named("expires_ms") { f.expires = member.numberValue?.int64Value }
            else if named("order_id") { f.order = member.stringValue }
            else if named("event_id") { f.event = member.stringValue }
        }), let kind = f.kind, let code = f.code, CouponCode.canonical(code) == code, let user = f.user, let redemption = f.redemption,
              let time = f.time else { return nil }
        var request = CouponRequest(kind: kind, code: code, userID: user, redemptionID: redemption, timeMillis: time)
        switch kind {
        case .issue:
            guard let reward = f.reward, let value = f.value, let currency = f.currency, let expires = f.expires, expires > time else { return nil }
            (request.rewardID, request.valueMinor, request.currency, request.expiresAtMillis) = (reward, value, currency, expires)
        case .use:
            guard let order = f.order, let event = f.event else { return nil }
            (request.orderID, request.eventID) = (order, event)
        case .void:
            guard let event = f.event else { return nil }
            request.eventID = event
        case .forget:
            break
        }
        return request
    }
}
