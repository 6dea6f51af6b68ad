import Foundation
import OrbitContract
import OrbitMembershipRules
import OrbitScoringRules

extension ReportData {
    /// The latest profile of each user from `orbit.user-profiles` values (later values win).
    public mutating func addProfiles(_ values: [[UInt8]]) {
        var latest: [String: Profile] = [:]
        for bytes in values {
            guard let o = try? JSONParser.parse(bytes).objectValue, let user = o["user_id"]?.stringValue else { continue }
            let rfm = o["rfm"]?.objectValue
            let lifecycle = o["lifecycle"]?.objectValue
            let circle = o["referral_circle"]?.objectValue
            if let c = o["currency"]?.stringValue { currency = c }
            latest[user] = Profile(
                userID: user, r: rfm?["r"]?.int ?? 0, f: rfm?["f"]?.int ?? 0, segment: o["segment"]?.stringValue ?? "none",
                stage: lifecycle?["stage"]?.stringValue ?? "unknown", tier: o["tier"]?.stringValue ?? "B", superUser: o["super_user"]?.bool ?? false,
                clvMinor: o["churn"]?.objectValue?["clv_minor"]?.double,
                referredBy: circle?["referred_by"]?.stringValue, referrals: circle?["referrals"]?.int ?? 0,
                convertedReferrals: circle?["converted"]?.int ?? 0)
        }
        profiles = latest.keys.sorted().map { latest[$0]! }
    }

    /// Lifecycle moves from `orbit.segment-changes` values.
    public mutating func addSegmentChanges(_ values: [[UInt8]]) {
        for bytes in values {
            guard let o = try? JSONParser.parse(bytes).objectValue, o["dimension"]?.stringValue == "lifecycle",
                  let to = o["to"]?.stringValue else { continue }
            lifecycleFlows[o["from"]?.stringValue ?? "(first seen)", default: [:]][to, default: 0] += 1
        }
    }

    /// Points earned, redeemed and expired per day from `orbit.points-ledger` values.
    public mutating func addLedger(_ values: [[UInt8]]) {
        var days: [String: PointsDay] = [:]
        for bytes in values {
            guard let o = try? JSONParser.parse(bytes).objectValue, let kind = o["kind"]?.stringValue, let points = o["points"]?.int,
                  let time = o["time"]?.stringValue else { continue }
            let day = String(time.prefix(10))
            var entry = days[day] ?? PointsDay(day: day)
            switch kind {
            case "earn": entry.earned += Int64(points)
            case "redeem": entry.redeemed += Int64(-points)
            case "expire": entry.expired += Int64(-points)
            default: break
            }
            days[day] = entry
        }
        pointsByDay = days.keys.sorted().map { days[$0]! }
    }

    /// Members per level from `orbit.member-accounts` values (latest per user).
    public mutating func addAccounts(_ values: [[UInt8]], levelOrder: [String]) {
        var latest: [String: String] = [:]
        for bytes in values {
            guard let o = try? JSONParser.parse(bytes).objectValue, let user = o["user_id"]?.stringValue else { continue }
            latest[user] = o["level"]?.stringValue ?? "unknown"
        }
        levels = [:]
        for level in latest.values { levels[level, default: 0] += 1 }
        self.levelOrder = levelOrder + levels.keys.filter { !levelOrder.contains($0) }.sorted()
    }

