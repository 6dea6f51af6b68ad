import Foundation
import OrbitContract
import OrbitCore

extension Campaign {
    /// Reads a campaign file (YAML), checked against the notification configuration: its category
    /// and templates must exist. Errors name the file, line and field.
    ///
    /// ```yaml
    /// id: loyal-winback-2026-11
    /// category: marketing
    /// template: loyal_winback
    /// channels: [email, sms]
    /// start: 2026-11-24T09:00:00Z        # default: now
    /// end: 2026-11-30T00:00:00Z          # default: start + 7 days
    /// audience: {tier: [S, A], inactive_days_at_least: 30, tags: [loyal]}
    /// experiment: {variants: {a: 50, b: 50}, holdout_percent: 10}
    /// conversion_event: purchase
    /// conversion_days: 7
    /// ```
    public static func load(path: String, policy: NotifyPolicy, nowMillis: Int64) throws(ConfigError) -> Campaign {
        let document = try ConfigDocument.load(path: path, environment: [:])
        let c = document.top
        try c.rejectUnknownKeys(["id", "category", "template", "channels", "start", "end", "audience", "experiment", "conversion_event", "conversion_days"])
        let id = try c.string("id")
        guard NotifyPolicy.isName(id) else { throw c.invalid("id", "use letters, digits, _ and - only") }
        let category = try c.string("category")
        guard policy.delivery.categories[category] != nil else {
            throw c.invalid("category", "\(category) is not a category of notify.yaml (\(policy.delivery.categories.keys.sorted().joined(separator: ", ")))")
        }
        let template = try c.string("template")
        var channels: [Channel] = []
        for name in try c.stringList("channels") {
            guard let channel = Channel(rawValue: name) else { throw c.invalid("channels", "unknown channel \(name)") }
            for locale in policy.templates.locales where !policy.templates.has(template, channel: channel, locale: locale) {
                throw c.invalid("template", "no \(name) template \(template) for locale \(locale)")
            }
            channels.append(channel)
        }
        guard !channels.isEmpty else { throw c.invalid("channels", "name at least one channel") }
        func time(_ key: String, _ fallback: Int64) throws(ConfigError) -> Int64 {
            guard let text = try c.optionalString(key) else { return fallback }
            do { return try RFC3339.parse(text) } catch { throw c.invalid(key, "must be an RFC 3339 date-time: \(error.message)") }
        }
        let start = try time("start", nowMillis)
        let end = try time("end", start + 7 * 86_400_000)
        guard end > start else { throw c.invalid("end", "must be after start") }
        let audience = try AudienceFilter.read(c.section("audience"))
        let conversionEvent = try c.string("conversion_event", default: "purchase")
        let conversionWindow = Int64(try c.int("conversion_days", default: 7, range: 1...365)) * 86_400_000
        var experiment: Experiment?
        let e = c.section("experiment")
        if e.exists {
            try e.rejectUnknownKeys(["variants", "holdout_percent"])
            let weights = try e.intMap("variants", range: 1...1000) ?? ["all": 1]
            // A campaign's experiment is named after it, so conversions count toward its progress.
            experiment = Experiment(id: "campaign:\(id)", variants: weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                    holdoutPercent: try e.int("holdout_percent", default: 0, range: 0...90),
                                    conversionEvent: conversionEvent, conversionWindowMillis: conversionWindow)
        }
        return Campaign(id: id, category: category, channels: channels, template: template, startMillis: start, endMillis: end, audience: audience,
                        experiment: experiment, conversionEvent: conversionEvent, conversionWindowMillis: conversionWindow)
    }
}
