import OrbitContract
import OrbitCore

/// Who a campaign reaches: a filter over the profile, account and tags the service holds per user.
/// Every condition given must hold; a list means any of its values.
public struct AudienceFilter: Sendable, Equatable {
    public var segments: Set<String> = []
    public var lifecycles: Set<String> = []
    public var tiers: Set<String> = []
    public var levels: Set<String> = []
    public var superUser: Bool?
    public var minSpendMinor: Int64?
    /// Last activity at least this many days before the campaign runs ("has not been back for a while").
    public var inactiveDaysAtLeast: Int?
    /// Last activity within this many days.
    public var activeWithinDays: Int?
    /// Any of these tags.
    public var tags: Set<String> = []
    /// In any of these operators' segments (their ids: `custom:<id>` on `orbit.segment-changes`).
    public var customSegments: Set<String> = []

    public init() {}

    public func matches(_ r: Recipient, at now: Int64) -> Bool {
        if !segments.isEmpty, !(r.profile.segment.map(segments.contains) ?? false) { return false }
        if !lifecycles.isEmpty, !(r.profile.lifecycle.map(lifecycles.contains) ?? false) { return false }
        if !tiers.isEmpty, !(r.profile.tier.map(tiers.contains) ?? false) { return false }
        if !levels.isEmpty, !(r.account.level.map(levels.contains) ?? false) { return false }
        if let superUser, r.profile.superUser != superUser { return false }
        if let minSpendMinor, r.profile.monetaryMinor < minSpendMinor { return false }
        let idleDays = r.profile.lastEventMillis.map { Int((now - $0) / 86_400_000) }
        if let inactiveDaysAtLeast, (idleDays ?? Int.max) < inactiveDaysAtLeast { return false }
        if let activeWithinDays, (idleDays ?? Int.max) > activeWithinDays { return false }
        if !tags.isEmpty, tags.isDisjoint(with: r.tags) { return false }
        if !customSegments.isEmpty, customSegments.isDisjoint(with: r.customSegments) { return false }
        return true
    }

    func write(_ w: inout JSONWriter) {
        func list(_ name: StaticString, _ values: Set<String>) { w.field(name); w.beginArray(); for v in values.sorted() { w.string(v) }; w.endArray() }
        w.beginObject()
        list("segment", segments); list("lifecycle", lifecycles); list("tier", tiers); list("level", levels); list("tags", tags)
        if !customSegments.isEmpty { list("custom_segments", customSegments) }
        w.field("super_user"); if let superUser { w.bool(superUser) } else { w.null() }
        w.field("min_spend_minor"); if let minSpendMinor { w.int(minSpendMinor) } else { w.null() }
        w.field("inactive_days_at_least"); if let inactiveDaysAtLeast { w.int(inactiveDaysAtLeast) } else { w.null() }
        w.field("active_within_days"); if let activeWithinDays { w.int(activeWithinDays) } else { w.null() }
        w.endObject()
    }

    init(json o: JSONObject) {
        func set(_ k: String) -> Set<String> { Set((o[k]?.arrayValue ?? []).compactMap(\.stringValue)) }
        segments = set("segment"); lifecycles = set("lifecycle"); tiers = set("tier"); levels = set("level"); tags = set("tags")
        customSegments = set("custom_segments")
        if case .bool(let b)? = o["super_user"] { superUser = b }
        minSpendMinor = o["min_spend_minor"]?.numberValue?.int64Value
        inactiveDaysAtLeast = o["inactive_days_at_least"]?.numberValue?.int64Value.map { Int($0) }
        activeWithinDays = o["active_within_days"]?.numberValue?.int64Value.map { Int($0) }
    }
}

/// A one-off or scheduled send to an audience, started with `orbit notify campaign start FILE`
/// through the command topic `orbit.notify-commands`. Every partition evaluates it against its own
/// users when it is due, so a campaign scales out with the instances.
public struct Campaign: Sendable, Equatable {
    public var id: String
    public var category: String
    public var channels: [Channel]
    /// The template id in the locale files (a campaign has its own templates, like a trigger).
    public var template: String
    /// The send window: nothing is sent before `startMillis` or after `endMillis`.
    public var startMillis: Int64
    public var endMillis: Int64
    public var audience: AudienceFilter
    public var experiment: Experiment?
    /// The event that counts as a conversion, and for how long after the send.
    public var conversionEvent: String
    public var conversionWindowMillis: Int64

    public init(id: String, category: String, channels: [Channel], template: String, startMillis: Int64, endMillis: Int64,
                audience: AudienceFilter, experiment: Experiment? = nil, conversionEvent: String = "purchase", conversionWindowMillis: Int64 = 7 * 86_400_000) {
        self.id = id
        self.category = category
        self.channels = channels
        self.template = template
        self.startMillis = startMillis
        self.endMillis = endMillis
        self.audience = audience
        self.experiment = experiment
        self.conversionEvent = conversionEvent
        self.conversionWindowMillis = conversionWindowMillis
    }

    /// The experiment id a campaign enrols users under: `campaign:<id>`.
    public var experimentID: String { "campaign:\(id)" }

