import Foundation
import Logging
import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// Membership and points: events earn points by the rules, commands redeem, adjust, transfer and
/// grant them, time expires them and moves levels. Every change is a ledger entry with an
/// idempotency key; the account is published once per member per batch.
///
/// Reads one stream, `orbit-members.inputs`, where the runtime's ``InputRouter`` has merged each member's
/// events, segment changes, commands, internal messages and privacy requests in one order. One
/// ordered stream per member is what makes a replay after a crash repeat exactly the same ledger
/// entries: with several input topics, a replay could interleave a member's purchases and
/// redemptions differently, and the same entry would come out with another balance.
public final class MembershipProcessor: RecordProcessor {
    let settings: MembershipSettings
    let topics: OutputTopics
    let policy: MembershipPolicy
    /// Decoded members are kept across batches (`.retained`): a member is decoded once per
    /// assignment and encoded once per batch it changed in.
    public let store: KeyedStore<MemberState>
    let deadLetters: DeadLetters
    /// The points mall's rewards: prices, eligibility and limits of `redeem_reward`.
    let catalogue: CatalogueReader
    /// Makes the codes of redeemed coupons, under the deployment's secret.
    let couponCodes: CouponCodes

    private let entriesCounter = Counter(label: "orbit_members_ledger_entries_total")
    private let pointsFlows = PointsFlowCounters()
    private let levelCensus: LevelCensus
    let rejectedCommands = Counter(label: "orbit_members_commands_rejected_total")
    private let replays = Counter(label: "orbit_members_replays_skipped_total")

    /// - Parameters:
    ///   - deadLetters: where records the ledger cannot read go (by default the configured topic,
    ///     counted under `orbit-members`).
    ///   - stores: makes the member store (in the backend `state.store` names).
    /// - Parameter catalogue: the stage's global table of `orbit.rewards` (nil: no rewards).
    /// - Parameter secret: the deployment's secret, which coupon codes are made under (nil: a key of its own, for tests).
    /// - Parameter partitionCount: the merged stream's partition count, where queries place keys (0: no queries).
    public init(settings: MembershipSettings, deadLetters: DeadLetters? = nil, stores: StoreMaker = .memory, catalogue: GlobalTableView? = nil,
                secret: Pseudonymizer? = nil, partitionCount: Int = 0) {
        self.settings = settings
        self.topics = OutputTopics(settings)
        self.partitionCount = partitionCount
        self.couponCodes = CouponCodes(secret: secret ?? PrivacySettings().pseudonymizer)
        self.policy = settings.policy
        self.catalogue = CatalogueReader(view: catalogue, levels: settings.policy.levels.levels.map(\.name))
        self.levelCensus = LevelCensus(levels: settings.policy.levels.levels.map(\.name))
        self.store = stores.store(settings.stateChangelogTopic, cachePolicy: .retained)
        self.deadLetters = deadLetters ?? DeadLetters(topic: settings.deadLettersTopic, service: "orbit-members")
    }

    let partitionCount: Int

    // MARK: Queries

    /// `GET /v1/members/{id}`: the account as `orbit.member-accounts` has it, evaluated now, with
    /// the points held (checkout holds and redemptions waiting for stock) and the last redemptions.
    public var queries: [KeyQuery] {
        guard partitionCount > 0 else { return [] }
        let reader = store.reader(partitionCount: partitionCount)
        let (policy, clock) = (self.policy, settings.processor.clock)
        return [KeyQuery(prefix: "/v1/members/", noun: "member", topic: settings.inputsTopic, partitionCount: partitionCount) { key in
            reader.answer(key) { state in state.known ? MemberView.json(state, userID: key, policy: policy, at: clock()) : nil }
        }]
    }

    // MARK: Partitions (the store's are restored and dropped by the runtime)

    public func partitionsRevoked(_ partitions: [TopicPartition]) {
        for partition in partitions where partition.topic == settings.inputsTopic { levelCensus.record([:], partition: partition.partition) }
    }

