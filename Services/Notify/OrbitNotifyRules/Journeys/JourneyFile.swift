import Foundation
import OrbitContract
import OrbitCore

/// Journey definitions as operators write them (YAML) and as `orbit.journeys` carries them (the
/// same tree in JSON). One reader serves both: JSON is YAML, so a record that reaches the topic is
/// checked by the very code that checked the file, against the service's own notify.yaml
/// (categories, templates), and its errors name the record and the field.
///
/// ```yaml
/// journeys:
///   - id: winback
///     name: Win back drifting buyers
///     category: marketing
///     entry: {segment: {dimension: lifecycle, to: at_risk}}   # or {on: event, when: {type: signup}},
///                                                              # {custom_segment: vip}, {audience: {tier: [S]}}
///     steps:
///       - {id: reminder, send: {template: journey_winback_reminder, channels: [email]}}
///       - {id: pause, wait: {days: 3}}
///       - {id: morning, wait: {until_local_time: "10:00"}}
///       - {id: watch, wait: {for_event: purchase, days: 4, on_timeout: last_call}}
///       - {id: vip, branch: {if: {field: tier, in: [S, A]}, then: gift, else: last_call}}
///       - {id: gift, grant: {points: 200, reason: win-back gift}}
///       - {id: last_call, send: {template: journey_winback_last_call, channels: [email, push]}}
///     exits: {events: [purchase], opt_out: true, converted: true, left_segment: true}
///     recurrence: {every_days: 14, max: 3}
///     experiment: {variants: {a: 50, b: 50}, holdout_percent: 10}
///     conversion_event: purchase
///     conversion_days: 14
///     reentry: after_exit
/// ```
public enum JourneyFile {
    public static let maxJourneys = 100

    /// Reads a file of journeys (`journeys:` list); every error names the file, line and field,
    /// and a file with any error yields nothing. Versions are 0 until the topic's are known.
    public static func load(path: String, policy: NotifyPolicy) throws(ConfigError) -> [Journey] {
        let document = try ConfigDocument.load(path: path, environment: [:])
        try document.top.rejectUnknownKeys(["journeys"])
        let sections = try document.top.sectionList("journeys")
        guard !sections.isEmpty, sections.count <= maxJourneys else { throw document.top.invalid("journeys", "list 1 to \(maxJourneys) journeys") }
        var seen: Set<String> = []
        var journeys: [Journey] = []
        for section in sections {
            let journey = try Journey.read(section, version: 0, policy: policy)
            guard seen.insert(journey.id).inserted else { throw section.invalid("id", "\(journey.id) is defined twice in this file") }
            journeys.append(journey)
        }
        return journeys
    }
}

extension Journey {
    static let keys: Set<String> = ["id", "name", "category", "entry", "steps", "exits", "recurrence", "experiment", "conversion_event", "conversion_days", "reentry"]