    /// The points mall from `orbit.member-events` (results of `redeem_reward`, `reward_redeemed`,
    /// `redemption_cancelled`), the catalogue (`orbit.rewards`, latest per reward), the stock
    /// stage's changelog (latest per reward) and the accounts (latest per user).
    public mutating func addMall(memberEvents: [[UInt8]], catalogue: [String: [UInt8]], stock: [String: [UInt8]], accounts: [[UInt8]],
                                 levels: [String], pointsPerUnit: Int64) {
        var results: [String: String] = [:]
        var redeemed = Set<String>()
        var cancelled = Set<String>()
        for bytes in memberEvents {
            guard let o = try? JSONParser.parse(bytes).objectValue else { continue }
            switch o["kind"]?.stringValue {
            case "command_result" where o["command"]?.stringValue == "redeem_reward":
                if let id = o["request_id"]?.stringValue, results[id] == nil {
                    results[id] = o["status"]?.stringValue == "accepted" ? "accepted" : o["reason"]?.stringValue ?? "rejected"
                }
            case "reward_redeemed":
                guard let id = o["redemption_id"]?.stringValue, redeemed.insert(id).inserted, let reward = o["reward_id"]?.stringValue,
                      let time = o["time"]?.stringValue else { continue }
                mall.redeemedByDay[String(time.prefix(10)), default: [:]][reward, default: 0] += o["quantity"]?.numberValue?.int64Value ?? 0
            case "redemption_cancelled":
                if let id = o["redemption_id"]?.stringValue { cancelled.insert(id) }
            default: continue
            }
        }
        mall.results = [:]
        for result in results.values { mall.results[result, default: 0] += 1 }
        mall.cancelled = cancelled.count
        let rewards = RewardCatalogue(records: catalogue, levels: levels)
        for reward in rewards.rewards.values {
            let issued = stock[reward.id].flatMap { try? RewardStock.decode($0).issued } ?? 0
            switch reward.stock {
            case .limited(let total): mall.stock[reward.id] = (issued, total)
            case .unlimited: mall.stock[reward.id] = (mall.redeemedByDay.values.reduce(0) { $0 + ($1[reward.id] ?? 0) }, nil)
            }
            mall.rewardNames[reward.id] = reward.names["en"] ?? reward.id
        }
        var balances: [String: (Int64, Int64)] = [:]
        for bytes in accounts {
            guard let o = try? JSONParser.parse(bytes).objectValue, let user = o["user_id"]?.stringValue else { continue }
            balances[user] = (o["balance"]?.numberValue?.int64Value ?? 0, o["held"]?.numberValue?.int64Value ?? 0)
        }
        mall.outstandingPoints = balances.values.reduce(0) { $0 + $1.0 }
        mall.heldPoints = balances.values.reduce(0) { $0 + $1.1 }
        mall.pointsPerUnit = pointsPerUnit
    }

    /// Operators' segments from `orbit.segment-census` (in the order written) and the live
    /// definitions (for their names). A day's size is the sum over partitions of each partition's
    /// last census up to that day's end; now is each partition's last census.
    public mutating func addSegmentCensus(_ values: [[UInt8]], definitions: [String: [UInt8]]) {
        var latest: [Int64: [String: Int]] = [:]
        var days: [String: [Int64: [String: Int]]] = [:]
        for bytes in values {
            guard let o = try? JSONParser.parse(bytes).objectValue, let partition = o["partition"]?.numberValue?.int64Value,
                  let time = o["time"]?.stringValue, case .object(let custom)? = o["custom"] else { continue }
            let sizes = Dictionary(custom.members.compactMap { m in m.value.numberValue?.int64Value.map { (m.key, Int($0)) } }) { _, last in last }
            latest[partition] = sizes
            days[String(time.prefix(10)), default: [:]][partition] = sizes
        }
        customSegments.now = latest.values.reduce(into: [:]) { sum, sizes in for (id, n) in sizes { sum[id, default: 0] += n } }
        var carried: [Int64: [String: Int]] = [:]
        for day in days.keys.sorted() {
            for (partition, sizes) in days[day]! { carried[partition] = sizes }
            customSegments.byDay[day] = carried.values.reduce(into: [:]) { sum, sizes in for (id, n) in sizes { sum[id, default: 0] += n } }
        }
        for (id, bytes) in definitions {
            if let name = try? JSONParser.parse(bytes).objectValue?["name"]?.stringValue { customSegments.names[id] = name }
        }
    }

    /// Coupons by latest status, from the latest record of each code on `orbit.coupons`.
    public mutating func addCoupons(latest: [String: [UInt8]]) {
        mall.coupons = [:]
        for value in latest.values {
            guard let status = try? JSONParser.parse(value).objectValue?["status"]?.stringValue else { continue }
            mall.coupons[status, default: 0] += 1
        }
    }

    /// The purchase times of each user from `.valid` events, for the model's calibration.
    public static func purchaseDays(_ values: [[UInt8]]) -> [[Double]] {
        var days: [String: [Double]] = [:]
        for bytes in values {
            guard let event = try? UserEvent.decode(bytes), event.type == .purchase else { continue }
            days[event.userID, default: []].append(Double(event.timeMillis) / 86_400_000)
        }
        return Array(days.values)
    }
}

private extension JSONValue {
    var int: Int? { numberValue?.int64Value.map { Int($0) } ?? numberValue?.doubleValue.map { Int($0) } }
    var double: Double? { numberValue?.doubleValue }
    var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
}
