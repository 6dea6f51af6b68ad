import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

extension Coupon: StateCodable {
    public init(stateBytes: [UInt8]) throws { self = try Coupon.decode(stateBytes) }
    public func stateBytes() -> [UInt8] { encoded() }
}

/// The coupon stage: every coupon's life, decided per code. Reads the ledger's requests
/// (`orbit-members.coupon-requests`, keyed by code) and the runtime's clock ticks on the same
/// topic; publishes each change on `orbit.coupons`, tells the member on `orbit.member-events`
/// (issued, used, rejected, expiring, expired, voided) and answers voids on the member's own
/// stream, where the ledger finishes a cancellation.
///
/// One code's uses, voids and expiry are decided here in one order, so a coupon is used at most
/// once and never both used and voided, however the shop and the member race.
public final class CouponProcessor: RecordProcessor {
    let settings: MembershipSettings
    let topics: OutputTopics
    /// Decoded per batch only (a settled coupon is rarely read again); the clock finds what it
    /// needs through `due`.
    public let store: KeyedStore<Coupon>
    let deadLetters: DeadLetters
    /// Per owned partition, the coupons the clock must look at, earliest first (built from the
    /// store when the partition is assigned, fed by every issue).
    private var due: [Int32: CouponDueQueue] = [:]

    private let issued = Counter(label: "orbit_members_coupons_issued_total")
    private let used = Counter(label: "orbit_members_coupons_used_total")
    private let rejected = Counter(label: "orbit_members_coupon_uses_rejected_total")
    private let expired = Counter(label: "orbit_members_coupons_expired_total")
    private let voided = Counter(label: "orbit_members_coupons_voided_total")
    private let collisions = Counter(label: "orbit_members_coupon_code_collisions_total")
    private let replays = Counter(label: "orbit_members_replays_skipped_total")

    public init(settings: MembershipSettings, deadLetters: DeadLetters, stores: StoreMaker = .memory) {
        self.settings = settings
        self.topics = OutputTopics(settings)
        self.store = stores.store(settings.couponsChangelogTopic, cachePolicy: .perBatch)
        self.deadLetters = deadLetters
    }

    public func partitionsAssigned(_ partitions: [TopicPartition], restorer: ChangelogReader) throws {
        for partition in partitions where partition.topic == settings.couponRequestsTopic { try queue(partition.partition) }
    }

    public func partitionsRevoked(_ partitions: [TopicPartition]) {
        for partition in partitions where partition.topic == settings.couponRequestsTopic { due[partition.partition] = nil }
    }

