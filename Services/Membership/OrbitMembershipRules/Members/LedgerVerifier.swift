import OrbitContract

/// Checks the ledger's invariants over what was published (`orbit verify ledger`):
/// - an idempotency key appears again only as an identical copy (at-least-once), never with other content;
/// - each user's entries chain: balance_after = previous balance_after + points, starting at 0;
/// - no balance below zero unless negative balances are allowed;
/// - signs match kinds (earn > 0; redeem, expire < 0; reverse <= 0; forfeit leaves 0);
/// - each account's published balance equals its ledger's final balance;
/// - holds (the points mall): a `hold` entry changes no balance and holds points (`held` > 0); it
///   is settled at most once, by a `redeem` or `release` entry of the same redemption that gives
///   back exactly what it held; each account's `held` equals its open holds. Holds still open
///   are counted (``Report/openHolds``): a redemption waiting for its stock answer.
public struct LedgerVerifier {
    public struct Report: Sendable {
        public var users = 0
        public var entries = 0
        public var repeatedCopies = 0
        public var violations: [String] = []
        public var balances: [String: Int64] = [:]
        /// Holds placed, and settled by a commit or a release.
        public var holds = 0
        public var committed = 0
        public var released = 0
        /// Open holds per user: redemption id -> points.
        public var openHolds: [String: [String: Int64]] = [:]
    }

    public static func verify(ledger: [(key: [UInt8]?, value: [UInt8]?)], accounts: [(key: [UInt8]?, value: [UInt8]?)], allowNegative: Bool) -> Report {
        var report = Report()
        var seen: [String: [UInt8]] = [:]
        for (_, value) in ledger {
            guard let value, let entry = try? JSONParser.parse(value).objectValue,
                  let key = entry["key"]?.stringValue, let user = entry["user_id"]?.stringValue, let kind = entry["kind"]?.stringValue,
                  let points = entry["points"]?.numberValue?.int64Value, let after = entry["balance_after"]?.numberValue?.int64Value else {
                report.violations.append("an undecodable ledger record")
                continue
            }
            let scoped = "\(user)/\(key)"
            if let previous = seen[scoped] {
                if previous == value { report.repeatedCopies += 1 } else { report.violations.append("\(user): key \(key) applied twice with different content") }
                continue
            }
            seen[scoped] = value
            report.entries += 1
            let before = report.balances[user] ?? 0
            if before + points != after { report.violations.append("\(user): entry \(key) says balance \(after) but \(before) + \(points) = \(before + points)") }
            if after < 0 && !allowNegative { report.violations.append("\(user): balance \(after) below zero after \(key)") }
            let held = entry["held"]?.numberValue?.int64Value ?? 0
            if kind == "hold" || held != 0 {
                settleHold(kind: kind, key: key, user: user, points: points, held: held, report: &report)
            }
            switch kind {
            case "forfeit" where after != 0:
                report.violations.append("\(user): forfeit entry \(key) leaves balance \(after), not 0")
            case "earn" where points <= 0, "redeem" where points >= 0, "expire" where points >= 0, "reverse" where points > 0, "refund" where points <= 0:
                report.violations.append("\(user): \(kind) entry \(key) has points \(points)")
            default: break
            }
            report.balances[user] = after
        }
        report.users = report.balances.count
        var published: [String: Int64] = [:]
        var publishedHeld: [String: Int64] = [:]
        for (key, value) in accounts {
            guard let key else { continue }
            let user = String(decoding: key, as: UTF8.self)
            // The latest value per key counts, as compaction keeps it; a tombstone (an erased member) removes the account.
            guard let value else { published[user] = nil; publishedHeld[user] = nil; continue }
            guard let account = try? JSONParser.parse(value).objectValue, let balance = account["balance"]?.numberValue?.int64Value else { continue }
            published[user] = balance
            publishedHeld[user] = account["held"]?.numberValue?.int64Value
        }
        // An erased member has no account (a tombstone), and a ledger closed to 0 by `forfeit`.
        for (user, balance) in report.balances where published[user] ?? 0 != balance {
            report.violations.append("\(user): account shows \(published[user].map(String.init) ?? "nothing") but the ledger sums to \(balance)")
        }
        for (user, held) in publishedHeld where (report.openHolds[user]?.values.reduce(0, +) ?? 0) != held {
            report.violations.append("\(user): account holds \(held) points but the ledger's open holds sum to \(report.openHolds[user]?.values.reduce(0, +) ?? 0)")
        }
        return report
    }

    /// One entry of a hold's life: opened by `hold`, closed once by `redeem` or `release`.
    private static func settleHold(kind: String, key: String, user: String, points: Int64, held: Int64, report: inout Report) {
        let suffix = kind == "hold" ? ":hold" : kind == "redeem" ? ":redeem" : kind == "release" ? ":release" : ""
        guard !suffix.isEmpty, key.hasSuffix(suffix) else {
            report.violations.append("\(user): \(kind) entry \(key) holds \(held) points (only hold, redeem and release entries do)")
            return
        }
        let id = String(key.dropLast(suffix.count))
        switch kind {
        case "hold":
            if points != 0 || held <= 0 { report.violations.append("\(user): hold entry \(key) has points \(points) and held \(held) (0 and > 0)") }
            if report.openHolds[user]?[id] != nil { report.violations.append("\(user): hold \(id) opened twice") }
            report.openHolds[user, default: [:]][id] = held
            report.holds += 1
        default:
            guard let open = report.openHolds[user]?[id] else {
                report.violations.append("\(user): \(kind) entry \(key) settles no open hold")
                return
            }
            if held != -open { report.violations.append("\(user): \(kind) entry \(key) settles \(-held) of a hold of \(open)") }
            if kind == "redeem" && points != held { report.violations.append("\(user): redeem entry \(key) spends \(-points) of a hold of \(open)") }
            if kind == "release" && points != 0 { report.violations.append("\(user): release entry \(key) has points \(points), not 0") }
            report.openHolds[user]?[id] = nil
            if report.openHolds[user]?.isEmpty == true { report.openHolds[user] = nil }
            if kind == "redeem" { report.committed += 1 } else { report.released += 1 }
        }
    }
}