    // MARK: Records

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        // A tags tombstone (null value) is a value too: it clears the member's tags.
        guard let input = InputRouter<MemberInput>.kind(of: record), let value = record.value ?? (input == .tags ? [] : nil),
              let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else {
            outputs.append(deadLetters.record(for: record, .undecodableRecord, "a member input needs a key, a value and a known \(InputRouter<MemberInput>.kindHeader) header"))
            return
        }
        if input == .privacyRequest {  // the runtime erases (erasesFrom): one that gets here is not read
            return outputs.append(deadLetters.privacyRequestNotErased(record))
        }
        // A tags tombstone clears what is held; for someone not held (erased: notify tombstones
        // their tags) it creates nothing.
        if input == .tags, record.value == nil, try store.get(record.partition, key) == nil { return }
        try store.update(record.partition, key, initial: { MemberState(userID: key, policy: policy) }) { state in
            apply(record, input: input, value: value, key: key, context: context, to: &state, outputs: &outputs)
        }
    }

    /// The ledger's part of erasing a member (the runtime deletes the state and writes the
    /// receipt): the balance is closed by a `forfeit` entry (so the ledger still sums to every
    /// account, and the points are no longer a liability), the account is tombstoned, and the
    /// receipt carries the member's totals under the pseudonym. A replay finds the state gone and
    /// writes only the same tombstones and receipt again.
    public func erase(_ key: String, partition: Int32, erasure: inout Erasure, outputs: inout [ProducerRecord]) throws {
        let request = erasure.request
        let time = erasure.timeMillis
        if let state = try store.get(partition, key) {
            var out = Outputs(userID: key, topics: topics)
            let balance = state.points.balance
            if balance != 0 {
                out.entry(PointsLedgerEntry(key: "erase:\(request.requestID)", userID: key, kind: .forfeit, points: -balance, balanceAfter: 0, ruleID: nil,
                                            reason: "balance closed: the member was erased on request \(request.requestID)", timeMillis: time))
            }
            // The coupon stage keeps nothing about the member after this: each coupon forgets its owner.
            for code in state.coupons {
                out.couponRequest(CouponRequest(kind: .forget, code: code, userID: key, redemptionID: "", timeMillis: time))
            }
            outputs.append(contentsOf: out.records)
            entriesCounter.increment(by: out.entries)
            pointsFlows.count(out.flows)
            erasure.erased("member state: points lots, level, status, paid membership, orders, referral, command results")
            if !state.coupons.isEmpty { erasure.note("coupons whose owner is forgotten: \(state.coupons.count)") }
            erasure.note("ledger totals of the subject: earned \(state.totalEarned), redeemed \(state.totalRedeemed), expired \(state.totalExpired), forfeited \(balance)")
        } else {
            erasure.note("no member state was held")
        }
        erasure.tombstone(settings.accountsTopic, key: key, into: &outputs)
    }

    /// One input applied to its member's state, in place; false when it changed nothing (a replay
    /// or a dead letter).
    private func apply(_ record: ConsumerRecord, input: MemberInput, value: [UInt8], key: String, context: ProcessingContext,
                       to state: inout MemberState, outputs: inout [ProducerRecord]) -> Bool {
        var out = Outputs(userID: key, topics: topics)
        // Times come from the records (or, for records without one, from the runtime clock).
        let recordTime = record.timestampMillis ?? context.nowMillis
        switch input {
        case .event:
            guard let event = try? UserEvent.decode(value), event.userID == key else {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, "not a valid-event record of user \(key)"))
                return false
            }
            guard !state.alreadyApplied(offset: record.offset, key: event.id) else { replays.increment(); return false }
            apply(event, to: &state, out: &out)
        case .segmentChange:
            guard let change = try? JSONParser.parse(value).objectValue, let id = change["id"]?.stringValue,
                  let dimension = change["dimension"]?.stringValue, let to = change["to"]?.stringValue else {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, "not a segment change"))
                return false
            }
            guard !state.alreadyApplied(offset: record.offset, key: id) else { replays.increment(); return false }
            state.segments = state.segments.filter { !$0.hasPrefix(dimension + ":") }.union(["\(dimension):\(to)"])
            var caps = state.caps
            let awards = policy.engine.awards(forSegment: dimension, value: to, at: recordTime, context: memberContext(state), caps: &caps)
            state.caps = caps
            for award in awards { earn(award.points, key: "\(id):\(award.ruleID)", rule: award.ruleID, reason: award.reason, at: recordTime, orderID: nil, state: &state, out: &out) }
        case .command:
            let time = recordTime
            let command: MemberCommand
            do {
                command = try MemberCommand.parse(value)
            } catch {
                guard case .invalid(let reason, let requestID) = error else { return false }
                rejectedCommands.increment()
                out.result(requestID: requestID ?? "offset-\(record.topic)-\(record.partition)-\(record.offset)", status: "rejected", reason: "invalid: \(reason)", time: time)
                break
            }
            if record.offset <= state.appliedOffset { replays.increment(); return false }
            if let previous = state.previousResult(command.requestID) {
                _ = state.alreadyApplied(offset: record.offset, key: "repeat:\(record.offset)")
                out.raw(previous)  // a repeated request: the original result, nothing changes
                break
            }
            guard !state.alreadyApplied(offset: record.offset, key: "command:\(command.requestID)") else { replays.increment(); return false }
            handle(command, state: &state, out: &out, at: time)
        case .privacyRequest:
            return false  // handled before the state is touched (see `process`)
        case .tags:
            // The latest tags replace the previous ones; a tombstone (empty value) clears them.
            if value.isEmpty { state.tags = []; break }
            guard case .object(let o)? = try? JSONParser.parse(value), let list = o["tags"]?.arrayValue else {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, "a tags record is {\"tags\": [\"...\"]}"))
                return false
            }
            state.tags = Set(list.compactMap(\.stringValue).filter { !$0.isEmpty && $0.utf8.count <= 64 }.sorted().prefix(100))
        case .internal:
            guard let message = InternalMessage.decode(value) else {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, "not an internal membership message"))
                return false
            }
            guard !state.alreadyApplied(offset: record.offset, key: message.key) else { replays.increment(); return false }
            state.known = true
            switch message.kind {
            case .award, .transferIn, .grant:
                var (points, reason) = (message.points, message.reason)
                if message.kind == .award {
                    guard policy.canEarn(state.status) else { break }
                    var caps = state.caps
                    (points, reason) = policy.engine.arriving(points, ruleID: message.rule, reason: reason, at: message.time, caps: &caps)
                    state.caps = caps
                    guard points > 0 else { break }
                }
                earn(points, key: message.key, rule: message.rule, reason: reason, at: message.time, orderID: nil, state: &state, out: &out)
            case .clockTick:
                // Time arrives as an input, so what it does (expiry, notices, level moves, paid
                // membership ending) takes a fixed place in the member's stream: a replay repeats
                // it with the same balances and the same bytes as the first time.
                Self.clockTick(&state, at: message.time, policy: policy, out: &out)
            case .stockReserved, .stockRefused:
                settle(message, state: &state, out: &out)
            case .couponVoided, .couponNotVoided:
                voidAnswered(message, state: &state, out: &out)
            case .referredBy:
                if state.referredBy == nil || (message.time, message.from) < (state.referredAtMillis, state.referredBy!) && state.purchases == 0 {
                    state.referredBy = message.from
                    state.referredAtMillis = message.time
                }
            }
        }
        outputs.append(contentsOf: out.records)
        entriesCounter.increment(by: out.entries)
        pointsFlows.count(out.flows)
        state.remember(ledger: out.ledger)
        // Tags are not the member's activity: the account stays stated as of their last input.
        if input != .tags { state.lastInputMillis = max(state.lastInputMillis, recordTime) }
        return true
    }

    private func memberContext(_ state: MemberState) -> MemberContext {
        MemberContext(level: state.level.level, levelMultiplier: policy.levels.level(named: state.level.level)?.pointsMultiplier ?? 1,
                      segments: state.segments, purchasesBefore: state.purchases, checkInStreak: state.checkInStreak,
                      referredBy: state.referredBy, canEarn: policy.canEarn(state.status))
    }

    private func apply(_ event: UserEvent, to state: inout MemberState, out: inout Outputs) {
        state.known = true
        if event.type == .purchase, let currency = event.properties["currency"]?.stringValue, !policy.engine.canConvert(currency) {
            // Never a silent zero: the member is told why this purchase earned no spending points.
            Counter(label: "orbit_members_unconverted_purchases_total", dimensions: [("currency", currency)]).increment()
            out.memberEvent(kind: "points_not_earned", id: "\(event.id):no-rate", time: event.timeMillis, fields: [
                ("order_id", event.properties["order_id"] ?? .null), ("currency", .string(currency)),
                ("reason", .string("no exchange rate for \(currency) in the currency table: spending rules earn nothing on this purchase")),
            ])
        }
        if event.type == .checkIn {
            let day = event.timeMillis / 86_400_000
            if let last = state.checkInLastDay {
                if day == last + 1 { state.checkInStreak += 1; state.checkInLastDay = day } else if day > last + 1 { state.checkInStreak = 1; state.checkInLastDay = day }
            } else { state.checkInStreak = 1; state.checkInLastDay = day }
        }
        if event.type == .referral, let referee = event.properties["referred_user_id"]?.stringValue {
            out.internalMessage(to: referee, InternalMessage(kind: .referredBy, key: "\(event.id):referred", points: 0, from: event.userID, rule: nil, reason: "", time: event.timeMillis))
        }
        let orderID = event.properties["order_id"]?.stringValue
        if event.type == .couponUsed, let orderID {
            // The coupon stage decides (the code's owner, status and expiry are there) and answers
            // the member. Ingestion writes codes canonical; one that is not cannot be a coupon's.
            if let code = event.properties["code"]?.stringValue.flatMap(CouponCode.canonical) {
                var use = CouponRequest(kind: .use, code: code, userID: event.userID, redemptionID: "", timeMillis: event.timeMillis)
                (use.orderID, use.eventID) = (orderID, event.id)
                out.couponRequest(use)
            } else {
                out.couponRejected(code: event.properties["code"] ?? .null, orderID: orderID, eventID: event.id, .unknownCoupon, time: event.timeMillis)
            }
        }
        if event.type == .refund, let orderID {
            Self.refundCheckout(orderID: orderID, amountMinor: event.properties["amount_minor"]?.numberValue?.int64Value ?? 0, eventID: event.id,
                                at: event.timeMillis, state: &state, out: &out)
        }
        if event.type == .refund, let orderID, let order = state.orders[orderID], order.amountMinor > 0 {
            let refunded = min(order.amountMinor, order.refundedMinor + (event.properties["amount_minor"]?.numberValue?.int64Value ?? 0))
            state.orders[orderID]?.refundedMinor = refunded
            if let entry = state.points.reverse(orderID: orderID, share: Double(refunded) / Double(order.amountMinor), key: "\(event.id):reverse",
                                                reason: "refund on order \(orderID)", at: event.timeMillis, allowNegative: policy.allowNegativeBalance) {
                state.level.addGrowth(entry.points, at: event.timeMillis)
                out.entry(entry)
                // What a refund could not take because it was held or spent on something that
                // can still come back is owed from it, and taken back if it does.
                if entry.shortfall > 0 && !policy.allowNegativeBalance { state.owe(entry.shortfall) }
            }
        }
        var caps = state.caps
        let awards = policy.engine.awards(for: event, context: memberContext(state), caps: &caps)
        state.caps = caps
        for award in awards {
            switch award.recipient {
            case .member:
                earn(award.points, key: "\(event.id):\(award.ruleID)", rule: award.ruleID, reason: award.reason, at: event.timeMillis,
                     orderID: event.type == .purchase ? orderID : nil, state: &state, out: &out)
            case .other(let user):
                out.internalMessage(to: user, InternalMessage(kind: .award, key: "\(event.id):\(award.ruleID):\(user)", points: award.points, from: event.userID,
                                                              rule: award.ruleID, reason: award.reason, time: event.timeMillis))
            }
        }
        if event.type == .purchase {
            state.purchases += 1
            if let orderID { state.remember(order: orderID, .init(amountMinor: event.properties["amount_minor"]?.numberValue?.int64Value ?? 0, refundedMinor: 0, atMillis: event.timeMillis)) }
        }
    }

    private func earn(_ points: Int64, key: String, rule: String?, reason: String, at time: Int64, orderID: String?, state: inout MemberState, out: inout Outputs) {
        guard points > 0 else { return }
        let entry = state.points.earn(points, key: key, kind: rule == "adjust" ? .adjust : .earn, ruleID: rule, reason: reason, at: time,
                                      orderID: orderID, expiry: policy.lotExpiry, lockDays: policy.lockDays)
        state.totalEarned += points
        state.level.addGrowth(points, at: time)
        out.entry(entry)
        if let change = state.level.evaluate(at: time, policy: policy.levels) {
            out.memberEvent(kind: "level_changed", id: "\(key):level", time: time, fields: [("from", .string(change.from)), ("to", .string(change.to)), ("reason", .string(change.reason))])
        }
    }

    private func handle(_ command: MemberCommand, state: inout MemberState, out: inout Outputs, at time: Int64) {
        func finish(_ status: String, _ reason: String? = nil, extra: [(String, JSONValue)] = []) {
            let bytes = out.result(requestID: command.requestID, status: status, reason: reason, time: time, extra: [("command", .string(command.name))] + extra)
            state.remember(command.requestID, result: bytes)
            if status == "rejected" { rejectedCommands.increment() }
        }
        switch command {
        case .redeem(let request, _, let points, let reward):
            guard state.known else { return finish("rejected", "unknown_user") }
            guard policy.canSpend(state.status) else { return finish("rejected", "blocked") }
            switch state.points.spend(points, key: "\(request):redeem", reason: "redeemed for \(reward)", at: time) {
            case .success(let entry):
                state.totalRedeemed += points
                out.entry(entry)
                finish("accepted", extra: [("points", .number(JSONNumber(points))), ("balance_after", .number(JSONNumber(entry.balanceAfter)))])
            case .failure(.insufficient(let available)):
                finish("rejected", "insufficient_points", extra: [("available", .number(JSONNumber(available)))])
            }
        case .cancelRedemption(let request, _, let redemption):
            guard state.known else { return finish("rejected", "unknown_user") }
            // nil: coupons are being voided, and the result comes when the coupon stage has answered.
            guard let outcome = cancel(redemption, request: request, state: &state, out: &out, at: time) else { return }
            finish(outcome.status, outcome.reason, extra: outcome.extra)
        case .holdPoints, .capturePoints, .releasePoints:
            guard state.known else { return finish("rejected", "unknown_user") }
            if case .holdPoints = command, !policy.canSpend(state.status) { return finish("rejected", "blocked") }
            let outcome = checkout(command, state: &state, out: &out, at: time)
            finish(outcome.status, outcome.reason, extra: outcome.extra)
        case .redeemReward(let request, _, let reward, let quantity, let addressRef):
            guard state.known else { return finish("rejected", "unknown_user") }
            redeem(reward, quantity: quantity, addressRef: addressRef, request: request, state: &state, out: &out, at: time)
        case .adjust(let request, _, let points, let reason, let operatorID):
            guard state.known else { return finish("rejected", "unknown_user") }
            if points > 0 {
                earn(points, key: "\(request):adjust", rule: "adjust", reason: "\(reason) (by \(operatorID))", at: time, orderID: nil, state: &state, out: &out)
                finish("accepted")
            } else {
                switch state.points.spend(-points, key: "\(request):adjust", kind: .adjust, ruleID: "adjust", reason: "\(reason) (by \(operatorID))", at: time) {
                case .success(let entry): out.entry(entry); finish("accepted")
                case .failure(.insufficient(let available)): finish("rejected", "insufficient_points", extra: [("available", .number(JSONNumber(available)))])
                }
            }
        case .transfer(let request, _, let to, let points):
            guard state.known else { return finish("rejected", "unknown_user") }
            guard policy.canSpend(state.status) else { return finish("rejected", "blocked") }
            switch state.points.spend(points, key: "\(request):transfer-out", kind: .adjust, ruleID: "transfer", reason: "transferred to \(to)", at: time) {
            case .success(let entry):
                out.entry(entry)
                out.internalMessage(to: to, InternalMessage(kind: .transferIn, key: "\(request):transfer-in", points: points, from: out.userID, rule: "transfer",
                                                            reason: "transferred from \(out.userID)", time: time))
                finish("accepted")
            case .failure(.insufficient(let available)):
                finish("rejected", "insufficient_points", extra: [("available", .number(JSONNumber(available)))])
            }
        case .bulkGrant(let request, let campaign, let points, let users):
            for user in Set(users).sorted() {
                out.internalMessage(to: user, InternalMessage(kind: .grant, key: "\(request):grant:\(user)", points: points, from: out.userID, rule: "campaign:\(campaign)",
                                                              reason: "campaign \(campaign)", time: time))
            }
            finish("accepted", extra: [("users", .number(JSONNumber(Set(users).count)))])
        case .join(_, _, let plan, let months):
            guard state.known else { return finish("rejected", "unknown_user") }
            guard months > 0, months <= 120 else { return finish("rejected", "invalid: months must be 1...120") }
            state.paid = .init(plan: plan, startedAtMillis: time, expiresAtMillis: time + Int64(months) * 30 * 86_400_000, cancelled: false)
            out.memberEvent(kind: "paid_membership", id: "\(command.requestID):paid", time: time, fields: [("change", .string("joined")), ("plan", .string(plan))])
            finish("accepted")
        case .renew(_, _, let months):
            guard var paid = state.paid, months > 0, months <= 120 else { return finish("rejected", state.paid == nil ? "not_a_paid_member" : "invalid: months must be 1...120") }
            paid.expiresAtMillis = max(paid.expiresAtMillis, time) + Int64(months) * 30 * 86_400_000
            paid.cancelled = false
            state.paid = paid
            out.memberEvent(kind: "paid_membership", id: "\(command.requestID):paid", time: time, fields: [("change", .string("renewed")), ("plan", .string(paid.plan))])
            finish("accepted")
        case .cancel:
            guard state.paid != nil else { return finish("rejected", "not_a_paid_member") }
            state.paid?.cancelled = true
            out.memberEvent(kind: "paid_membership", id: "\(command.requestID):paid", time: time, fields: [("change", .string("cancelled")), ("plan", .string(state.paid!.plan))])
            finish("accepted")
        case .setStatus(_, _, let status):
            guard policy.statuses[status] != nil else { return finish("rejected", "invalid: unknown status \(status)") }
            state.status = status
            state.known = true
            finish("accepted")
        }
    }

    // MARK: Batch end and time

    /// An account per member touched, handed to the runtime a few hundred at a time (as the
    /// scorer's profiles), so a large batch never holds all its accounts at once.
    public func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws {
        // Reward definitions that cannot be used, dead-lettered once a batch (the catalogue is
        // refreshed as a batch starts) by the stage that checks every redemption.
        outputs.append(contentsOf: catalogue.takeNewlyUnusable(deadLetters: deadLetters, topic: settings.rewardsTopic))
        try store.forEachChanged { _, key, state in
            // Someone who is not a member yet (tags published before their first event) has
            // state but no account.
            guard state.known else { return }
            // The account as of the member's own latest input, never the flush's wall-clock time:
            // a replay then writes the same bytes.
            outputs.append(ProducerRecord(topic: settings.accountsTopic, key: Array(key.utf8), value: Outputs.account(state, userID: key, policy: policy, at: state.lastInputMillis)))
            if outputs.count >= Self.outputPart { try deliver(&outputs) }
        }
    }

    /// Time passing, for one member at `time`: lots expire, lots about to expire are announced,
    /// the level is evaluated, paid membership ends, old orders are forgotten. Applied only to a
    /// tick from the member's input stream (see `punctuate`).
    static func clockTick(_ state: inout MemberState, at time: Int64, policy: MembershipPolicy, out: inout Outputs) {
        expireCheckoutHolds(&state, at: time, policy: policy, out: &out)
        // Redemptions past their cancel window are no longer kept, but for a cancellation started
        // within it and still waiting for the coupon stage.
        state.committedRedemptions.removeAll { $0.committedAtMillis + policy.cancelWindowMillis <= time && $0.cancelRequestID == nil }
        for entry in state.points.expire(at: time) {
            state.totalExpired -= entry.points
            out.entry(entry)
        }
        for lot in state.points.expiringSoon(at: time, withinDays: policy.expiringSoonDays) {
            out.memberEvent(kind: "points_expiring", id: "\(lot.id):expiring", time: time, fields: [("points", .number(JSONNumber(lot.remaining))), ("expires", .string(RFC3339.format(millis: lot.expiresAtMillis!)))])
        }
        if let change = state.level.evaluate(at: time, policy: policy.levels) {
            out.memberEvent(kind: "level_changed", id: "\(out.userID):level:\(time / 86_400_000)", time: time, fields: [("from", .string(change.from)), ("to", .string(change.to)), ("reason", .string(change.reason))])
        }
        if var paid = state.paid, !paid.cancelled, policy.paidExpiringNoticeDays > 0, paid.expiresAtMillis > time,
           paid.expiresAtMillis - Int64(policy.paidExpiringNoticeDays) * 86_400_000 <= time, paid.expiringAnnouncedFor != paid.expiresAtMillis {
            paid.expiringAnnouncedFor = paid.expiresAtMillis
            state.paid = paid
            out.memberEvent(kind: "paid_membership", id: "\(out.userID):paid-expiring:\(paid.expiresAtMillis)", time: time,
                            fields: [("change", .string("expiring")), ("plan", .string(paid.plan)), ("expires", .string(RFC3339.format(millis: paid.expiresAtMillis)))])
        }
        if let paid = state.paid, paid.expiresAtMillis <= time {
            state.paid = nil
            out.memberEvent(kind: "paid_membership", id: "\(out.userID):paid-expired:\(paid.expiresAtMillis)", time: time, fields: [("change", .string("expired")), ("plan", .string(paid.plan))])
        }
        state.forgetOrders(placedBefore: time - Int64(policy.refundWindowDays) * 86_400_000)
    }

    /// Changes nothing itself: for each member whom time would change now, it sends a tick through
    /// the member's own input stream (once per member per evaluation interval, the tick's key says
    /// which), and the tick does the work when the ledger reads it.
    public func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        let time = context.nowMillis
        let interval = max(1, Int64(settings.evaluationInterval.components.seconds) * 1000)
        for partition in store.ownedPartitions {
            var levels: [String: Int] = [:]
            try store.forEach(partition) { key, state in
                levels[state.level.level, default: 0] += 1
                var probe = state
                var out = Outputs(userID: key, topics: topics)
                Self.clockTick(&probe, at: time, policy: policy, out: &out)
                guard probe != state || !out.records.isEmpty else { return }
                var tick = Outputs(userID: key, topics: topics)
                tick.internalMessage(to: key, InternalMessage(kind: .clockTick, key: "tick:\(key):\(time / interval)", points: 0, from: key, rule: nil, reason: "", time: time))
                outputs.append(contentsOf: tick.records)
            }
            levelCensus.record(levels, partition: partition)
        }
    }
}