    /// One journey's definition, checked against the notification policy (its categories and
    /// templates in every locale).
    /// - Parameter policy: nil skips the checks against notify.yaml (state this service wrote).
    public static func read(_ s: ConfigSection, version: Int, policy: NotifyPolicy?) throws(ConfigError) -> Journey {
        try s.rejectUnknownKeys(keys)
        let id = try s.string("id")
        guard isValidID(id) else { throw s.invalid("id", "lower-case letters, digits, - and _, 1 to 64") }
        let name = try s.string("name", default: id)
        guard !name.isEmpty, name.utf8.count <= 200 else { throw s.invalid("name", "a name of 1 to 200 bytes") }
        let category = try s.string("category")
        if let policy, policy.delivery.categories[category] == nil {
            throw s.invalid("category", "\(category) is not a category of notify.yaml (\(policy.delivery.categories.keys.sorted().joined(separator: ", ")))")
        }
        let entry = try readEntry(s.section("entry"), in: s)

        // Steps: ids first, so a jump can be checked to go forward (a journey cannot loop: its
        // repetition is `recurrence`, which is bounded).
        let stepSections = try s.sectionList("steps")
        guard !stepSections.isEmpty, stepSections.count <= maxSteps else { throw s.invalid("steps", "list 1 to \(maxSteps) steps") }
        var ids: [String] = []
        for step in stepSections {
            let stepID = try step.string("id")
            guard isValidID(stepID) else { throw step.invalid("id", "lower-case letters, digits, - and _, 1 to 64") }
            guard !ids.contains(stepID) else { throw step.invalid("id", "\(stepID) names two steps") }
            ids.append(stepID)
        }
        func target(_ section: ConfigSection, _ key: String, from index: Int) throws(ConfigError) -> String? {
            guard let name = try section.optionalString(key) else { return nil }
            guard let to = ids.firstIndex(of: name) else { throw section.invalid(key, "\(name) is not a step of this journey (\(ids.joined(separator: ", ")))") }
            guard to > index else { throw section.invalid(key, "jumps go forward: \(name) is not after step \(ids[index]) (repeat with recurrence)") }
            return name
        }
        var steps: [Step] = []
        for (index, step) in stepSections.enumerated() {
            let kinds = ["send", "wait", "branch", "grant", "exit"].filter { step.section($0).exists }
            try step.rejectUnknownKeys(["id", "send", "wait", "branch", "grant", "exit"])
            guard kinds.count == 1, let kind = kinds.first else { throw step.invalid("id", "a step is exactly one of send, wait, branch, grant or exit") }
            let body = step.section(kind)
            switch kind {
            case "send":
                try body.rejectUnknownKeys(["template", "channels", "category"])
                let template = try body.string("template")
                let stepCategory = try body.optionalString("category")
                if let stepCategory, let policy, policy.delivery.categories[stepCategory] == nil { throw body.invalid("category", "\(stepCategory) is not a category of notify.yaml") }
                var channels: [Channel] = []
                for channelName in try body.stringList("channels") {
                    guard let channel = Channel(rawValue: channelName) else {
                        throw body.invalid("channels", "unknown channel \(channelName) (one of \(Channel.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    for locale in policy?.templates.locales ?? [] where !policy!.templates.has(template, channel: channel, locale: locale) {
                        throw body.invalid("template", "no \(channelName) template \(template) for locale \(locale)")
                    }
                    channels.append(channel)
                }
                guard !channels.isEmpty else { throw body.invalid("channels", "name at least one channel") }
                steps.append(Step(id: ids[index], .send(template: template, channels: channels, category: stepCategory)))
            case "wait":
                try body.rejectUnknownKeys(["days", "hours", "minutes", "until_local_time", "for_event", "for_segment", "on_event", "on_timeout"])
                var wait = Wait()
                wait.durationMillis = Int64(try body.int("days", default: 0, range: 0...366)) * 86_400_000
                    + Int64(try body.int("hours", default: 0, range: 0...8784)) * 3_600_000 + Int64(try body.int("minutes", default: 0, range: 0...527_040)) * 60_000
                guard wait.durationMillis <= maxWaitMillis else { throw body.invalid("days", "a wait is at most 366 days") }
                if let text = try body.optionalString("until_local_time") {
                    guard let minute = QuietHours.minute(Substring(text)) else { throw body.invalid("until_local_time", "a time of day, HH:MM (24 hours)") }
                    wait.localMinute = minute
                }
                if let event = try body.optionalString("for_event") {
                    guard isValidID(event) else { throw body.invalid("for_event", "\(event) is not an event type name (lower-case letters, digits, _)") }
                    wait.until = .event(event)
                }
                let segment = body.section("for_segment")
                if segment.exists {
                    guard wait.until == nil else { throw body.invalid("for_segment", "a wait is for an event or a segment change, not both") }
                    try segment.rejectUnknownKeys(["dimension", "to"])
                    wait.until = .segment(dimension: try segment.string("dimension"), value: try segment.string("to"))
                }
                if wait.until != nil {
                    guard wait.durationMillis > 0 else { throw body.invalid("days", "a wait for an event or segment needs a timeout (days, hours or minutes)") }
                    guard wait.localMinute == nil else { throw body.invalid("until_local_time", "a wait for an event or segment ends when it happens; its timeout is a duration") }
                    wait.onEvent = try target(body, "on_event", from: index)
                    wait.onTimeout = try target(body, "on_timeout", from: index)
                } else {
                    for key in ["on_event", "on_timeout"] where try body.optionalString(key) != nil {
                        throw body.invalid(key, "only a wait for an event or segment (for_event, for_segment) branches")
                    }
                    guard wait.durationMillis > 0 || wait.localMinute != nil else { throw body.invalid("days", "a wait needs a duration, a local time or an event") }
                }
                steps.append(Step(id: ids[index], .wait(wait)))
            case "branch":
                try body.rejectUnknownKeys(["if", "then", "else"])
                guard body.section("if").exists else { throw body.invalid("if", "is required: the condition") }
                let condition = try JourneyCondition.read(body.section("if"))
                let then = try target(body, "then", from: index), otherwise = try target(body, "else", from: index)
                guard then != nil || otherwise != nil else { throw body.invalid("then", "a branch goes somewhere: then, else or both") }
                if condition.tests(.variant) {
                    // Anywhere in the condition: a variant the experiment does not have never matches.
                    let variants = experimentVariants(s)
                    guard !variants.isEmpty else { throw body.invalid("if", "tests variant, but the journey has no experiment") }
                    let known = Set(variants.keys).union([Experiment.holdout])
                    if let unknown = condition.values(of: .variant).first(where: { !known.contains($0) }) {
                        throw body.invalid("if", "tests variant \(unknown), which the journey's experiment does not have (\(known.sorted().joined(separator: ", ")))")
                    }
                }
                steps.append(Step(id: ids[index], .branch(condition, then: then, otherwise: otherwise)))
            case "grant":
                try body.rejectUnknownKeys(["points", "reason"])
                let points = Int64(try body.int("points", range: 1...1_000_000))
                let reason = try body.string("reason", default: "journey \(id)")
                guard reason.utf8.count <= 128 else { throw body.invalid("reason", "at most 128 bytes") }
                steps.append(Step(id: ids[index], .grant(points: points, reason: reason)))
            default:
                try body.rejectUnknownKeys([])  // `exit: {}`
                steps.append(Step(id: ids[index], .exit))
            }
        }

        var exits = Exits()
        let e = s.section("exits")
        try e.rejectUnknownKeys(["events", "opt_out", "converted", "left_segment"])
        for event in try e.stringList("events") {
            guard isValidID(event) else { throw e.invalid("events", "\(event) is not an event type name (lower-case letters, digits, _)") }
            exits.events.insert(event)
        }
        exits.optOut = try e.bool("opt_out", default: true)
        exits.converted = try e.bool("converted", default: true)
        exits.leftSegment = try e.bool("left_segment", default: true)
        if try e.optionalString("left_segment") != nil, entry.segment == nil { throw e.invalid("left_segment", "only a journey entered by a segment can be left by it") }

        var recurrence: Recurrence?
        let r = s.section("recurrence")
        if r.exists {
            try r.rejectUnknownKeys(["every_days", "max"])
            recurrence = Recurrence(everyMillis: Int64(try r.int("every_days", range: 1...366)) * 86_400_000, max: try r.int("max", range: 2...100))
            switch entry {
            case .trigger, .repurchaseDue:
                throw r.invalid("every_days", "a journey entered by a trigger or a repurchase date is entered again by them; recurrence is for segment and audience entries")
            case .segment, .audience: break
            }
        }
        let conversionEvent = try s.string("conversion_event", default: "purchase")
        guard isValidID(conversionEvent) else { throw s.invalid("conversion_event", "\(conversionEvent) is not an event type name (lower-case letters, digits, _)") }
        let conversionWindow = Int64(try s.int("conversion_days", default: 14, range: 1...366)) * 86_400_000
        var experiment: Experiment?
        let x = s.section("experiment")
        if x.exists {
            try x.rejectUnknownKeys(["variants", "holdout_percent"])
            let weights = try x.intMap("variants", range: 1...1000) ?? ["all": 1]
            guard !weights.isEmpty, weights.count <= 10 else { throw x.invalid("variants", "name 1 to 10 variants") }
            for variant in weights.keys where variant == Experiment.holdout { throw x.invalid("variants", "holdout is the control group's name; use holdout_percent") }
            experiment = Experiment(id: "journey:\(id)", variants: weights.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                    holdoutPercent: try x.int("holdout_percent", default: 0, range: 0...90),
                                    conversionEvent: conversionEvent, conversionWindowMillis: conversionWindow)
        }
        return Journey(id: id, version: version, name: name, category: category, entry: entry, steps: steps, exits: exits, recurrence: recurrence,
                       experiment: experiment, conversionEvent: conversionEvent, conversionWindowMillis: conversionWindow,
                       reentry: try s.choice("reentry", default: .afterExit))
    }

    private static func experimentVariants(_ s: ConfigSection) -> [String: Int] {
        ((try? s.section("experiment").intMap("variants", range: 1...1000)) ?? nil) ?? (s.section("experiment").exists ? ["all": 1] : [:])
    }

    private static func readEntry(_ e: ConfigSection, in s: ConfigSection) throws(ConfigError) -> Entry {
        guard e.exists else { throw s.invalid("entry", "is required: a trigger (on, when), a segment, a custom_segment or an audience") }
        let kinds = ["on", "segment", "custom_segment", "audience", "repurchase_due"].filter { e.section($0).exists }
        guard kinds.count == 1, let kind = kinds.first else {
            throw e.invalid("on", "an entry is exactly one of: on (with when), segment, custom_segment, audience, repurchase_due")
        }
        switch kind {
        case "on":
            try e.rejectUnknownKeys(["on", "when"])
            let source: TriggerSource = try e.choice("on", default: .event)
            var conditions: [FieldCondition] = []
            let when = e.section("when")
            for (field, value) in try when.scalarsIfMapping().sorted(by: { $0.key < $1.key }) {
                let values: [String]
                if let value { values = [value] } else { values = try when.stringList(field) }
                guard !values.isEmpty else { throw when.invalid(field, "name at least one value") }
                conditions.append(FieldCondition(path: field.split(separator: ".").map(String.init), values: Set(values)))
            }
            guard !conditions.isEmpty else { throw e.invalid("when", "a trigger entry needs at least one condition (type: signup, say)") }
            return .trigger(source, conditions)
        case "segment":
            try e.rejectUnknownKeys(["segment"])
            let seg = e.section("segment")
            try seg.rejectUnknownKeys(["dimension", "to"])
            return .segment(dimension: try seg.string("dimension"), value: try seg.string("to"))
        case "custom_segment":
            try e.rejectUnknownKeys(["custom_segment"])
            let id = try e.string("custom_segment")
            guard isValidID(id) else { throw e.invalid("custom_segment", "a segment id (lower-case letters, digits, - and _)") }
            return .segment(dimension: "custom:\(id)", value: "true")
        case "repurchase_due":
            try e.rejectUnknownKeys(["repurchase_due"])
            let due = e.section("repurchase_due")
            try due.rejectUnknownKeys(["grace_days"])
            return .repurchaseDue(graceDays: try due.int("grace_days", default: 0, range: 0...365))
        default:
            try e.rejectUnknownKeys(["audience"])
            return .audience(try AudienceFilter.read(e.section("audience")))
        }
    }

    /// Lower-case letters, digits, `-` and `_`, 1 to 64 of them (ids go into message ids and keys).
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }
    }

    // MARK: Writing (the record's `journey` member, read back by `read`)

    public func write(_ w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("name"); w.string(name)
        w.key("category"); w.string(category)
        w.key("entry"); w.beginObject()
        switch entry {
        case .trigger(let source, let conditions):
            w.key("on"); w.string(source.rawValue)
            w.key("when"); w.beginObject()
            for c in conditions { w.key(c.path.joined(separator: ".")); w.beginArray(); for v in c.values.sorted() { w.string(v) }; w.endArray() }
            w.endObject()
        case .segment(let dimension, let value):
            w.key("segment"); w.beginObject(); w.key("dimension"); w.string(dimension); w.key("to"); w.string(value); w.endObject()
        case .audience(let audience):
            w.key("audience"); audience.write(&w)
        case .repurchaseDue(let grace):
            w.key("repurchase_due"); w.beginObject(); w.key("grace_days"); w.int(grace); w.endObject()
        }
        w.endObject()
        w.key("steps"); w.beginArray()
        for step in steps {
            w.beginObject()
            w.key("id"); w.string(step.id)
            switch step.action {
            case .send(let template, let channels, let category):
                w.key("send"); w.beginObject()
                w.key("template"); w.string(template)
                w.key("channels"); w.beginArray(); for c in channels { w.string(c.rawValue) }; w.endArray()
                if let category { w.key("category"); w.string(category) }
                w.endObject()
            case .wait(let wait):
                w.key("wait"); w.beginObject()
                if wait.durationMillis > 0 { w.key("minutes"); w.int(wait.durationMillis / 60_000) }
                if let minute = wait.localMinute { w.key("until_local_time"); w.string(QuietHours(startMinute: minute, endMinute: minute).description.prefix(5).description) }
                switch wait.until {
                case .event(let type)?: w.key("for_event"); w.string(type)
                case .segment(let dimension, let value)?:
                    w.key("for_segment"); w.beginObject(); w.key("dimension"); w.string(dimension); w.key("to"); w.string(value); w.endObject()
                case nil: break
                }
                if let to = wait.onEvent { w.key("on_event"); w.string(to) }
                if let to = wait.onTimeout { w.key("on_timeout"); w.string(to) }
                w.endObject()
            case .branch(let condition, let then, let otherwise):
                w.key("branch"); w.beginObject()
                w.key("if"); condition.write(&w)
                if let then { w.key("then"); w.string(then) }
                if let otherwise { w.key("else"); w.string(otherwise) }
                w.endObject()
            case .grant(let points, let reason):
                w.key("grant"); w.beginObject(); w.key("points"); w.int(points); w.key("reason"); w.string(reason); w.endObject()
            case .exit:
                w.key("exit"); w.beginObject(); w.endObject()
            }
            w.endObject()
        }
        w.endArray()
        w.key("exits"); w.beginObject()
        w.key("events"); w.beginArray(); for e in exits.events.sorted() { w.string(e) }; w.endArray()
        w.key("opt_out"); w.bool(exits.optOut)
        w.key("converted"); w.bool(exits.converted)
        if entry.segment != nil { w.key("left_segment"); w.bool(exits.leftSegment) }
        w.endObject()
        if let recurrence {
            w.key("recurrence"); w.beginObject(); w.key("every_days"); w.int(recurrence.everyMillis / 86_400_000); w.key("max"); w.int(recurrence.max); w.endObject()
        }
        if let experiment {
            w.key("experiment"); w.beginObject()
            w.key("variants"); w.beginObject(); for v in experiment.variants { w.key(v.name); w.int(v.weight) }; w.endObject()
            w.key("holdout_percent"); w.int(experiment.holdoutPercent)
            w.endObject()
        }
        w.key("conversion_event"); w.string(conversionEvent)
        w.key("conversion_days"); w.int(conversionWindowMillis / 86_400_000)
        w.key("reentry"); w.string(reentry.rawValue)
        w.endObject()
    }
}

