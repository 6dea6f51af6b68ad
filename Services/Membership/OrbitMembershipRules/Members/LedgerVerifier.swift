import OrbitContract

/// Checks the ledger's invariants over what was published (`orbit verify ledger`):
/// - an idempotency key appears again only as an identical copy (at-least-once), never with other content;
/// - each user's entries chain: balance_after = previous balance_after + points, starting at 0;
/// - no balance below zero unless negative balances are allowed;
/// - signs match kinds (earn > 0; redeem, expire < 0; reverse <= 0; forfeit leaves 0);
/// - each account's published balance equals its ledger's final balance.
public struct LedgerVerifier {
    public struct Report: Sendable {
        public var users = 0
        public var entries = 0
        public var repeatedCopies = 0
        public var violations: [String] = []
        public var balances: [String: Int64] = [:]
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
            switch kind {
            case "forfeit" where after != 0:
                report.violations.append("\(user): forfeit entry \(key) leaves balance \(after), not 0")
            case "earn" where points <= 0, "redeem" where points >= 0, "expire" where points >= 0, "reverse" where points > 0:
                report.violations.append("\(user): \(kind) entry \(key) has points \(points)")
            default: break
            }
            report.balances[user] = after
        }
        report.users = report.balances.count
        var published: [String: Int64] = [:]
        for (key, value) in accounts {
            guard let key else { continue }
            // The latest value per key counts, as compaction keeps it; a tombstone (an erased member) removes the account.
            guard let value else { published[String(decoding: key, as: UTF8.self)] = nil; continue }
            guard let account = try? JSONParser.parse(value).objectValue, let balance = account["balance"]?.numberValue?.int64Value else { continue }
            published[String(decoding: key, as: UTF8.self)] = balance
        }
        // An erased member has no account (a tombstone), and a ledger closed to 0 by `forfeit`.
        for (user, balance) in report.balances where published[user] ?? 0 != balance {
            report.violations.append("\(user): account shows \(published[user].map(String.init) ?? "nothing") but the ledger sums to \(balance)")
        }
        return report
    }
}
