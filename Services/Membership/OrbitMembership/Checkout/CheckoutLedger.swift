import OrbitContract
import OrbitKafka

/// The ledger's side of points at checkout: `hold_points` sets points aside for an order (at most
/// the configured share of it), `capture_points` spends them when the order is paid,
/// `release_points` gives them back when it is cancelled, and a hold nobody captures is released
/// by the member's clock tick after `checkout.hold_minutes`. A refund of a captured order gives
/// its points back, in proportion, with their original expiry.
extension MembershipProcessor {
    /// A checkout command's outcome: status, reason and the result's members.
    typealias CheckoutOutcome = (status: String, reason: String?, extra: [(String, JSONValue)])

    func checkout(_ command: MemberCommand, state: inout MemberState, out: inout Outputs, at time: Int64) -> CheckoutOutcome {
        switch command {
        case .holdPoints(_, _, let order, let points, let amount, let currency):
            let details: [(String, JSONValue)] = [("order_id", .string(order)), ("points", .number(JSONNumber(points)))]
            if state.checkoutHolds.contains(where: { $0.orderID == order }) { return ("rejected", "order_already_held", details) }
            if state.capturedOrders.contains(where: { $0.orderID == order }) { return ("rejected", "order_already_captured", details) }
            guard let units = policy.engine.pointsCurrencyUnits(minor: amount, currency: currency) else {
                return ("rejected", "invalid: no exchange rate for \(currency) in the currency table", details)
            }
            let allowed = policy.checkout.maxPoints(forOrderUnits: units)
            guard points <= allowed else { return ("rejected", "exceeds_share", details + [("max_points", .number(JSONNumber(allowed)))]) }
            let hold = CheckoutHold(orderID: order, requestID: command.requestID, points: points, orderAmountMinor: amount, currency: currency, placedAtMillis: time)
            switch state.points.hold(points, id: hold.holdID, reason: "held at checkout for order \(order)", at: time) {
            case .failure(.tooManyHolds):
                return ("rejected", "too_many_holds", details)
            case .failure(.alreadyHeld):
                return ("rejected", "order_already_held", details)
            case .failure(.insufficient(let available)):
                return ("rejected", "insufficient_points", details + [("available", .number(JSONNumber(available)))])
            case .success(let entry):
                out.entry(entry)
                state.checkoutHolds.append(hold)
                return ("accepted", nil, details + [("held_until", .string(RFC3339.format(millis: time + policy.checkout.holdMillis)))])
            }
        case .capturePoints(_, _, let order):
            guard let index = state.checkoutHolds.firstIndex(where: { $0.orderID == order }) else {
                return ("rejected", state.capturedOrders.contains { $0.orderID == order } ? "order_already_captured" : "no_hold", [("order_id", .string(order))])
            }
            let hold = state.checkoutHolds.remove(at: index)
            guard let (entry, portions, clawback) = state.points.captureHold(hold.holdID, reason: "paid at checkout, order \(order)", at: time) else {
                return ("rejected", "no_hold", [("order_id", .string(order))])
            }
            out.entry(entry)
            state.totalRedeemed += hold.points
            var captured = CapturedOrder(orderID: order, portions: portions, capturedPoints: hold.points, orderAmountMinor: hold.orderAmountMinor, capturedAtMillis: time)
            captured.clawback = clawback
            state.capturedOrders.append(captured)
            if state.capturedOrders.count > MemberState.orderLimit { state.capturedOrders.removeFirst(state.capturedOrders.count - MemberState.orderLimit) }
            return ("accepted", nil, [("order_id", .string(order)), ("points", .number(JSONNumber(hold.points))), ("balance_after", .number(JSONNumber(entry.balanceAfter)))])
        case .releasePoints(_, _, let order):
            guard let index = state.checkoutHolds.firstIndex(where: { $0.orderID == order }) else { return ("rejected", "no_hold", [("order_id", .string(order))]) }
            let hold = state.checkoutHolds.remove(at: index)
            for entry in state.points.releaseHold(hold.holdID, reason: "order \(order) cancelled", at: time) { out.entry(entry) }
            return ("accepted", nil, [("order_id", .string(order)), ("points", .number(JSONNumber(hold.points)))])
        default:
            return ("rejected", "invalid: not a checkout command", [])
        }
    }

    /// Checkout holds older than `checkout.hold_minutes` at `time`, released (on a clock tick).
    static func expireCheckoutHolds(_ state: inout MemberState, at time: Int64, policy: MembershipPolicy, out: inout Outputs) {
        for hold in state.checkoutHolds where hold.placedAtMillis + policy.checkout.holdMillis <= time {
            state.checkoutHolds.removeAll { $0.orderID == hold.orderID }
            for entry in state.points.releaseHold(hold.holdID, reason: "hold for order \(hold.orderID) not captured in time", at: time) { out.entry(entry) }
            out.memberEvent(kind: "points_hold_expired", id: "\(hold.holdID):expired", time: time, fields: [
                ("order_id", .string(hold.orderID)), ("points", .number(JSONNumber(hold.points))), ("request_id", .string(hold.requestID)),
            ])
        }
    }

    /// A refund of an order paid partly with points: its share of those points comes back.
    static func refundCheckout(orderID: String, amountMinor: Int64, eventID: String, at time: Int64, state: inout MemberState, out: inout Outputs) {
        guard let index = state.capturedOrders.firstIndex(where: { $0.orderID == orderID }) else { return }
        var order = state.capturedOrders[index]
        let points = order.refund(amountMinor)
        if points > 0, let entry = state.points.giveBack(points, of: &order, key: "\(eventID):refund-points", reason: "refund on order \(orderID): points paid back", at: time) {
            state.totalRedeemed -= entry.points
            out.entry(entry)
            if let reclaimed = state.points.reclaim(min(order.clawback, entry.points), key: "\(eventID):clawback",
                                                    reason: "refunded points that paid for order \(orderID)", at: time) {
                order.clawback += reclaimed.points  // reclaimed.points is negative
                out.entry(reclaimed)
            }
        }
        state.capturedOrders[index] = order
    }
}