extension AudienceFilter {
    /// Reads an audience (a campaign's and a journey's): every condition given must hold.
    public static func read(_ a: ConfigSection) throws(ConfigError) -> AudienceFilter {
        try a.rejectUnknownKeys(["segment", "lifecycle", "tier", "level", "super_user", "min_spend_minor", "inactive_days_at_least", "active_within_days", "tags",
                                 "custom_segments"])
        var audience = AudienceFilter()
        audience.segments = Set(try a.stringList("segment"))
        audience.lifecycles = Set(try a.stringList("lifecycle"))
        audience.tiers = Set(try a.stringList("tier"))
        audience.levels = Set(try a.stringList("level"))
        audience.tags = Set(try a.stringList("tags"))
        audience.customSegments = Set(try a.stringList("custom_segments"))
        if try a.optionalString("super_user") != nil { audience.superUser = try a.bool("super_user", default: false) }
        if try a.optionalString("min_spend_minor") != nil { audience.minSpendMinor = Int64(try a.int("min_spend_minor", range: 0...Int.max)) }
        if try a.optionalString("inactive_days_at_least") != nil { audience.inactiveDaysAtLeast = try a.int("inactive_days_at_least", range: 0...3650) }
        if try a.optionalString("active_within_days") != nil { audience.activeWithinDays = try a.int("active_within_days", range: 0...3650) }
        return audience
    }
}
