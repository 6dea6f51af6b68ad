import Foundation
import OrbitContract
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
