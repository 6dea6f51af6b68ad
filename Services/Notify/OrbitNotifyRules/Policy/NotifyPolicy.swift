import Foundation
import OrbitContract
import OrbitCore

/// The business rules of `notify.yaml`'s `notify` section: categories, triggers, policies,
/// locales and templates. Validated at start-up; errors name the file, line and field.
public struct NotifyPolicy: Sendable {
    public var configVersion = "unversioned"
    public var triggers: [Trigger] = [] { didSet { triggersBySource = Self.bySource(triggers) } }
    /// `triggers` by source, in their configured order: looked up for every input record, where
    /// filtering the list (an array and a copy of each trigger) was a measured cost.
    private var triggersBySource: [TriggerSource: [Trigger]] = [:]
    public var delivery: DeliveryPolicy
    public var templates: TemplateCatalog
    /// How long marks for caps and deduplication are kept (at least a week, for weekly caps).
    public var stateRetentionMillis: Int64 = 30 * 86_400_000

    public init(triggers: [Trigger], delivery: DeliveryPolicy, templates: TemplateCatalog) {
        self.triggers = triggers
        self.delivery = delivery
        self.templates = templates
        triggersBySource = Self.bySource(triggers)
    }

    public func triggers(for source: TriggerSource) -> [Trigger] { triggersBySource[source] ?? [] }

    private static func bySource(_ triggers: [Trigger]) -> [TriggerSource: [Trigger]] {
        Dictionary(grouping: triggers, by: \.source)
    }
    public func trigger(named id: String) -> Trigger? { triggers.first { $0.id == id } }

