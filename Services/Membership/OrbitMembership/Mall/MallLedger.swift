import OrbitContract
import OrbitKafka
import OrbitRuntime

/// The ledger's half of redeeming a reward (`redeem_reward`): check the reward and the member
/// against the catalogue, hold the price, ask the stock stage, then commit or release when it
/// answers. Every step is a ledger entry (`hold`, then `redeem` or `release`), so a member's
/// entries always sum to their balance and every hold is settled exactly once.
extension MembershipProcessor {
    /// Checks and holds; a reward with unlimited stock needs no stock decision and is committed at once.
    func redeem(_ rewardID: String, quantity: Int64, addressRef: String?, request: String, state: inout MemberState, out: inout Outputs, at time: Int64) {
        // A repeat of a request still waiting for its stock answer: that answer is its result.
        guard !state.pendingRedemptions.contains(where: { $0.id == request }) else { return }
        guard let reward = catalogue.current[rewardID] else {
            return result(request, "rejected", RedemptionRejection.unknownReward.rawValue, [("reward_id", .string(rewardID))], state: &state, out: &out, at: time)
        }
        let member = Redeemer(level: state.level.level, paidPlan: state.paid.flatMap { $0.expiresAtMillis > time ? $0.plan : nil },
                              segments: state.segments, tags: state.tags, canSpend: policy.canSpend(state.status))
        let details: [(String, JSONValue)] = [("reward_id", .string(rewardID)), ("quantity", .number(JSONNumber(quantity)))]
        let price: Int64
        switch reward.quote(quantity: quantity, for: member, usage: state.rewardUsage[rewardID], levels: policy.levels.levels.map(\.name), at: time) {
        case .failure(let rejection): return result(request, "rejected", rejection.rawValue, details, state: &state, out: &out, at: time)
        case .success(let total): price = total
        }
        switch state.points.hold(price, id: request, reason: "held for \(quantity) × \(rewardID)", at: time) {
        case .failure(.tooManyHolds):
            result(request, "rejected", "too_many_holds", details, state: &state, out: &out, at: time)
        case .failure(.alreadyHeld):
            return  // not reached: a pending redemption of this id returned above
        case .failure(.insufficient(let available)):
            result(request, "rejected", RedemptionRejection.insufficientPoints.rawValue,
                   details + [("points", .number(JSONNumber(price))), ("available", .number(JSONNumber(available)))], state: &state, out: &out, at: time)
        case .success(let entry):
            out.entry(entry)
            state.rewardUsage[rewardID, default: RewardUsage()].add(quantity, at: time)
            let limited = reward.stock != .unlimited
            state.pendingRedemptions.append(.init(id: request, rewardID: rewardID, quantity: quantity, points: price, placedAtMillis: time, addressRef: addressRef,
                                                  issue: reward.issue, limitedStock: limited))
            if !limited {
                complete(request, reserved: true, reason: nil, state: &state, out: &out, at: time)
            } else {
                out.stockRequest(StockRequest(kind: .reserve, redemptionID: request, userID: out.userID, rewardID: rewardID, quantity: quantity, timeMillis: time))
            }
        }
    }

    /// The stock stage's answer. For a redemption still pending it settles the hold; a new
    /// reservation for one that is not (its ledger state was replayed, or the member erased) is
    /// given back, so stock never stays reserved for points nobody holds.
    func settle(_ answer: InternalMessage, state: inout MemberState, out: inout Outputs) {
        guard let id = answer.redemptionID else { return }
        let reserved = answer.kind == .stockReserved
        if state.pendingRedemptions.contains(where: { $0.id == id }) {
            complete(id, reserved: reserved, reason: reserved ? nil : answer.reason, state: &state, out: &out, at: answer.time)
        } else if reserved && !answer.isRepeat && state.previousResult(id) == nil && !state.committedRedemptions.contains(where: { $0.id == id }) {
            // (A redemption already settled is not a stray reservation: its answer came twice.)
            out.stockRequest(StockRequest(kind: .giveBack, redemptionID: id, userID: out.userID, rewardID: answer.from, quantity: answer.points, timeMillis: answer.time))
        }
    }