    /// The command record: `{"schema_version":1,"command":"start","campaign":{...}}`.
    public func startCommand() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("command"); w.string("start")
        w.field("campaign"); writeBody(&w)
        w.endObject()
        return w.bytes
    }

    public static func cancelCommand(id: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("command"); w.string("cancel")
        w.field("campaign"); w.beginObject(); w.field("id"); w.string(id); w.endObject()
        w.endObject()
        return w.bytes
    }

    func writeBody(_ w: inout JSONWriter) {
        w.beginObject()
        w.field("id"); w.string(id)
        w.field("category"); w.string(category)
        w.field("channels"); w.beginArray(); for c in channels { w.string(c.rawValue) }; w.endArray()
        w.field("template"); w.string(template)
        w.field("start"); w.timestamp(millis: startMillis)
        w.field("end"); w.timestamp(millis: endMillis)
        w.field("audience"); audience.write(&w)
        w.field("experiment")
        if let experiment {
            w.beginObject()
            w.field("variants"); w.beginObject(); for v in experiment.variants { w.key(v.name); w.int(v.weight) }; w.endObject()
            w.field("holdout_percent"); w.int(experiment.holdoutPercent)
            w.endObject()
        } else { w.null() }
        w.field("conversion_event"); w.string(conversionEvent)
        w.field("conversion_days"); w.int(conversionWindowMillis / 86_400_000)
        w.endObject()
    }

    public var encodedBody: [UInt8] { var w = JSONWriter(); writeBody(&w); return w.bytes }

    public enum Command: Sendable, Equatable {
        case start(Campaign)
        case cancel(id: String)
    }

    public struct InvalidCommand: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public static func decodeCommand(_ bytes: [UInt8]) throws(InvalidCommand) -> Command {
        guard case .object(let o)? = try? JSONParser.parse(bytes), let command = o["command"]?.stringValue, case .object(let body)? = o["campaign"],
              let id = body["id"]?.stringValue, !id.isEmpty else { throw InvalidCommand(description: "not a campaign command (command, campaign.id)") }
        switch command {
        case "cancel": return .cancel(id: id)
        case "start": return .start(try decodeBody(body))
        default: throw InvalidCommand(description: "unknown command \(command) (start or cancel)")
        }
    }

    public static func decodeBody(_ body: JSONObject) throws(InvalidCommand) -> Campaign {
        guard let id = body["id"]?.stringValue, let category = body["category"]?.stringValue, let template = body["template"]?.stringValue,
              let start = body["start"]?.stringValue.flatMap({ try? RFC3339.parse($0) }), let end = body["end"]?.stringValue.flatMap({ try? RFC3339.parse($0) }),
              case .object(let audience)? = body["audience"] else { throw InvalidCommand(description: "campaign needs id, category, template, start, end and audience") }
        var channels: [Channel] = []
        for value in body["channels"]?.arrayValue ?? [] {
            guard let channel = value.stringValue.flatMap(Channel.init(rawValue:)) else { throw InvalidCommand(description: "unknown channel \(value)") }
            channels.append(channel)
        }
        guard !channels.isEmpty else { throw InvalidCommand(description: "campaign needs at least one channel") }
        var experiment: Experiment?
        if case .object(let e)? = body["experiment"] {
            let variants = (e["variants"]?.objectValue?.members ?? []).compactMap { m in m.value.numberValue?.int64Value.map { (name: m.key, weight: Int($0)) } }
            experiment = Experiment(id: "campaign:\(id)", variants: variants, holdoutPercent: Int(e["holdout_percent"]?.numberValue?.int64Value ?? 0),
                                    conversionEvent: body["conversion_event"]?.stringValue ?? "purchase",
                                    conversionWindowMillis: (body["conversion_days"]?.numberValue?.int64Value ?? 7) * 86_400_000)
        }
        return Campaign(id: id, category: category, channels: channels, template: template, startMillis: start, endMillis: end, audience: AudienceFilter(json: audience),
                        experiment: experiment, conversionEvent: body["conversion_event"]?.stringValue ?? "purchase",
                        conversionWindowMillis: (body["conversion_days"]?.numberValue?.int64Value ?? 7) * 86_400_000)
    }
}

/// One partition's view of a campaign: its definition, whether it ran, and its progress there.
public struct CampaignProgress: Sendable, Equatable {
    public var campaign: Campaign
    public var cancelled = false
    public var ran = false
    public var matched = 0
    public var sent = 0
    public var converted = 0
    public var suppressed: [String: Int] = [:]

    public init(campaign: Campaign) { self.campaign = campaign }

    /// A record of `orbit.campaign-progress` (key `<campaign>/<partition>`; the report sums the latest of each).
    public func encoded(partition: Int32) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("campaign"); w.string(campaign.id)
        w.field("partition"); w.int(Int(partition))
        w.field("state"); w.string(cancelled ? "cancelled" : ran ? "ran" : "scheduled")
        writeCounters(&w)
        w.endObject()
        return w.bytes
    }

    /// `matched`, `sent`, `converted` and `suppressed` by reason (the record and the state share them).
    func writeCounters(_ w: inout JSONWriter) {
        w.field("matched"); w.int(matched)
        w.field("sent"); w.int(sent)
        w.field("converted"); w.int(converted)
        w.field("suppressed"); w.beginObject(); for (k, v) in suppressed.sorted(by: { $0.key < $1.key }) { w.key(k); w.int(v) }; w.endObject()
    }
}
