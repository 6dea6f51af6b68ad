import OrbitContract

/// A reward as a record of `orbit.rewards` (JSON, schema version 1; docs/CONTRACT.md "Points mall").
///
/// Reading is strict: a member this version does not know is an error, not ignored, because a
/// definition's unknown member may be a restriction (a newer eligibility rule, say) that ignoring
/// would quietly lift. Such a record is dead-lettered and its reward is not offered.
extension Reward {
    public static let schemaVersion = 1

    /// Why a catalogue record cannot be used: the field and what is wrong.
    public typealias Unusable = UnusableRecord

    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 512)
        w.beginObject()
        w.key("schema_version"); w.int(Self.schemaVersion)
        w.key("id"); w.string(id)
        w.key("kind"); w.string(kind.rawValue)
        w.key("names"); w.beginObject()
        for (locale, name) in names.sorted(by: { $0.key < $1.key }) { w.key(locale); w.string(name) }
        w.endObject()
        w.key("price_points"); w.int(pricePoints)
        w.key("prices"); w.beginObject()
        w.key("levels"); w.beginObject(); for (k, v) in levelPrices.sorted(by: { $0.key < $1.key }) { w.key(k); w.int(v) }; w.endObject()
        w.key("plans"); w.beginObject(); for (k, v) in planPrices.sorted(by: { $0.key < $1.key }) { w.key(k); w.int(v) }; w.endObject()
        w.endObject()
        w.key("stock")
        switch stock {
        case .limited(let n): w.int(n)
        case .unlimited: w.string("unlimited")
        }
        w.key("limits"); w.beginObject()
        for period in LimitPeriod.allCases { if let n = limits[period] { w.key(period.rawValue); w.int(n) } }
        w.endObject()
        w.key("eligibility"); w.beginObject()
        w.key("min_level"); if let level = eligibility.minimumLevel { w.string(level) } else { w.null() }
        for (key, list) in [("paid_plans", eligibility.paidPlans), ("segments", eligibility.segments), ("tags", eligibility.tags)] {
            w.key(key); w.beginArray(); for item in list { w.string(item) }; w.endArray()
        }
        w.endObject()
        w.key("valid_from"); if let from = validFromMillis { w.timestamp(millis: from) } else { w.null() }
        w.key("valid_until"); if let until = validUntilMillis { w.timestamp(millis: until) } else { w.null() }
        w.key("issues"); w.beginObject()
        switch issue {
        case .coupon(let value, let currency, let days):
            w.key("coupon"); w.beginObject()
            w.key("value_minor"); w.int(value); w.key("currency"); w.string(currency); w.key("validity_days"); w.int(days)
            w.endObject()
        case .goods(let sku):
            w.key("goods"); w.beginObject(); w.key("sku"); w.string(sku); w.endObject()
        case .benefit(let name, let days):
            w.key("benefit"); w.beginObject(); w.key("name"); w.string(name); w.key("duration_days"); w.int(days); w.endObject()
        }
        w.endObject()
        w.key("retired"); w.bool(retired)
        w.endObject()
        return w.bytes
    }

    /// Reads a catalogue record and checks it as an applied file is checked (``problems(levels:)``).
    public static func decode(_ bytes: [UInt8], levels: [String]) throws(Unusable) -> Reward {
        guard bytes.count <= 64 * 1024 else { throw Unusable("(record)", "larger than 64 KiB") }
        guard let o = try? JSONParser.parse(bytes).objectValue else { throw Unusable("(record)", "not a JSON object") }
        try only(o, ["schema_version", "id", "kind", "names", "price_points", "prices", "stock", "limits", "eligibility", "valid_from", "valid_until", "issues", "retired"], at: "")
        guard o["schema_version"]?.numberValue?.int64Value == Int64(schemaVersion) else { throw Unusable("schema_version", "must be \(schemaVersion)") }
        let id = try text(o, "id", at: "")
        guard let kind = Kind(rawValue: try text(o, "kind", at: "")) else { throw Unusable("kind", "must be coupon, goods or benefit") }
        let names = try textMap(o["names"], at: "names")
        let prices = try object(o["prices"], at: "prices", optional: true) ?? JSONObject()
        try only(prices, ["levels", "plans"], at: "prices.")
        let stock: Stock
        switch o["stock"] {
        case .string("unlimited")?: stock = .unlimited
        case .number(let n)? where n.int64Value != nil: stock = .limited(n.int64Value!)
        default: throw Unusable("stock", "must be a whole number or \"unlimited\"")
        }
        var limits: [LimitPeriod: Int64] = [:]
        for (key, value) in try numberMap(o["limits"], at: "limits") {
            guard let period = LimitPeriod(rawValue: key) else { throw Unusable("limits.\(key)", "periods are day, week, month and lifetime") }
            limits[period] = value
        }
        let e = try object(o["eligibility"], at: "eligibility", optional: true) ?? JSONObject()
        try only(e, ["min_level", "paid_plans", "segments", "tags"], at: "eligibility.")
        let eligibility = Eligibility(minimumLevel: try optionalText(e, "min_level", at: "eligibility."), paidPlans: try list(e, "paid_plans"),
                                      segments: try list(e, "segments"), tags: try list(e, "tags"))
        let issues = try object(o["issues"], at: "issues", optional: false)!
        guard issues.members.count == 1, let (issueKind, issueValue) = issues.members.first.map({ ($0.key, $0.value) }) else {
            throw Unusable("issues", "names exactly one of coupon, goods, benefit")
        }
        guard issueKind == kind.rawValue else { throw Unusable("issues", "a \(kind.rawValue) reward issues a \(kind.rawValue), not \(issueKind)") }
        let details = try object(issueValue, at: "issues.\(issueKind)", optional: false)!
        let issue: Issue
        switch kind {
        case .coupon:
            try only(details, ["value_minor", "currency", "validity_days"], at: "issues.coupon.")
            issue = .coupon(valueMinor: try number(details, "value_minor", at: "issues.coupon."), currency: try text(details, "currency", at: "issues.coupon."),
                            validityDays: Int(clamping: try number(details, "validity_days", at: "issues.coupon.")))
        case .goods:
            try only(details, ["sku"], at: "issues.goods.")
            issue = .goods(sku: try text(details, "sku", at: "issues.goods."))
        case .benefit:
            try only(details, ["name", "duration_days"], at: "issues.benefit.")
            issue = .benefit(name: try text(details, "name", at: "issues.benefit."), durationDays: Int(clamping: try number(details, "duration_days", at: "issues.benefit.")))
        }
        func time(_ key: String) throws(Unusable) -> Int64? {
            guard let text = try optionalText(o, key, at: "") else { return nil }
            do { return try RFC3339.parse(text) } catch { throw Unusable(key, "must be an RFC 3339 date-time") }
        }
        guard case .bool(let retired)? = o["retired"] ?? .bool(false) else { throw Unusable("retired", "must be true or false") }
        let reward = Reward(id: id, names: names, pricePoints: try number(o, "price_points", at: ""),
                            levelPrices: try numberMap(prices["levels"], at: "prices.levels"), planPrices: try numberMap(prices["plans"], at: "prices.plans"),
                            stock: stock, limits: limits, eligibility: eligibility, validFromMillis: try time("valid_from"), validUntilMillis: try time("valid_until"),
                            issue: issue, retired: retired)
        if let problem = reward.problems(levels: levels).first { throw Unusable(problem.field, problem.message) }
        return reward
    }

    // MARK: Reading helpers (each names the field it reads)

    private static func only(_ o: JSONObject, _ allowed: Set<String>, at prefix: String) throws(Unusable) {
        for member in o.members where !allowed.contains(member.key) { throw Unusable(prefix + member.key, "is not a member of a reward (schema version \(schemaVersion))") }
    }

    private static func text(_ o: JSONObject, _ key: String, at prefix: String) throws(Unusable) -> String {
        guard let value = o[key]?.stringValue else { throw Unusable(prefix + key, "must be a string") }
        return value
    }

    private static func optionalText(_ o: JSONObject, _ key: String, at prefix: String) throws(Unusable) -> String? {
        switch o[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw Unusable(prefix + key, "must be a string or null")
        }
    }

    private static func number(_ o: JSONObject, _ key: String, at prefix: String) throws(Unusable) -> Int64 {
        guard let value = o[key]?.numberValue?.int64Value else { throw Unusable(prefix + key, "must be a whole number") }
        return value
    }

    private static func object(_ value: JSONValue?, at field: String, optional: Bool) throws(Unusable) -> JSONObject? {
        switch value {
        case nil, .null?:
            if optional { return nil }
            throw Unusable(field, "is required")
        case .object(let o)?: return o
        default: throw Unusable(field, "must be an object")
        }
    }

    private static func textMap(_ value: JSONValue?, at field: String) throws(Unusable) -> [String: String] {
        var result: [String: String] = [:]
        for member in try object(value, at: field, optional: true)?.members ?? [] {
            guard let s = member.value.stringValue else { throw Unusable("\(field).\(member.key)", "must be a string") }
            result[member.key] = s
        }
        return result
    }

    private static func numberMap(_ value: JSONValue?, at field: String) throws(Unusable) -> [String: Int64] {
        var result: [String: Int64] = [:]
        for member in try object(value, at: field, optional: true)?.members ?? [] {
            guard let n = member.value.numberValue?.int64Value else { throw Unusable("\(field).\(member.key)", "must be a whole number") }
            result[member.key] = n
        }
        return result
    }

    private static func list(_ o: JSONObject, _ key: String) throws(Unusable) -> [String] {
        switch o[key] {
        case nil, .null?: return []
        case .array(let items)?:
            let strings = items.compactMap(\.stringValue)
            guard strings.count == items.count else { throw Unusable("eligibility.\(key)", "must be a list of strings") }
            return strings
        default: throw Unusable("eligibility.\(key)", "must be a list of strings")
        }
    }
}
