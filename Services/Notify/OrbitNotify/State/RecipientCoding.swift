import OrbitContract
import OrbitRuntime

/// The changelog bytes of a ``Recipient``: compact JSON with a version, so the format can be read
/// by people and tools and can grow by adding fields. Bytes that do not decode throw, and the store
/// stops the service (``UnreadableState``): a recipient is never reset to empty.
extension Recipient: StateCodable {
    static let stateVersion = 1

    public struct Unreadable: Error, CustomStringConvertible {
        public let description: String
    }

    public func stateBytes() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 512)
        func opt(_ name: StaticString, _ s: String?) { w.field(name); if let s { w.string(s) } else { w.null() } }
        func optInt(_ name: StaticString, _ v: Int64?) { w.field(name); if let v { w.int(v) } else { w.null() } }
        func flags(_ name: StaticString, _ map: [String: Bool]) { w.field(name); w.beginObject(); for (k, v) in map.sorted(by: { $0.key < $1.key }) { w.key(k); w.bool(v) }; w.endObject() }
        w.beginObject()
        w.field("v"); w.int(Self.stateVersion)
        w.field("profile"); w.beginObject()
        opt("segment", profile.segment); opt("lifecycle", profile.lifecycle); opt("tier", profile.tier)
        w.field("super_user"); w.bool(profile.superUser)
        w.field("monetary_minor"); w.int(profile.monetaryMinor)
        opt("rfm", profile.rfmScore); optInt("last_event", profile.lastEventMillis)
        w.endObject()
        w.field("account"); w.beginObject()
        opt("level", account.level)
        w.field("balance"); w.int(account.balance)
        w.field("available"); w.int(account.available)
        w.field("expiring_next"); w.int(account.expiringNext)
        opt("next_expiry", account.nextExpiry)
        w.endObject()
        w.field("contacts"); w.beginObject()
        opt("name", contacts.name); opt("email", contacts.email); opt("phone", contacts.phone); opt("push_token", contacts.pushToken)
        opt("locale", contacts.locale); opt("time_zone", contacts.timeZone)
        w.endObject()
        w.field("preferences"); w.beginObject()
        flags("channels", preferences.channels); flags("categories", preferences.categories)
        opt("quiet_hours", preferences.quietHours?.description)
        w.field("withdrawn"); w.beginArray(); for p in preferences.consents.withdrawn.map(\.rawValue).sorted() { w.string(p) }; w.endArray()
        w.endObject()
        w.field("tags"); w.beginArray(); for t in tags { w.string(t) }; w.endArray()
        w.field("purchases"); w.int(purchases)
        w.field("sent"); w.beginArray(); for s in sent { w.beginArray(); w.string(s.category); w.int(s.atMillis); w.endArray() }; w.endArray()
        w.field("fired"); w.beginArray(); for f in fired { w.beginArray(); w.string(f.trigger); w.int(f.atMillis); w.endArray() }; w.endArray()
        w.field("deferred"); w.beginArray()
        for d in deferred { w.beginArray(); w.string(d.notificationID); w.int(d.dueMillis); w.string(Base64.encode(d.record)); w.endArray() }
        w.endArray()
        w.field("digests"); w.beginArray()
        for d in digests {
            w.beginArray(); w.string(d.trigger); w.int(d.windowEndMillis); w.int(d.count); w.int(d.sum); w.string(d.firstID); w.string(Base64.encode(d.lastRecord)); w.endArray()
        }
        w.endArray()
        w.field("enrolments"); w.beginArray()
        for e in enrolments {
            w.beginArray(); w.string(e.experiment); w.string(e.variant); w.int(e.atMillis); w.string(e.conversionEvent); w.int(e.untilMillis)
            if let c = e.convertedAtMillis { w.int(c) } else { w.null() }
            w.endArray()
        }
        w.endArray()
        w.field("campaigns"); w.beginArray(); for c in campaigns { w.string(c) }; w.endArray()
        w.field("inbox"); w.beginArray(); for id in inbox { w.string(id) }; w.endArray()
        w.field("offsets"); w.beginArray(); for o in replay.appliedOffsets { w.int(o) }; w.endArray()
        w.field("recent"); w.beginArray(); for r in replay.recentIDs { w.string(String(r, radix: 16)) }; w.endArray()
        w.endObject()
        return w.bytes
    }

    public init(stateBytes bytes: [UInt8]) throws {
        guard case .object(let o) = try JSONParser.parse(bytes) else { throw Unreadable(description: "not an object") }
        guard o["v"]?.numberValue?.int64Value == Int64(Self.stateVersion) else { throw Unreadable(description: "unknown state version \(o["v"].map { "\($0)" } ?? "none")") }
        self.init()
        func s(_ obj: JSONObject?, _ k: String) -> String? { obj?[k]?.stringValue }
        func i(_ obj: JSONObject?, _ k: String) -> Int64? { obj?[k]?.numberValue?.int64Value }
        func flags(_ obj: JSONObject?) -> [String: Bool] {
            var map: [String: Bool] = [:]
            for m in obj?.members ?? [] { if case .bool(let b) = m.value { map[m.key] = b } }
            return map
        }
        func rows(_ k: String) throws -> [[JSONValue]] {
            try (o[k]?.arrayValue ?? []).map { row in
                guard let a = row.arrayValue else { throw Unreadable(description: "\(k) holds a non-array") }
                return a
            }
        }
        func text(_ v: JSONValue, _ what: String) throws -> String {
            guard let t = v.stringValue else { throw Unreadable(description: "\(what) is not text") }
            return t
        }
        func int(_ v: JSONValue, _ what: String) throws -> Int64 {
            guard let n = v.numberValue?.int64Value else { throw Unreadable(description: "\(what) is not an integer") }
            return n
        }
        func blob(_ v: JSONValue, _ what: String) throws -> [UInt8] {
            guard let t = v.stringValue, let b = Base64.decode(t) else { throw Unreadable(description: "\(what) is not base64") }
            return b
        }
        let p = o["profile"]?.objectValue
        profile.segment = s(p, "segment"); profile.lifecycle = s(p, "lifecycle"); profile.tier = s(p, "tier")
        if case .bool(let b)? = p?["super_user"] { profile.superUser = b }
        profile.monetaryMinor = i(p, "monetary_minor") ?? 0
        profile.rfmScore = s(p, "rfm"); profile.lastEventMillis = i(p, "last_event")
        let a = o["account"]?.objectValue
        account.level = s(a, "level"); account.balance = i(a, "balance") ?? 0; account.available = i(a, "available") ?? 0
        account.expiringNext = i(a, "expiring_next") ?? 0; account.nextExpiry = s(a, "next_expiry")
        let c = o["contacts"]?.objectValue
        contacts.name = s(c, "name"); contacts.email = s(c, "email"); contacts.phone = s(c, "phone"); contacts.pushToken = s(c, "push_token")
        contacts.locale = s(c, "locale"); contacts.timeZone = s(c, "time_zone")
        let pr = o["preferences"]?.objectValue
        preferences.channels = flags(pr?["channels"]?.objectValue); preferences.categories = flags(pr?["categories"]?.objectValue)
        preferences.quietHours = s(pr, "quiet_hours").flatMap(QuietHours.init)
        preferences.consents.withdrawn = Set((pr?["withdrawn"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(Consents.Purpose.init(rawValue:)) })
        tags = (o["tags"]?.arrayValue ?? []).compactMap(\.stringValue)
        purchases = Int(i(o, "purchases") ?? 0)
        sent = try rows("sent").map { r in guard r.count == 2 else { throw Unreadable(description: "sent row") }; return SentMark(category: try text(r[0], "sent"), atMillis: try int(r[1], "sent")) }
        fired = try rows("fired").map { r in guard r.count == 2 else { throw Unreadable(description: "fired row") }; return FiredMark(trigger: try text(r[0], "fired"), atMillis: try int(r[1], "fired")) }
        deferred = try rows("deferred").map { r in
            guard r.count == 3 else { throw Unreadable(description: "deferred row") }
            return Deferred(notificationID: try text(r[0], "deferred"), dueMillis: try int(r[1], "deferred"), record: try blob(r[2], "deferred"))
        }
        digests = try rows("digests").map { r in
            guard r.count == 6 else { throw Unreadable(description: "digest row") }
            return DigestBuffer(trigger: try text(r[0], "digest"), windowEndMillis: try int(r[1], "digest"), count: Int(try int(r[2], "digest")),
                                sum: try int(r[3], "digest"), firstID: try text(r[4], "digest"), lastRecord: try blob(r[5], "digest"))
        }
        enrolments = try rows("enrolments").map { r in
            guard r.count == 6 else { throw Unreadable(description: "enrolment row") }
            return Enrolment(experiment: try text(r[0], "enrolment"), variant: try text(r[1], "enrolment"), atMillis: try int(r[2], "enrolment"),
                             conversionEvent: try text(r[3], "enrolment"), untilMillis: try int(r[4], "enrolment"), convertedAtMillis: r[5].numberValue?.int64Value)
        }
        campaigns = (o["campaigns"]?.arrayValue ?? []).compactMap(\.stringValue)
        inbox = (o["inbox"]?.arrayValue ?? []).compactMap(\.stringValue)  // added later: absent in older values
        let offsets = (o["offsets"]?.arrayValue ?? []).compactMap { $0.numberValue?.int64Value }
        if offsets.count == replay.appliedOffsets.count { replay.appliedOffsets = offsets }
        replay.recentIDs = (o["recent"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap { UInt64($0, radix: 16) } }
    }
}

extension CampaignProgress: StateCodable {
    public func stateBytes() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("campaign"); campaign.writeBody(&w)
        w.field("cancelled"); w.bool(cancelled)
        w.field("ran"); w.bool(ran)
        writeCounters(&w)
        w.endObject()
        return w.bytes
    }

    public init(stateBytes bytes: [UInt8]) throws {
        guard case .object(let o) = try JSONParser.parse(bytes), case .object(let body)? = o["campaign"] else { throw Recipient.Unreadable(description: "not a campaign state") }
        self.init(campaign: try Campaign.decodeBody(body))
        if case .bool(let b)? = o["cancelled"] { cancelled = b }
        if case .bool(let b)? = o["ran"] { ran = b }
        matched = Int(o["matched"]?.numberValue?.int64Value ?? 0)
        sent = Int(o["sent"]?.numberValue?.int64Value ?? 0)
        converted = Int(o["converted"]?.numberValue?.int64Value ?? 0)
        for m in o["suppressed"]?.objectValue?.members ?? [] { suppressed[m.key] = Int(m.value.numberValue?.int64Value ?? 0) }
    }
}