    /// Commits a pending redemption's hold (the points leave the balance, a `reward_redeemed`
    /// member event says what to issue) or releases it (the points return with their expiry, the
    /// limits forget the quantity); either way the command's result.
    private func complete(_ id: String, reserved: Bool, reason: String?, state: inout MemberState, out: inout Outputs, at time: Int64) {
        guard let index = state.pendingRedemptions.firstIndex(where: { $0.id == id }) else { return }
        let pending = state.pendingRedemptions.remove(at: index)
        let (rewardID, quantity, points) = (pending.rewardID, pending.quantity, pending.points)
        // What every outcome's result and event say of the redemption.
        func details(_ w: inout JSONWriter) {
            w.field("reward_id"); w.string(rewardID)
            w.field("quantity"); w.int(quantity)
            w.field("points"); w.int(points)
        }
        if reserved, let (entry, portions, clawback) = state.points.captureHold(id, reason: "redeemed \(quantity) × \(rewardID)", at: time) {
            out.entry(entry)
            // A coupon per unit; a cancellation voids these codes as they were made (not made
            // again under a key that may have changed since).
            var codes: [String] = []
            if case .coupon? = pending.issue { codes = (0..<quantity).map { couponCodes.code(user: out.userID, redemption: id, unit: $0) } }
            if policy.cancelWindowMillis > 0 {
                var committed = MemberState.CommittedRedemption(id: id, rewardID: rewardID, quantity: quantity, placedAtMillis: pending.placedAtMillis,
                                                                committedAtMillis: time, portions: portions)
                committed.clawback = clawback
                committed.issue = pending.issue
                committed.limitedStock = pending.limitedStock
                committed.couponCodes = codes
                state.committedRedemptions.append(committed)
                state.trimCommittedRedemptions()
            }
            state.totalRedeemed += points
            let names = catalogue.current[rewardID]?.names
            // What is issued, as the catalogue said when the points were held: goods to the
            // shop's order system, a benefit onto the account, coupons to the coupon stage.
            switch pending.issue {
            case .goods(let sku)?:
                out.fulfilment(redemptionID: id, status: "issue", rewardID: rewardID, sku: sku, quantity: quantity, addressRef: pending.addressRef, time: time)
            case .benefit(let name, let days)?:
                // Clamped: a run of long benefits never overflows the end time.
                let (extended, overflow) = max(state.rewardBenefits[name] ?? time, time).addingReportingOverflow(Int64(days) * quantity * 86_400_000)
                state.rewardBenefits[name] = overflow ? .max / 2 : min(extended, .max / 2)
            case .coupon(let value, let currency, let days)?:
                for code in codes {
                    out.couponRequest(.issue(Coupon(code: code, userID: out.userID, redemptionID: id, rewardID: rewardID, valueMinor: value,
                                                    currency: currency, issuedAtMillis: time, expiresAtMillis: time + Int64(days) * 86_400_000)))
                    state.remember(coupon: code)
                }
            case nil:
                break
            }
            // The names in each locale, for notifications (a template reads its own).
            out.memberEvent(kind: "reward_redeemed", id: id + ":redeemed", time: time) { w in
                w.field("redemption_id"); w.string(id)
                details(&w)
                w.field("reward_kind"); if let issue = pending.issue { w.string(issue.kindName) } else { w.null() }
                w.field("reward_name_en"); w.string(names?["en"] ?? rewardID)
                w.field("reward_name_zh_cn"); w.string(names?["zh-CN"] ?? rewardID)
                if !codes.isEmpty {
                    w.field("coupon_codes"); w.beginArray()
                    for code in codes { w.string(code) }
                    w.endArray()
                }
            }
            result(id, "accepted", nil, state: &state, out: &out, at: time) { w in
                details(&w)
                w.field("balance_after"); w.int(entry.balanceAfter)
            }
        } else {
            for entry in state.points.releaseHold(id, reason: "\(rewardID): \(reason ?? "released")", at: time) { out.entry(entry) }
            state.rewardUsage[rewardID]?.remove(quantity, addedAt: pending.placedAtMillis)
            result(id, "rejected", reason ?? RedemptionRejection.outOfStock.rawValue, state: &state, out: &out, at: time) { w in details(&w) }
        }
    }