/// A message between members' partitions.
struct InternalMessage: Equatable {
    enum Kind: String {
        case award, transferIn = "transfer_in", grant, referredBy = "referred_by", clockTick = "expire_tick"
        /// The stock stage's answer to a reservation (`points`: the quantity, `from`: the reward, `reason`: why refused).
        case stockReserved = "stock_reserved", stockRefused = "stock_refused"
        /// The coupon stage's answer to a void (`from`: the code, `reason`: why not voided).
        case couponVoided = "coupon_voided", couponNotVoided = "coupon_not_voided"
    }
    let kind: Kind
    let key: String
    let points: Int64
    let from: String
    let rule: String?
    let reason: String
    let time: Int64
    /// The redemption a stock answer is about.
    var redemptionID: String? = nil
    /// A stock answer repeated for a request the stage had already decided.
    var isRepeat = false
    /// The cancellation a coupon stage's answer is for.
    var requestID: String? = nil

    func encoded() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("kind"); w.string(kind.rawValue)
        w.field("key"); w.string(key)
        w.field("points"); w.int(points)
        w.field("from"); w.string(from)
        w.field("rule"); if let rule { w.string(rule) } else { w.null() }
        w.field("reason"); w.string(reason)
        w.field("time_ms"); w.int(time)
        if let redemptionID { w.field("redemption_id"); w.string(redemptionID) }
        if isRepeat { w.field("repeat"); w.bool(true) }
        if let requestID { w.field("request_id"); w.string(requestID) }
        w.endObject()
        return w.bytes
    }

    /// Reads a message back (in one pass as the stages write them; ``JSONMembers/read(_:into:maxDepth:_:)``).
    static func decode(_ bytes: [UInt8]) -> InternalMessage? {
        JSONMembers.read(bytes, into: Fields()) { f, value, named in f.take(value, named: named) }?.message
    }

    /// The members a message is made of, as they are read.
    private struct Fields {
        var kind: Kind?, key: String?, points: Int64?, from: String?, rule: String?, reason: String?, time: Int64?
        var redemptionID: String?, isRepeat = false, requestID: String?

        /// Takes a member if `named` says which of the message's members it is.
        mutating func take(_ value: JSONValue, named: (StaticString) -> Bool) {
            if named("kind") { kind = value.stringValue.flatMap(Kind.init(rawValue:)) }
            else if named("key") { key = value.stringValue }
            else if named("points") { points = value.numberValue?.int64Value }
            else if named("from") { from = value.stringValue }
            else if named("rule") { rule = value.stringValue }
            else if named("reason") { reason = value.stringValue }
            else if named("time_ms") { time = value.numberValue?.int64Value }
            else if named("redemption_id") { redemptionID = value.stringValue }
            else if named("repeat") { isRepeat = value == .bool(true) }
            else if named("request_id") { requestID = value.stringValue }
        }

        var message: InternalMessage? {
            guard let kind, let key, let points, let from, let time else { return nil }
            var message = InternalMessage(kind: kind, key: key, points: points, from: from, rule: rule, reason: reason ?? "", time: time)
            (message.redemptionID, message.isRepeat, message.requestID) = (redemptionID, isRepeat, requestID)
            switch kind {
            case .stockReserved, .stockRefused, .couponVoided, .couponNotVoided: return redemptionID == nil ? nil : message
            case .award, .transferIn, .grant, .referredBy, .clockTick: return message
            }
        }
    }
}