    /// The partition's queue, made from its coupons the first time it is needed.
    private func queue(_ partition: Int32) throws {
        guard due[partition] == nil else { return }
        var queue = CouponDueQueue()
        let notice = settings.policy.couponExpiringNoticeMillis
        try store.forEach(partition) { code, coupon in
            if let time = coupon.nextCheck(noticeMillis: notice) { queue.insert(code, at: time) }
        }
        due[partition] = queue
    }

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }), let value = record.value,
              let request = CouponRequest.decode(value), request.code == key else {
            outputs.append(deadLetters.record(for: record, .undecodableRecord, "not a coupon request keyed by its code"))
            return
        }
        var out = Outputs(userID: request.userID, topics: topics)
        guard var coupon = try store.get(record.partition, key) else {
            switch request.kind {
            case .issue:
                var coupon = request.coupon
                coupon.appliedOffset = record.offset
                store.put(record.partition, key, coupon)
                try queue(record.partition)
                if let time = coupon.nextCheck(noticeMillis: settings.policy.couponExpiringNoticeMillis) { due[record.partition]?.insert(key, at: time) }
                publish(coupon, &outputs)
                issued.increment()
                out.memberEvent(kind: "coupon_issued", id: key + ":issued", time: request.timeMillis) { w in write(coupon, to: &w) }
            case .use:
                reject(request, .unknownCoupon, &out)
            case .void:
                answer(request, voided: false, reason: CouponRejection.unknownCoupon.rawValue, &out)
            case .forget:
                break
            }
            return outputs.append(contentsOf: out.records)
        }
        guard record.offset > coupon.appliedOffset else { replays.increment(); return }
        coupon.appliedOffset = record.offset
        switch request.kind {
        case .issue:
            // The same redemption's request again (a ledger replay) changes nothing; another
            // redemption's code equal to this one (80 bits: about one in 10^12 after a billion
            // coupons) is never issued twice: an operator is told, by dead letter and metric.
            if coupon.redemptionID != request.redemptionID || coupon.userID != request.userID {
                collisions.increment()
                outputs.append(deadLetters.record(for: record, .invalidValue, field: "code",
                                                  "coupon code \(key) is already another redemption's: redemption \(request.redemptionID) of \(request.userID) got no coupon"))
            }
        case .use:
            switch coupon.use(by: request.userID, order: request.orderID, at: request.timeMillis, arrival: record.timestampMillis ?? context.nowMillis) {
            case .used:
                used.increment()
                publish(coupon, &outputs)
                out.memberEvent(kind: "coupon_used", id: key + ":used", time: request.timeMillis) { w in write(coupon, to: &w, order: request.orderID) }
            case .repeated:
                out.memberEvent(kind: "coupon_used", id: key + ":used", time: coupon.settledAtMillis ?? request.timeMillis) { w in
                    write(coupon, to: &w, order: request.orderID)
                }
            case .rejected(let reason):
                reject(request, reason, &out)
            }
        case .void:
            switch coupon.void(for: request.redemptionID, user: request.userID, at: request.timeMillis) {
            case .voided:
                voided.increment()
                publish(coupon, &outputs)
                out.memberEvent(kind: "coupon_voided", id: key + ":voided", time: request.timeMillis) { w in write(coupon, to: &w) }
                answer(request, voided: true, reason: "", &out)
            case .alreadyVoided:
                answer(request, voided: true, reason: "", &out)
            case .refused(let reason):
                answer(request, voided: false, reason: reason.rawValue, &out)
            }
        case .forget:
            guard coupon.userID == request.userID else { break }
            coupon.forgetOwner(at: request.timeMillis)
            publish(coupon, &outputs)
        }
        store.put(record.partition, key, coupon)
        outputs.append(contentsOf: out.records)
    }

    /// Expires the partition's coupons whose time has come, and tells owners of those about to.
    /// Time arrives as a tick among the requests, so a replay does the same at the same place.
    public func tick(partition: Int32, at time: Int64, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        let notice = settings.policy.couponExpiringNoticeMillis
        try queue(partition)
        for key in due[partition]?.popDue(at: time) ?? [] {
            guard var coupon = try store.get(partition, key), let due = coupon.due(at: time, noticeMillis: notice) else { continue }
            coupon.apply(due, at: time)
            store.put(partition, key, coupon)
            if let next = coupon.nextCheck(noticeMillis: notice) { self.due[partition]?.insert(key, at: next) }
            var out = Outputs(userID: coupon.userID, topics: topics)
            switch due {
            case .expire:
                expired.increment()
                publish(coupon, &outputs)
                out.memberEvent(kind: "coupon_expired", id: key + ":expired", time: time) { w in write(coupon, to: &w) }
            case .notice:
                out.memberEvent(kind: "coupon_expiring", id: key + ":expiring", time: time) { w in write(coupon, to: &w) }
            }
            outputs.append(contentsOf: out.records)
        }
    }

    /// The coupon's latest state on `orbit.coupons`.
    private func publish(_ coupon: Coupon, _ outputs: inout [ProducerRecord]) {
        outputs.append(ProducerRecord(topic: settings.couponsTopic, key: Array(coupon.code.utf8), value: coupon.record()))
    }

    /// A use that changes nothing, said on the member events topic to the event's user.
    private func reject(_ request: CouponRequest, _ reason: CouponRejection, _ out: inout Outputs) {
        rejected.increment()
        out.couponRejected(code: .string(request.code), orderID: request.orderID, eventID: request.eventID, reason, time: request.timeMillis)
    }

    /// The answer to a void, on the member's own stream. Its key names the coupon and the
    /// cancellation, so the ledger applies it once, and an answer to an earlier cancellation of
    /// the same redemption is told from this one's.
    private func answer(_ request: CouponRequest, voided: Bool, reason: String, _ out: inout Outputs) {
        var message = InternalMessage(kind: voided ? .couponVoided : .couponNotVoided, key: "\(request.redemptionID):void:\(request.code):\(request.eventID)",
                                      points: 0, from: request.code, rule: nil, reason: reason, time: request.timeMillis, redemptionID: request.redemptionID)
        message.requestID = request.eventID
        out.internalMessage(to: request.userID, message)
    }

    /// What every coupon member event says about the coupon (`value`: for people, `5.00`), and
    /// the order it was used on.
    func write(_ coupon: Coupon, to w: inout JSONWriter, order: String? = nil) {
        let digits = settings.policy.engine.currencyDigits[coupon.currency] ?? 2
        w.field("code"); w.string(coupon.code)
        w.field("code_display"); w.string(CouponCode.grouped(coupon.code))
        w.field("reward_id"); w.string(coupon.rewardID)
        w.field("redemption_id"); w.string(coupon.redemptionID)
        w.field("value_minor"); w.int(coupon.valueMinor)
        w.field("value"); w.string(MinorUnits.format(coupon.valueMinor, digits: digits))
        w.field("currency"); w.string(coupon.currency)
        w.field("expires"); w.timestamp(millis: coupon.expiresAtMillis)
        if let order { w.field("order_id"); w.string(order) }
    }
}