    /// Cancels a committed redemption within the cancel window: its points come back into their
    /// lots with their original expiry (a `refund` entry), the limits forget it, its stock is
    /// returned, goods get a `cancel` fulfilment record and a benefit is shortened.
    ///
    /// A coupon redemption is cancelled once the coupon stage has answered for each coupon
    /// (``voidAnswered(_:state:out:)``): only coupons not used can be voided, and only those come
    /// back. Its result is nil until then.
    func cancel(_ id: String, request: String, state: inout MemberState, out: inout Outputs, at time: Int64) -> (status: String, reason: String?, extra: [(String, JSONValue)])? {
        guard let index = state.committedRedemptions.firstIndex(where: { $0.id == id }),
              state.committedRedemptions[index].committedAtMillis + policy.cancelWindowMillis > time else {
            return ("rejected", "not_cancellable", [("redemption_id", .string(id))])
        }
        if case .coupon? = state.committedRedemptions[index].issue {
            switch state.committedRedemptions[index].cancelRequestID {
            case request?: return nil  // this cancellation again, still waiting: its result comes with the answers
            case _?: return ("rejected", "cancel_in_progress", [("redemption_id", .string(id))])
            case nil: break
            }
            guard state.committedRedemptions.filter({ $0.cancelRequestID != nil }).count < MemberState.pendingCancelLimit else {
                return ("rejected", "too_many_cancellations", [("redemption_id", .string(id))])
            }
            var codes = state.committedRedemptions[index].couponCodes
            if codes.isEmpty { codes = (0..<state.committedRedemptions[index].quantity).map { couponCodes.code(user: out.userID, redemption: id, unit: $0) } }
            state.committedRedemptions[index].couponCodes = codes
            state.committedRedemptions[index].cancelRequestID = request
            for code in codes {
                var void = CouponRequest(kind: .void, code: code, userID: out.userID, redemptionID: id, timeMillis: time)
                void.eventID = request
                out.couponRequest(void)
            }
            return nil
        }
        return cancel(at: index, units: state.committedRedemptions[index].quantity, state: &state, out: &out, at: time)
    }

    /// The coupon stage voided one of a cancelled redemption's coupons, or could not (it was used
    /// or expired). When every coupon has answered, the voided ones come back (their share of the
    /// points, their stock, their limits) and the cancellation's result goes out.
    func voidAnswered(_ answer: InternalMessage, state: inout MemberState, out: inout Outputs) {
        // Only an answer for this cancellation, about one of its coupons, and once per coupon.
        guard let id = answer.redemptionID, let index = state.committedRedemptions.firstIndex(where: { $0.id == id }),
              let request = state.committedRedemptions[index].cancelRequestID, answer.requestID == request,
              state.committedRedemptions[index].couponCodes.contains(answer.from),
              state.committedRedemptions[index].voidAnswers[answer.from] == nil else { return }
        state.committedRedemptions[index].voidAnswers[answer.from] = answer.kind == .couponVoided
        if answer.kind != .couponVoided { state.committedRedemptions[index].voidRefusal = answer.reason }
        let redemption = state.committedRedemptions[index]
        guard redemption.voidAnswers.count >= redemption.couponCodes.count else { return }
        let outcome: (status: String, reason: String?, extra: [(String, JSONValue)])
        if redemption.voided == 0 {
            state.committedRedemptions[index].cancelRequestID = nil
            state.committedRedemptions[index].voidAnswers = [:]
            state.committedRedemptions[index].voidRefusal = nil
            outcome = ("rejected", redemption.voidRefusal ?? CouponRejection.alreadyUsed.rawValue, [("redemption_id", .string(id))])
        } else {
            outcome = cancel(at: index, units: redemption.voided, state: &state, out: &out, at: answer.time)
        }
        let bytes = out.result(requestID: request, status: outcome.status, reason: outcome.reason, time: answer.time,
                               extra: [("command", .string("cancel_redemption"))] + outcome.extra)
        state.remember(request, result: bytes)
        if outcome.status == "rejected" { rejectedCommands.increment() }
    }