/// The topics outputs go to, made once per processor: an ``Outputs`` (one per input) then holds
/// one reference rather than a copy of the whole settings, whose every string it would retain
/// and release again.
final class OutputTopics: Sendable {
    let ledger: String
    let internalMessages: String
    let fulfilment: String
    let couponRequests: String
    let stockRequests: String
    let memberEvents: String

    init(_ settings: MembershipSettings) {
        (ledger, internalMessages, fulfilment) = (settings.ledgerTopic, settings.internalTopic, settings.fulfilmentTopic)
        (couponRequests, stockRequests, memberEvents) = (settings.couponRequestsTopic, settings.stockRequestsTopic, settings.memberEventsTopic)
    }
}

/// The records one input causes, in order.
struct Outputs {
    let userID: String
    let topics: OutputTopics
    /// The member's records' key (the user id's bytes), made for the first of them and kept for
    /// the others; an input that writes nothing (most of a clock tick's probes) makes none.
    private var madeUserKey: [UInt8]?
    var records: [ProducerRecord] = []
    var entries = 0
    /// Kind and points of each entry, for the points-flow counters.
    var flows: [(PointsLedgerEntry.Kind, Int64)] = []
    /// The entries written, as the member's state remembers the last of them.
    var ledger: [MemberState.LedgerSummary] = []

