import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

extension RewardStock: StateCodable {
    public init(stateBytes: [UInt8]) throws { self = try RewardStock.decode(stateBytes) }
    public func stateBytes() -> [UInt8] { encoded() }
}

/// The stock stage: reads the ledger's reservations and returns (`orbit-members.stock-requests`,
/// keyed by reward id), decides each against the reward's stock in the catalogue, and answers on
/// the member's own stream (`orbit-members.internal`, keyed by user id), where the ledger commits
/// or releases the points it holds.
///
/// Every decision about one reward is made here, in one order, so no number of members
/// redeeming at once, on however many ledger partitions, reserves more than the stock. A replay
/// after a crash repeats decisions the stored state already holds only as answers marked
/// `repeat` (see ``RewardStock``).
public final class RewardStockProcessor: RecordProcessor {
    let settings: MembershipSettings
    let topics: OutputTopics
    public let store: KeyedStore<RewardStock>
    let deadLetters: DeadLetters
    let catalogue: CatalogueReader

    private let reserved = Counter(label: "orbit_members_stock_reserved_total")
    private let refused = Counter(label: "orbit_members_stock_refused_total")
    private let returned = Counter(label: "orbit_members_stock_returned_total")
    private let lowStock = Counter(label: "orbit_members_stock_low_notices_total")
    private let replays = Counter(label: "orbit_members_replays_skipped_total")

    /// - Parameter catalogue: the stage's global table of `orbit.rewards`.
    public init(settings: MembershipSettings, deadLetters: DeadLetters, stores: StoreMaker = .memory, catalogue: GlobalTableView? = nil) {
        self.settings = settings
        self.topics = OutputTopics(settings)
        self.store = stores.store(settings.stockChangelogTopic, cachePolicy: .retained)
        self.deadLetters = deadLetters
        self.catalogue = CatalogueReader(view: catalogue, levels: settings.policy.levels.levels.map(\.name))
    }

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }), let value = record.value,
              let request = StockRequest.decode(value), request.rewardID == key else {
            outputs.append(deadLetters.record(for: record, .undecodableRecord, "not a stock request keyed by its reward id"))
            return
        }
        let reward = catalogue.current[key]
        let stock = reward?.stock
        try store.update(record.partition, key, initial: { RewardStock(rewardID: key) }) { state in
            guard record.offset > state.appliedOffset else { replays.increment(); return false }
            state.appliedOffset = record.offset
            switch request.kind {
            case .reserve:
                let outcome = state.reserve(request.quantity, for: request.redemptionID, stock: stock)
                outputs.append(answer(outcome, to: request, from: record))
            case .giveBack:
                if state.giveBack(for: request.redemptionID, quantity: request.quantity) == .returned { returned.increment() }
            }
            if let remaining = state.checkLow(under: stock, percent: settings.policy.stockLowPercent), let reward {
                outputs.append(contentsOf: lowStockNotice(reward, remaining: remaining, at: request.timeMillis, offset: record.offset))
            }
            return true
        }
    }

    /// `reward_stock_low` on `orbit.member-events`, to the operators' recipient
    /// (`mall.stock_alert_recipient`): orbit-notify sends it to their contacts.
    private func lowStockNotice(_ reward: Reward, remaining: Int64, at time: Int64, offset: Int64) -> [ProducerRecord] {
        lowStock.increment()
        var out = Outputs(userID: settings.policy.stockAlertRecipient, topics: topics)
        var stock: Int64 = 0
        if case .limited(let n) = reward.stock { stock = n }
        out.memberEvent(kind: "reward_stock_low", id: "\(reward.id):stock-low:\(offset)", time: time, fields: [
            ("reward_id", .string(reward.id)), ("reward_name_en", .string(reward.names["en"] ?? reward.id)),
            ("reward_name_zh_cn", .string(reward.names["zh-CN"] ?? reward.id)), ("remaining", .number(JSONNumber(remaining))), ("stock", .number(JSONNumber(stock))),
        ])
        return out.records
    }

    /// The decision, on the member's stream. Its key names the request record it answers, so the
    /// ledger applies each answer once and tells a new decision from a replayed one.
    private func answer(_ outcome: RewardStock.Outcome, to request: StockRequest, from record: ConsumerRecord) -> ProducerRecord {
        let kind: InternalMessage.Kind
        var reason = "", isRepeat = false
        switch outcome {
        case .reserved(let again):
            kind = .stockReserved
            isRepeat = again
            if !again { reserved.increment() }
        case .refused(let rejection, let again):
            kind = .stockRefused
            (reason, isRepeat) = (rejection.rawValue, again)
            if !again { refused.increment() }
        case .returned, .ignored:
            kind = .stockRefused  // not reached: only reservations are answered
        }
        let message = InternalMessage(kind: kind, key: "\(request.redemptionID):stock:\(record.partition)-\(record.offset)", points: request.quantity,
                                      from: request.rewardID, rule: nil, reason: reason, time: request.timeMillis,
                                      redemptionID: request.redemptionID, isRepeat: isRepeat)
        return ProducerRecord(topic: settings.internalTopic, key: Array(request.userID.utf8), value: message.encoded())
    }
}
