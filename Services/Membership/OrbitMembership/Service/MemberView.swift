import OrbitContract
import OrbitMembershipRules

/// A member as a query answers it (`GET /v1/members/{id}`): the account record, then what is
/// held, the last redemptions and the last ledger entries (newest first). Read from the member's state, never from the ledger topic.
enum MemberView {
    /// The last committed redemptions shown (the state keeps those still cancellable).
    static let redemptionsShown = 20

    static func json(_ state: MemberState, userID: String, policy: MembershipPolicy, at time: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("account"); w.value((try? JSONParser.parse(Outputs.account(state, userID: userID, policy: policy, at: time))) ?? .null)
        w.field("holds"); w.beginArray()
        for hold in state.checkoutHolds {
            w.beginObject()
            w.field("kind"); w.string("checkout")
            w.field("order_id"); w.string(hold.orderID)
            w.field("points"); w.int(hold.points)
            w.field("placed"); w.timestamp(millis: hold.placedAtMillis)
            w.endObject()
        }
        for pending in state.pendingRedemptions {
            w.beginObject()
            w.field("kind"); w.string("redemption")
            w.field("redemption_id"); w.string(pending.id)
            w.field("reward_id"); w.string(pending.rewardID)
            w.field("quantity"); w.int(pending.quantity)
            w.field("points"); w.int(pending.points)
            w.field("placed"); w.timestamp(millis: pending.placedAtMillis)
            w.endObject()
        }
        w.endArray()
        w.field("last_redemptions"); w.beginArray()
        for redemption in state.committedRedemptions.suffix(redemptionsShown).reversed() {
            w.beginObject()
            w.field("redemption_id"); w.string(redemption.id)
            w.field("reward_id"); w.string(redemption.rewardID)
            w.field("quantity"); w.int(redemption.quantity)
            w.field("committed"); w.timestamp(millis: redemption.committedAtMillis)
            w.field("coupons"); w.int(redemption.couponCodes.count)
            w.endObject()
        }
        w.endArray()
        w.field("last_ledger_entries"); w.beginArray()
        for entry in state.recentLedger.reversed() {
            w.beginObject()
            w.field("key"); w.string(entry.key)
            w.field("kind"); w.string(entry.kind.rawValue)
            w.field("points"); w.int(entry.points)
            w.field("held"); w.int(entry.held)
            w.field("balance_after"); w.int(entry.balanceAfter)
            w.field("rule"); if let rule = entry.ruleID { w.string(rule) } else { w.null() }
            w.field("time"); w.timestamp(millis: entry.timeMillis)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes + [10]
    }
}