    init(userID: String, topics: OutputTopics) {
        self.userID = userID
        self.topics = topics
    }

    private mutating func userKey() -> [UInt8] {
        if let madeUserKey { return madeUserKey }
        let key = Array(userID.utf8)
        madeUserKey = key
        return key
    }

    mutating func entry(_ e: PointsLedgerEntry) {
        entries += 1
        flows.append((e.kind, e.points))
        ledger.append(MemberState.LedgerSummary(e))
        records.append(ProducerRecord(topic: topics.ledger, key: userKey(), value: Self.ledger(e)))
    }

    static func ledger(_ e: PointsLedgerEntry) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("key"); w.string(e.key)
        w.field("user_id"); w.string(e.userID)
        w.field("kind"); w.string(e.kind.rawValue)
        w.field("points"); w.int(e.points)
        w.field("balance_after"); w.int(e.balanceAfter)
        w.field("rule"); if let r = e.ruleID { w.string(r) } else { w.null() }
        w.field("reason"); w.string(e.reason)
        w.field("time"); w.timestamp(millis: e.timeMillis)
        w.field("shortfall"); w.int(e.shortfall)
        // Only entries that hold points or settle a hold carry it (the mall's; docs/CONTRACT.md).
        if e.held != 0 { w.field("held"); w.int(e.held) }
        w.endObject()
        return w.bytes
    }

    mutating func internalMessage(to user: String, _ message: InternalMessage) {
        records.append(ProducerRecord(topic: topics.internalMessages, key: Array(user.utf8), value: message.encoded()))
    }

    /// Goods to send: a record of `orbit.reward-fulfilment` for the shop's order system (key: the redemption id).
    /// `status`: `issue` when redeemed, `cancel` when the redemption was cancelled.
    mutating func fulfilment(redemptionID: String, status: String, rewardID: String, sku: String, quantity: Int64, addressRef: String?, time: Int64) {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("redemption_id"); w.string(redemptionID)
        w.field("status"); w.string(status)
        w.field("user_id"); w.string(userID)
        w.field("reward_id"); w.string(rewardID)
        w.field("sku"); w.string(sku)
        w.field("quantity"); w.int(quantity)
        w.field("address_ref"); if let addressRef { w.string(addressRef) } else { w.null() }
        w.field("time"); w.timestamp(millis: time)
        w.endObject()
        records.append(ProducerRecord(topic: topics.fulfilment, key: Array(redemptionID.utf8), value: w.bytes))
    }

    /// A `coupon_used` event that changed nothing, and why (`coupon_rejected`).
    mutating func couponRejected(code: JSONValue, orderID: String, eventID: String, _ reason: CouponRejection, time: Int64) {
        memberEvent(kind: "coupon_rejected", id: "\(eventID):coupon-rejected", time: time, fields: [
            ("code", code), ("order_id", .string(orderID)), ("event_id", .string(eventID)), ("reason", .string(reason.rawValue)),
        ])
    }

    mutating func couponRequest(_ request: CouponRequest) {
        records.append(ProducerRecord(topic: topics.couponRequests, key: Array(request.code.utf8), value: request.encoded()))
    }

    mutating func stockRequest(_ request: StockRequest) {
        records.append(ProducerRecord(topic: topics.stockRequests, key: Array(request.rewardID.utf8), value: request.encoded()))
    }

    mutating func raw(_ bytes: [UInt8]) {
        records.append(ProducerRecord(topic: topics.memberEvents, key: userKey(), value: bytes))
    }

    @discardableResult
    mutating func result(requestID: String, status: String, reason: String?, time: Int64, extra: [(String, JSONValue)] = []) -> [UInt8] {
        result(requestID: requestID, status: status, reason: reason, time: time) { w in
            for (key, value) in extra { w.key(key); w.value(value) }
        }
    }

    /// A command's result, its fields after `status` (and `reason`) written by `body`.
    @discardableResult
    mutating func result(requestID: String, status: String, reason: String?, time: Int64, _ body: (inout JSONWriter) -> Void) -> [UInt8] {
        memberEvent(kind: "command_result", id: requestID + ":result", time: time) { w in
            w.field("request_id"); w.string(requestID)
            w.field("status"); w.string(status)
            if let reason { w.field("reason"); w.string(reason) }
            body(&w)
        }
    }

    @discardableResult
    mutating func memberEvent(kind: String, id: String, time: Int64, fields: [(String, JSONValue)]) -> [UInt8] {
        memberEvent(kind: kind, id: id, time: time) { w in
            for (key, value) in fields { w.key(key); w.value(value) }
        }
    }

    /// A member event, its fields after the ones every event has written by `body` (on the
    /// ledger's hot path: no array of fields built to be written).
    @discardableResult
    mutating func memberEvent(kind: String, id: String, time: Int64, _ body: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("id"); w.string(id)
        w.field("user_id"); w.string(userID)
        w.field("kind"); w.string(kind)
        w.field("time"); w.timestamp(millis: time)
        body(&w)
        w.endObject()
        records.append(ProducerRecord(topic: topics.memberEvents, key: userKey(), value: w.bytes))
        return w.bytes
    }

    static func account(_ state: MemberState, userID: String, policy: MembershipPolicy, at time: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("user_id"); w.string(userID)
        w.field("balance"); w.int(state.points.balance)
        w.field("available"); w.int(max(0, state.points.available(at: time)))
        w.field("debt"); w.int(state.points.debt)
        w.field("held"); w.int(state.points.held)
        // A summary of the lots, not the lots themselves: an account record stays small however
        // often the member earns.
        // (Loops rather than filters: an account is written per member per batch.)
        let lots = state.points.lots
        var locked: Int64 = 0, nextExpiry: Int64?, expiringNext: Int64 = 0
        for lot in lots {
            if lot.availableAtMillis > time { locked += lot.remaining }
            guard let expiry = lot.expiresAtMillis, expiry > time else { continue }
            if nextExpiry == nil || expiry < nextExpiry! { (nextExpiry, expiringNext) = (expiry, 0) }
            if expiry == nextExpiry { expiringNext += lot.remaining }
        }
        w.field("lots"); w.beginObject()
        w.field("count"); w.int(lots.count)
        w.field("locked_points"); w.int(locked)
        w.field("next_expiry"); if let nextExpiry { w.timestamp(millis: nextExpiry) } else { w.null() }
        w.field("expiring_next"); w.int(expiringNext)
        w.endObject()
        w.field("level"); w.string(state.level.level)
        w.field("growth_value"); w.int(state.level.growthValue(at: time))
        w.field("benefits"); w.value(.object(JSONObject((policy.levels.level(named: state.level.level)?.benefits ?? [:]).sorted { $0.key < $1.key }.map { (key: $0.key, value: .string($0.value)) })))
        w.field("paid_membership")
        if let paid = state.paid {
            w.beginObject()
            w.field("plan"); w.string(paid.plan)
            w.field("since"); w.timestamp(millis: paid.startedAtMillis)
            w.field("expires"); w.timestamp(millis: paid.expiresAtMillis)
            w.field("cancelled"); w.bool(paid.cancelled)
            w.field("benefits"); w.value(.object(JSONObject(policy.paidBenefits.sorted { $0.key < $1.key }.map { (key: $0.key, value: .string($0.value)) })))
            w.endObject()
        } else { w.null() }
        w.field("status"); w.string(state.status)
        // Benefits redeemed in the points mall, with the time each ends (only those still running).
        w.field("reward_benefits"); w.beginObject()
        for (name, until) in state.rewardBenefits.sorted(by: { $0.key < $1.key }) where until > time { w.key(name); w.timestamp(millis: until) }
        w.endObject()
        w.field("totals"); w.beginObject()
        w.field("earned"); w.int(state.totalEarned)
        w.field("redeemed"); w.int(state.totalRedeemed)
        w.field("expired"); w.int(state.totalExpired)
        w.endObject()
        w.field("config_version"); w.string(policy.configVersion)
        w.endObject()
        return w.bytes
    }
}

