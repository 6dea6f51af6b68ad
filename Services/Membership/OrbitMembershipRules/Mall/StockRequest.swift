import OrbitContract

/// A message from the ledger to the stock stage, on `orbit-members.stock-requests` (key: the
/// reward id, so one reward's requests are decided in one order).
public struct StockRequest: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Reserve `quantity` for a redemption whose points are held.
        case reserve
        /// Give back what was reserved for a redemption that will not be completed.
        case giveBack = "return"
    }

    public var kind: Kind
    public var redemptionID: String
    public var userID: String
    public var rewardID: String
    public var quantity: Int64
    public var timeMillis: Int64

    public init(kind: Kind, redemptionID: String, userID: String, rewardID: String, quantity: Int64, timeMillis: Int64) {
        (self.kind, self.redemptionID, self.userID, self.rewardID, self.quantity, self.timeMillis) = (kind, redemptionID, userID, rewardID, quantity, timeMillis)
    }

    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 160)
        w.beginObject()
        w.field("kind"); w.string(kind.rawValue)
        w.field("redemption_id"); w.string(redemptionID)
        w.field("user_id"); w.string(userID)
        w.field("reward_id"); w.string(rewardID)
        w.field("quantity"); w.int(quantity)
        w.field("time_ms"); w.int(timeMillis)
        w.endObject()
        return w.bytes
    }

    /// Reads a request back (in one pass as the ledger writes them; ``JSONMembers/read(_:into:maxDepth:_:)``).
    public static func decode(_ bytes: [UInt8]) -> StockRequest? {
        struct Fields { var kind: Kind?, id: String?, user: String?, reward: String?, quantity: Int64?, time: Int64? }
        guard let f = JSONMembers.read(bytes, into: Fields(), { f, value, named in
            if named("kind") { f.kind = value.stringValue.flatMap(Kind.init(rawValue:)) }
            else if named("redemption_id") { f.id = value.stringValue }
            else if named("user_id") { f.user = value.stringValue }
            else if named("reward_id") { f.reward = value.stringValue }
            else if named("quantity") { f.quantity = value.numberValue?.int64Value }
            else if named("time_ms") { f.time = value.numberValue?.int64Value }
        }), let kind = f.kind, let id = f.id, let user = f.user, let reward = f.reward, let quantity = f.quantity, quantity > 0, let time = f.time else { return nil }
        return StockRequest(kind: kind, redemptionID: id, userID: user, rewardID: reward, quantity: quantity, timeMillis: time)
    }
}
