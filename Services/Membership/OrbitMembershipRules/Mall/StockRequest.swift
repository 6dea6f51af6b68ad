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

    public static func decode(_ bytes: [UInt8]) -> StockRequest? {
        guard let o = try? JSONParser.parse(bytes).objectValue, let kind = o["kind"]?.stringValue.flatMap(Kind.init(rawValue:)),
              let id = o["redemption_id"]?.stringValue, let user = o["user_id"]?.stringValue, let reward = o["reward_id"]?.stringValue,
              let quantity = o["quantity"]?.numberValue?.int64Value, quantity > 0, let time = o["time_ms"]?.numberValue?.int64Value else { return nil }
        return StockRequest(kind: kind, redemptionID: id, userID: user, rewardID: reward, quantity: quantity, timeMillis: time)
    }
}