/// The four kinds of input merged into a member's one ordered stream.
public enum MemberInput: String, InputKind {
    case event, segmentChange = "segment_change", command, `internal`
    /// The member's tags (`orbit.user-tags`, compacted), for rewards limited to tags.
    case tags
    /// A data-protection request (`orbit.privacy-requests`).
    case privacyRequest = "privacy_request"
}

/// The membership service as the runtime runs it: the router (stateless: five topics in, one
/// merged stream out, placed by key) and the ledger (stateful, on that stream), sharing one
/// dead-letter topic.
public enum MembershipService {
    public static func topology(_ settings: MembershipSettings, runtime: RuntimeSettings) -> ServiceTopology {
        ServiceTopology(deadLettersTopic: settings.deadLettersTopic, stages: [
            .router(groupID: settings.groupID + "-router",
                    sources: [settings.eventsTopic: MemberInput.event, settings.segmentChangesTopic: .segmentChange, settings.commandsTopic: .command,
                              settings.internalTopic: .internal, settings.tagsTopic: .tags, runtime.privacy.requestsTopic: .privacyRequest],
                    output: settings.inputsTopic,
                    // Every input, the merged stream and the state changelog are co-partitioned by user id.
                    coPartitioned: [settings.eventsTopic, settings.segmentChangesTopic, settings.commandsTopic, settings.internalTopic, settings.tagsTopic,
                                    settings.inputsTopic]),
            StageDeclaration(
                groupID: settings.groupID, inputs: [settings.inputsTopic],
                outputs: [settings.ledgerTopic, settings.accountsTopic, settings.memberEventsTopic, settings.internalTopic, settings.stockRequestsTopic,
                          settings.fulfilmentTopic, settings.couponRequestsTopic],
                coPartitioned: [settings.inputsTopic, settings.stateChangelogTopic],
                stores: [StoreDeclaration(changelogTopic: settings.stateChangelogTopic, partitionedLike: settings.inputsTopic, keyedByUser: true)],
                punctuation: settings.evaluationInterval, erasesFrom: settings.inputsTopic, clock: settings.processor.clock,
                globalTables: [settings.rewardsTopic]
            ) { context in
                MembershipProcessor(settings: settings, deadLetters: context.deadLetters, stores: context.stores,
                                    catalogue: context.globalTable(settings.rewardsTopic), secret: runtime.privacy.pseudonymizer, partitionCount: context.partitionCount)
            },
            // The points mall's stock, decided per reward id, and its coupons, per code; answers go back on each member's stream.
            .keyed(name: "-stock", groupID: settings.stockGroupID, input: settings.stockRequestsTopic, changelog: settings.stockChangelogTopic,
                   outputs: [settings.internalTopic, settings.memberEventsTopic], clock: settings.processor.clock, globalTables: [settings.rewardsTopic]) { context in
                RewardStockProcessor(settings: settings, deadLetters: context.deadLetters, stores: context.stores, catalogue: context.globalTable(settings.rewardsTopic))
            },
            .keyed(name: "-coupons", groupID: settings.couponsGroupID, input: settings.couponRequestsTopic, changelog: settings.couponsChangelogTopic,
                   outputs: [settings.couponsTopic, settings.memberEventsTopic, settings.internalTopic], punctuation: settings.evaluationInterval,
                   clock: settings.processor.clock) { context in CouponProcessor(settings: settings, deadLetters: context.deadLetters, stores: context.stores) },
        ])
    }
}

extension MemberState: StateCodable {
    public init(stateBytes: [UInt8]) throws { self = try MemberState.decode(stateBytes) }
    public func stateBytes() -> [UInt8] { encoded() }
}
