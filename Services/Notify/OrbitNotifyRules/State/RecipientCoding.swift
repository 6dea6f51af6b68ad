import OrbitContract
import OrbitCore

/// The changelog bytes of a ``Recipient``.
///
/// Version 2 (written since 2026-12-02) is binary (``CompactWriter``): the state is written for
/// every recipient an input touches, and its JSON encoding with base64 records was about a tenth
/// of the notify stage's CPU. Version 1 was compact JSON (`{"v":1,...}`); a changelog written by
/// an older orbit-notify still restores, because a JSON value starts with `{` and a binary one
/// with its version number. Fields are only ever appended within a version. Bytes that do not
/// decode throw, and the store stops the service (``UnreadableState``): a recipient is never
/// reset to empty.
extension Recipient: StateCodable {
    static let stateVersion = 2
    static let jsonStateVersion = 1

    public struct Unreadable: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public func stateBytes() -> [UInt8] {
        var w = CompactWriter(capacity: 256)
        w.unsigned(UInt64(Self.stateVersion))
        w.string(profile.segment); w.string(profile.lifecycle); w.string(profile.tier)
        w.bool(profile.superUser); w.signed(profile.monetaryMinor); w.string(profile.rfmScore); w.optionalSigned(profile.lastEventMillis)
        w.string(account.level); w.signed(account.balance); w.signed(account.available); w.signed(account.expiringNext); w.string(account.nextExpiry)
        w.string(contacts.name); w.string(contacts.email); w.string(contacts.phone); w.string(contacts.pushToken)
        w.string(contacts.locale); w.string(contacts.timeZone)
        func flags(_ map: [String: Bool]) {
            // Sorted: equal states give equal bytes in every process (dictionary order is seeded).
            w.count(map.count)
            for (key, value) in map.sorted(by: { $0.key < $1.key }) { w.string(key); w.bool(value) }
        }
        flags(preferences.channels); flags(preferences.categories)
        w.string(preferences.quietHours?.description)
        let withdrawn = preferences.consents.withdrawn.map(\.rawValue).sorted()
        w.count(withdrawn.count); for purpose in withdrawn { w.string(purpose) }
        w.count(tags.count); for tag in tags { w.string(tag) }
        w.int(purchases)
        w.count(sent.count); for mark in sent { w.string(mark.category); w.signed(mark.atMillis) }
        w.count(fired.count); for mark in fired { w.string(mark.trigger); w.signed(mark.atMillis) }
        w.count(deferred.count); for d in deferred { w.string(d.notificationID); w.signed(d.dueMillis); w.blob(d.record) }
        w.count(digests.count)
        for d in digests { w.string(d.trigger); w.signed(d.windowEndMillis); w.int(d.count); w.signed(d.sum); w.string(d.firstID); w.blob(d.lastRecord) }
        w.count(enrolments.count)
        for e in enrolments {
            w.string(e.experiment); w.string(e.variant); w.signed(e.atMillis); w.string(e.conversionEvent); w.signed(e.untilMillis); w.optionalSigned(e.convertedAtMillis)
        }
        w.count(campaigns.count); for id in campaigns { w.string(id) }
        w.count(inbox.count); for id in inbox { w.string(id) }
        w.count(replay.appliedOffsets.count); for offset in replay.appliedOffsets { w.signed(offset) }
        w.count(replay.recentIDs.count); for id in replay.recentIDs { w.unsigned(id) }
        w.count(customSegments.count); for id in customSegments { w.string(id) }
        // Appended later (journeys, then the WeCom id), and only when there is something: a user
        // with neither keeps the bytes older versions wrote.
        if !journeys.isEmpty || !journeyEntries.isEmpty || contacts.wecomID != nil || repurchase != nil {
            w.count(journeys.count); for e in journeys { e.write(&w) }
            w.count(journeyEntries.count); for e in journeyEntries { w.string(e.journey); w.int(e.count) }
            w.string(contacts.wecomID)
            if let repurchase { w.bool(true); w.int(repurchase.lastPurchaseDay); w.int(repurchase.dueDay); w.bool(repurchase.entered) } else { w.bool(false) }
        }
        return w.bytes
    }