    /// Cancels `units` of the committed redemption at `index` (all of it, or the coupons voided):
    /// their share of its points comes back, and of its stock and limits.
    private func cancel(at index: Int, units: Int64, state: inout MemberState, out: inout Outputs, at time: Int64) -> (status: String, reason: String?, extra: [(String, JSONValue)]) {
        var redemption = state.committedRedemptions.remove(at: index)
        let id = redemption.id
        let whole = units >= redemption.quantity
        // A part's points: its share, rounded down (the rest stays spent on the units kept).
        let points = whole ? redemption.points : redemption.points * units / redemption.quantity
        if let entry = state.points.giveBack(points, from: &redemption.portions, key: "\(id):cancel", reason: "redemption \(id) cancelled", at: time) {
            state.totalRedeemed -= entry.points
            out.entry(entry)
            if let reclaimed = state.points.reclaim(min(redemption.clawback, entry.points), key: "\(id):clawback",
                                                    reason: "refunded points that were spent on \(id)", at: time) { out.entry(reclaimed) }
        }
        state.rewardUsage[redemption.rewardID]?.remove(units, addedAt: redemption.placedAtMillis)
        // As the redemption was made: stock given back only if it was reserved, goods recalled as sent.
        if redemption.limitedStock {
            out.stockRequest(StockRequest(kind: .giveBack, redemptionID: id, userID: out.userID, rewardID: redemption.rewardID, quantity: units, timeMillis: time))
        }
        switch redemption.issue {
        case .goods(let sku)?:
            out.fulfilment(redemptionID: id, status: "cancel", rewardID: redemption.rewardID, sku: sku, quantity: redemption.quantity, addressRef: nil, time: time)
        case .benefit(let name, let days)?:
            if let until = state.rewardBenefits[name] { state.rewardBenefits[name] = until - Int64(days) * redemption.quantity * 86_400_000 }
        case .coupon?, nil:
            break
        }
        out.memberEvent(kind: "redemption_cancelled", id: "\(id):cancelled", time: time, fields: [
            ("redemption_id", .string(id)), ("reward_id", .string(redemption.rewardID)), ("quantity", .number(JSONNumber(units))),
            ("points", .number(JSONNumber(points))),
        ])
        return ("accepted", nil, [("redemption_id", .string(id)), ("points", .number(JSONNumber(points))), ("quantity", .number(JSONNumber(units)))])
    }

    /// A `redeem_reward` command's result, remembered for repeats of the request.
    private func result(_ request: String, _ status: String, _ reason: String?, _ extra: [(String, JSONValue)], state: inout MemberState, out: inout Outputs, at time: Int64) {
        result(request, status, reason, state: &state, out: &out, at: time) { w in
            for (key, value) in extra { w.key(key); w.value(value) }
        }
    }

    /// The same, its fields after `command` written by `body`.
    private func result(_ request: String, _ status: String, _ reason: String?, state: inout MemberState, out: inout Outputs, at time: Int64,
                        _ body: (inout JSONWriter) -> Void) {
        let bytes = out.result(requestID: request, status: status, reason: reason, time: time) { w in
            w.field("command"); w.string("redeem_reward")
            body(&w)
        }
        state.remember(request, result: bytes)
        if status == "rejected" { rejectedCommands.increment() }
    }
}