    /// Reads the `notify` section. `configFile` anchors the relative templates directory.
    public init(section n: ConfigSection, configFile: String) throws(ConfigError) {
        configVersion = try n.string("config_version", default: "unversioned")
        stateRetentionMillis = Int64(try n.int("state_days", default: 30, range: 8...3650)) * 86_400_000

        // Categories.
        var categories: [String: MessageCategory] = [:]
        let categoriesSection = n.section("categories")
        guard categoriesSection.exists else { throw n.invalid("categories", "name at least one category (kind: marketing, transactional or critical)") }
        for name in try categoriesSection.scalarsIfMapping().keys.sorted() {
            let c = categoriesSection.section(name)
            try c.rejectUnknownKeys(["kind", "per_day", "per_week"])
            let kind: CategoryKind = try c.choice("kind", default: .marketing)
            let perDay = try c.optionalString("per_day") != nil ? try c.int("per_day", range: 0...1000) : nil
            let perWeek = try c.optionalString("per_week") != nil ? try c.int("per_week", range: 0...10_000) : nil
            // Only marketing is capped (DeliveryPolicy): a cap on another kind would do nothing.
            if kind != .marketing, perDay != nil || perWeek != nil {
                throw c.invalid(perDay != nil ? "per_day" : "per_week", "\(kind.rawValue) messages are never capped (only marketing categories are): remove the cap or make the category marketing")
            }
            categories[name] = MessageCategory(name: name, kind: kind, perDay: perDay, perWeek: perWeek)
        }

        // Quiet hours and time zones.
        var quiet: QuietHours?
        if let text = try n.optionalString("quiet_hours") {
            guard let parsed = QuietHours(text) else { throw n.invalid("quiet_hours", "must look like 22:00-08:00") }
            quiet = parsed
        }
        let zone = try n.string("default_time_zone", default: "UTC")
        guard TimeZone(identifier: zone) != nil else { throw n.invalid("default_time_zone", "\(zone) is not a known time zone (an IANA name such as Asia/Shanghai)") }
        delivery = DeliveryPolicy(categories: categories, defaultQuietHours: quiet, defaultTimeZone: zone)

        // Templates.
        let locales = try n.stringList("locales", default: ["en", "zh-CN"])
        guard !locales.isEmpty else { throw n.invalid("locales", "name at least one locale") }
        let defaultLocale = try n.string("default_locale", default: locales[0])
        guard locales.contains(defaultLocale) else { throw n.invalid("default_locale", "\(defaultLocale) is not among notify.locales") }
        let directory = try n.string("templates_dir", default: "notify-templates")
        let base = (configFile as NSString).deletingLastPathComponent
        let resolved = directory.hasPrefix("/") ? directory : (base as NSString).appendingPathComponent(directory)
        templates = try TemplateCatalog.load(directory: resolved, locales: locales, defaultLocale: defaultLocale)

        // Triggers.
        var seen: Set<String> = []
        for t in try n.sectionList("triggers") {
            try t.rejectUnknownKeys(["id", "on", "when", "category", "channels", "dedup_hours", "digest_minutes", "digest_sum", "experiment"])
            let id = try t.string("id")
            guard Self.isName(id) else { throw t.invalid("id", "use letters, digits, _ and - only") }
            guard seen.insert(id).inserted else { throw t.invalid("id", "\(id) is defined twice") }
            let source: TriggerSource = try t.choice("on", default: .event)
            var conditions: [FieldCondition] = []
            let when = t.section("when")
            if when.exists {
                for (field, value) in try when.scalarsIfMapping().sorted(by: { $0.key < $1.key }) {
                    let values: [String]
                    if let value { values = [value] } else { values = try when.stringList(field) }
                    guard !values.isEmpty else { throw when.invalid(field, "name at least one value") }
                    conditions.append(FieldCondition(path: field.split(separator: ".").map(String.init), values: Set(values)))
                }
            }
            let category = try t.string("category")
            guard categories[category] != nil else { throw t.invalid("category", "\(category) is not among notify.categories") }
            var channels: [Channel] = []
            for name in try t.stringList("channels") {
                guard let channel = Channel(rawValue: name) else { throw t.invalid("channels", "unknown channel \(name) (one of \(Channel.allCases.map(\.rawValue).joined(separator: ", ")))") }
                channels.append(channel)
            }
            guard !channels.isEmpty else { throw t.invalid("channels", "name at least one channel") }
            let dedup = Int64(try t.int("dedup_hours", default: 0, range: 0...8760)) * 3_600_000
            let digest = Int64(try t.int("digest_minutes", default: 0, range: 0...10_080)) * 60_000
            // A digest is sent once per window, never deduplicated per event.
            if digest > 0, dedup > 0 { throw t.invalid("dedup_hours", "a digest trigger (digest_minutes) is not deduplicated: its window decides how often it is sent") }
            var experiment: Experiment?
            let e = t.section("experiment")
            if e.exists {
                try e.rejectUnknownKeys(["id", "variants", "holdout_percent", "conversion_event", "conversion_days"])
                let weights = try e.intMap("variants", range: 1...1000) ?? [:]
                guard !weights.isEmpty else { throw e.invalid("variants", "name at least one variant with a weight") }
                experiment = Experiment(id: try e.string("id", default: id), variants: weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                        holdoutPercent: try e.int("holdout_percent", default: 0, range: 0...90),
                                        conversionEvent: try e.string("conversion_event", default: "purchase"),
                                        conversionWindowMillis: Int64(try e.int("conversion_days", default: 7, range: 1...365)) * 86_400_000)
            }
            let trigger = Trigger(id: id, source: source, conditions: conditions, category: category, channels: channels,
                                  dedupWindowMillis: dedup, digestWindowMillis: digest, digestSumField: try t.optionalString("digest_sum"), experiment: experiment)
            // Every channel of every trigger has its templates in every locale.
            for channel in channels {
                for locale in locales where !templates.has(id, channel: channel, locale: locale) {
                    throw t.invalid("channels", "no \(channel.rawValue) template for \(id) in \((resolved as NSString).appendingPathComponent("\(locale).yaml"))")
                }
            }
            triggers.append(trigger)
        }
        stateRetentionMillis = max(stateRetentionMillis, (triggers.map(\.dedupWindowMillis).max() ?? 0) + DeliveryPolicy.weekMillis)
        triggersBySource = Self.bySource(triggers)  // observers do not run inside an initializer
    }

    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 64 && text.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == "-" }
    }
}
