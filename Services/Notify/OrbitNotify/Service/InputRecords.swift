import OrbitContract

/// Reads the facts the service keeps from `orbit.user-profiles` and `orbit.member-accounts`
/// (Orbit's own records; see docs/CONTRACT.md).
enum ProfileInput {
    static func facts(_ o: JSONObject) -> Recipient.ProfileFacts {
        var f = Recipient.ProfileFacts()
        f.segment = o["segment"]?.stringValue
        f.lifecycle = o["lifecycle"]?.objectValue?["stage"]?.stringValue
        f.tier = o["tier"]?.stringValue
        if case .bool(let b)? = o["super_user"] { f.superUser = b }
        f.monetaryMinor = o["rfm"]?.objectValue?["monetary_minor"]?.numberValue?.int64Value ?? 0
        f.rfmScore = o["rfm"]?.objectValue?["score"]?.stringValue
        f.lastEventMillis = o["last_event_time"]?.stringValue.flatMap { try? RFC3339.parse($0) }
        return f
    }

    static func account(_ o: JSONObject) -> Recipient.AccountFacts {
        var a = Recipient.AccountFacts()
        a.level = o["level"]?.stringValue
        a.balance = o["balance"]?.numberValue?.int64Value ?? 0
        a.available = o["available"]?.numberValue?.int64Value ?? 0
        a.expiringNext = o["lots"]?.objectValue?["expiring_next"]?.numberValue?.int64Value ?? 0
        a.nextExpiry = o["lots"]?.objectValue?["next_expiry"]?.stringValue
        return a
    }
}

/// Reads `orbit.user-contacts` and `orbit.user-preferences`, published by other systems, so every
/// field is checked: a record that cannot be used goes to the dead letters with the reason.
enum ContactsInput {
    static let maxFieldLength = 320

    static func contacts(_ bytes: [UInt8]) -> Result<Recipient.Contacts, InvalidInput> {
        guard case .object(let o)? = try? JSONParser.parse(bytes) else { return .failure(InvalidInput("a contacts record is a JSON object")) }
        var c = Recipient.Contacts()
        do {
            c.name = try text(o, "name")
            c.email = try text(o, "email")
            if let email = c.email, !isEmailAddress(email) { throw InvalidInput("email \(email.prefix(64)) is not an address") }
            c.phone = try text(o, "phone")
            if let phone = c.phone, !(phone.first == "+" && phone.dropFirst().allSatisfy(\.isNumber) && (8...16).contains(phone.count)) {
                throw InvalidInput("phone must be E.164 (+ and 7 to 15 digits)")
            }
            c.pushToken = try text(o, "push_token")
            c.locale = try text(o, "locale")
            c.timeZone = try text(o, "time_zone")
        } catch let error as InvalidInput {
            return .failure(error)
        } catch {
            return .failure(InvalidInput("\(error)"))
        }
        return .success(c)
    }

    static func preferences(_ bytes: [UInt8]) -> Result<Recipient.Preferences, InvalidInput> {
        guard case .object(let o)? = try? JSONParser.parse(bytes) else { return .failure(InvalidInput("a preferences record is a JSON object")) }
        var p = Recipient.Preferences()
        for (field, target) in [("channels", \Recipient.Preferences.channels), ("categories", \Recipient.Preferences.categories)] {
            guard let value = o[field] else { continue }
            guard case .object(let flags) = value else { return .failure(InvalidInput("\(field) maps names to true (opted in) or false (opted out)")) }
            for member in flags.members {
                guard case .bool(let b) = member.value else { return .failure(InvalidInput("\(field).\(member.key) must be true or false")) }
                p[keyPath: target][member.key] = b
            }
        }
        do { p.consents = try Consents.of(preferences: o) } catch { return .failure(InvalidInput(error.description)) }
        if let quiet = o["quiet_hours"], quiet != .null {
            guard let text = quiet.stringValue, let hours = QuietHours(text) else { return .failure(InvalidInput("quiet_hours must look like 22:00-08:00")) }
            p.quietHours = hours
        }
        return .success(p)
    }

    static func text(_ o: JSONObject, _ key: String) throws -> String? {
        guard let value = o[key], value != .null else { return nil }
        guard let s = value.stringValue else { throw InvalidInput("\(key) must be text") }
        guard s.count <= maxFieldLength, !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw InvalidInput("\(key) is too long or holds control characters")
        }
        let trimmed = s.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// One `@`, a non-empty local part, a dotted domain, no spaces or angle brackets.
    static func isEmailAddress(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".") else { return false }
        return !s.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0 == "," || $0 == ";" })
    }
}

struct InvalidInput: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The variables a template sees: `user`, `profile`, `account`, `event` (the triggering record),
/// `digest`, `trigger`, `campaign`, `variant` and `notification`.
enum Variables {
    static func make(userID: String, recipient r: Recipient, event: JSONObject, trigger: String, campaign: String?, variant: String?,
                     digest: (count: Int, sum: Int64)?, policy: NotifyPolicy) -> [String: Any] {
        var v: [String: Any] = [
            "user": ["id": userID, "name": r.contacts.name ?? userID, "locale": policy.templates.locale(for: r.contacts.locale)],
            "profile": ["segment": r.profile.segment ?? "", "lifecycle": r.profile.lifecycle ?? "", "tier": r.profile.tier ?? "",
                        "super_user": r.profile.superUser, "monetary_minor": r.profile.monetaryMinor, "rfm": r.profile.rfmScore ?? ""],
            "account": ["level": r.account.level ?? "", "balance": r.account.balance, "available": r.account.available,
                        "expiring_next": r.account.expiringNext, "next_expiry": r.account.nextExpiry ?? ""],
            "event": any(.object(event)),
            "trigger": trigger,
        ]
        if let campaign { v["campaign"] = campaign }
        if let variant { v["variant"] = variant }
        if let digest { v["digest"] = ["count": digest.count, "sum": digest.sum] }
        return v
    }

    /// JSON as the plain values Mustache reads: numbers as their text, booleans as booleans (so
    /// sections work), objects as dictionaries.
    static func any(_ value: JSONValue) -> Any {
        switch value {
        case .null: return ""
        case .bool(let b): return b
        case .number(let n): return n.lexeme
        case .string(let s): return s
        case .array(let a): return a.map(any)
        case .object(let o):
            var d: [String: Any] = [:]
            for m in o.members { d[m.key] = any(m.value) }
            return d
        }
    }
}