    public init(stateBytes bytes: [UInt8]) throws {
        if bytes.first == UInt8(ascii: "{") {
            try self.init(jsonStateBytes: bytes)
            return
        }
        var r = CompactReader(bytes)
        do {
            let version = try r.unsigned()
            guard version == UInt64(Self.stateVersion) else { throw Unreadable(description: "unknown state version \(version)") }
            self.init()
            profile.segment = try r.string(); profile.lifecycle = try r.string(); profile.tier = try r.string()
            profile.superUser = try r.bool(); profile.monetaryMinor = try r.signed(); profile.rfmScore = try r.string(); profile.lastEventMillis = try r.optionalSigned()
            account.level = try r.string(); account.balance = try r.signed(); account.available = try r.signed(); account.expiringNext = try r.signed()
            account.nextExpiry = try r.string()
            contacts.name = try r.string(); contacts.email = try r.string(); contacts.phone = try r.string(); contacts.pushToken = try r.string()
            contacts.locale = try r.string(); contacts.timeZone = try r.string()
            func flags() throws -> [String: Bool] {
                var map: [String: Bool] = [:]
                for _ in 0..<(try r.count()) { map[try r.requiredString()] = try r.bool() }
                return map
            }
            preferences.channels = try flags(); preferences.categories = try flags()
            if let text = try r.string() {
                guard let quiet = QuietHours(text) else { throw Unreadable(description: "quiet hours \(text) do not parse") }
                preferences.quietHours = quiet
            }
            for _ in 0..<(try r.count()) {
                let purpose = try r.requiredString()
                guard let known = Consents.Purpose(rawValue: purpose) else { throw Unreadable(description: "unknown consent purpose \(purpose)") }
                preferences.consents.withdrawn.insert(known)
            }
            tags = try (0..<r.count()).map { _ in try r.requiredString() }
            purchases = try r.int()
            sent = try (0..<r.count()).map { _ in SentMark(category: try r.requiredString(), atMillis: try r.signed()) }
            fired = try (0..<r.count()).map { _ in FiredMark(trigger: try r.requiredString(), atMillis: try r.signed()) }
            deferred = try (0..<r.count()).map { _ in Deferred(notificationID: try r.requiredString(), dueMillis: try r.signed(), record: try r.blob()) }
            digests = try (0..<r.count()).map { _ in
                DigestBuffer(trigger: try r.requiredString(), windowEndMillis: try r.signed(), count: try r.int(), sum: try r.signed(),
                             firstID: try r.requiredString(), lastRecord: try r.blob())
            }
            enrolments = try (0..<r.count()).map { _ in
                Enrolment(experiment: try r.requiredString(), variant: try r.requiredString(), atMillis: try r.signed(), conversionEvent: try r.requiredString(),
                          untilMillis: try r.signed(), convertedAtMillis: try r.optionalSigned())
            }
            campaigns = try (0..<r.count()).map { _ in try r.requiredString() }
            inbox = try (0..<r.count()).map { _ in try r.requiredString() }
            let offsets = try (0..<r.count()).map { _ in try r.signed() }
            guard offsets.count == replay.appliedOffsets.count else { throw Unreadable(description: "\(offsets.count) replay offsets, expected \(replay.appliedOffsets.count)") }
            replay.appliedOffsets = offsets
            replay.recentIDs = try (0..<r.count()).map { _ in try r.unsigned() }
            guard !r.atEnd else { return }  // appended later: older states are in no operator's segment
            customSegments = try (0..<r.count()).map { _ in try r.requiredString() }
            guard !r.atEnd else { return }  // appended later: older states are in no journey
            journeys = try (0..<r.count()).map { _ in try JourneyEnrolment(reading: &r) }
            journeyEntries = try (0..<r.count()).map { _ in JourneyEntryCount(journey: try r.requiredString(), count: try r.int()) }
            guard !r.atEnd else { return }
            contacts.wecomID = try r.string()
            guard !r.atEnd else { return }
            if try r.bool() { repurchase = Repurchase(lastPurchaseDay: try r.int(), dueDay: try r.int(), entered: try r.bool()) }
        } catch let failure as CompactReader.Failure {
            throw Unreadable(description: "binary state \(failure == .truncated ? "truncated" : "malformed") (\(bytes.count) bytes)")
        }
    }

    /// Reads version 1, the JSON format written before 2026-12-02.
    init(jsonStateBytes bytes: [UInt8]) throws {
        guard case .object(let o) = try JSONParser.parse(bytes) else { throw Unreadable(description: "not an object") }
        guard o["v"]?.numberValue?.int64Value == Int64(Self.jsonStateVersion) else { throw Unreadable(description: "unknown state version \(o["v"].map { "\($0)" } ?? "none")") }
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
