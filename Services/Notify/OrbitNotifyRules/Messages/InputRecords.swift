import Mustache
import OrbitContract

/// Reads the facts the service keeps from `orbit.user-profiles` and `orbit.member-accounts`
/// (Orbit's own records; see docs/CONTRACT.md).
package enum ProfileInput {
    package static func facts(_ o: JSONObject) -> Recipient.ProfileFacts {
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

    /// A buyer's expected next purchase from the profile: the last purchase's day (`evaluated_on`
    /// less `rfm.recency_days`) and, when it is new, the evaluation day plus the expected wait
    /// (30 days over `churn.expected_purchases_30d`, the BG/NBD expectation of the deployed
    /// model; at most ten years). The same last purchase keeps its date, so the date a journey
    /// waits for does not recede while the user stays away. Nil for non-buyers.
    package static func repurchase(_ o: JSONObject, previous: Recipient.Repurchase?) -> Recipient.Repurchase? {
        guard let today = o["evaluated_on"]?.stringValue.flatMap(CalendarDate.day).map(Int.init),
              let recency = o["rfm"]?.objectValue?["recency_days"]?.numberValue?.int64Value, recency >= 0, recency < 36_500 else { return nil }
        let last = today - Int(recency)
        if let previous, previous.lastPurchaseDay == last { return previous }
        guard let expected = o["churn"]?.objectValue?["expected_purchases_30d"]?.numberValue?.doubleValue, expected.isFinite, expected > 0 else { return nil }
        return Recipient.Repurchase(lastPurchaseDay: last, dueDay: today + Int(min(3650, (30 / expected).rounded(.up))))
    }

    package static func account(_ o: JSONObject) -> Recipient.AccountFacts {
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
package enum ContactsInput {
    package static let maxFieldLength = 320

    package static func contacts(_ bytes: [UInt8]) -> Result<Recipient.Contacts, InvalidInput> {
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
            c.wecomID = try text(o, "wecom_id")
            if let id = c.wecomID, !(1...64).contains(id.utf8.count) || id.unicodeScalars.contains(where: { !$0.isASCII || $0.properties.isWhitespace }) {
                throw InvalidInput("wecom_id must be 1 to 64 ASCII characters without spaces")
            }
        } catch let error as InvalidInput {
            return .failure(error)
        } catch {
            return .failure(InvalidInput("\(error)"))
        }
        return .success(c)
    }

    package static func preferences(_ bytes: [UInt8]) -> Result<Recipient.Preferences, InvalidInput> {
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

    package static func text(_ o: JSONObject, _ key: String) throws -> String? {
        guard let value = o[key], value != .null else { return nil }
        guard let s = value.stringValue else { throw InvalidInput("\(key) must be text") }
        guard s.count <= maxFieldLength, !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw InvalidInput("\(key) is too long or holds control characters")
        }
        let trimmed = s.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// One `@`, a non-empty local part, a dotted domain, no spaces or angle brackets.
    package static func isEmailAddress(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".") else { return false }
        return !s.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0 == "," || $0 == ";" })
    }
}

package struct InvalidInput: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// What a template reads: `user`, `profile`, `account`, `event`, `trigger`, `campaign`,
/// `variant`, `digest` and `notification`.
///
/// Looked up by name as a template asks (a `MustacheParent`), not built as dictionaries of every
/// fact for each message: a template prints two or three of them, and building the rest was a
/// tenth of the service's time per notification.
package struct TemplateVariables: MustacheParent {
    var userID: String
    var name: String
    var locale: String
    var profile: Recipient.ProfileFacts
    var account: Recipient.AccountFacts
    var event: JSONObject
    var trigger: String
    var campaign: String?
    var variant: String?
    var digest: (count: Int, sum: Int64)?
    package var notification: (id: String, channel: String)?

    package init(userID: String, recipient r: Recipient, event: JSONObject, trigger: String, campaign: String?, variant: String?,
         digest: (count: Int, sum: Int64)?, policy: NotifyPolicy) {
        self.userID = userID
        self.name = r.contacts.name ?? userID
        self.locale = policy.templates.locale(for: r.contacts.locale)
        self.profile = r.profile
        self.account = r.account
        self.event = event
        self.trigger = trigger
        self.campaign = campaign
        self.variant = variant
        self.digest = digest
    }

    package func child(named name: String) -> Any? {
        switch name {
        case "user": Fields { field in
            switch field {
            case "id": userID
            case "name": self.name
            case "locale": locale
            default: nil
            }
        }
        case "profile": Fields { [profile] field in
            switch field {
            case "segment": profile.segment ?? ""
            case "lifecycle": profile.lifecycle ?? ""
            case "tier": profile.tier ?? ""
            case "super_user": profile.superUser
            case "monetary_minor": profile.monetaryMinor
            case "rfm": profile.rfmScore ?? ""
            default: nil
            }
        }
        case "account": Fields { [account] field in
            switch field {
            case "level": account.level ?? ""
            case "balance": account.balance
            case "available": account.available
            case "expiring_next": account.expiringNext
            case "next_expiry": account.nextExpiry ?? ""
            default: nil
            }
        }
        case "event": JSONFields(object: event)
        case "trigger": trigger
        case "campaign": campaign
        case "variant": variant
        case "digest": digest.map { digest in
            Fields { field in
                switch field {
                case "count": digest.count
                case "sum": digest.sum
                default: nil
                }
            }
        }
        case "notification": notification.map { notification in
            Fields { field in
                switch field {
                case "id": notification.id
                case "channel": notification.channel
                default: nil
                }
            }
        }
        default: nil
        }
    }

    /// A group of named values, each computed when a template names it.
    struct Fields: MustacheParent {
        let lookup: (String) -> Any?
        init(_ lookup: @escaping (String) -> Any?) { self.lookup = lookup }
        func child(named name: String) -> Any? { lookup(name) }
    }

    /// A JSON object as the plain values Mustache reads: numbers as their text, booleans as
    /// booleans (so sections work), null as an empty text, objects as further groups.
    struct JSONFields: MustacheParent {
        let object: JSONObject
        func child(named name: String) -> Any? { object[name].map(Self.plain) }

        static func plain(_ value: JSONValue) -> Any {
            switch value {
            case .null: ""
            case .bool(let b): b
            case .number(let n): n.lexeme
            case .string(let s): s
            case .array(let a): a.map(plain)
            case .object(let o): JSONFields(object: o)
            }
        }
    }
}
