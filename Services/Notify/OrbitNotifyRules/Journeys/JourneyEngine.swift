import Foundation
import OrbitContract
import OrbitCore

/// Why an enrolment ended: the funnel's `exited` reasons.
public enum JourneyEndReason: String, Sendable, CaseIterable {
    /// Past the last step (or an `exit` step), with no further run.
    case completed
    /// The conversion event, within the conversion window.
    case converted
    /// One of the journey's exit events.
    case exitEvent = "exit_event"
    /// Marketing consent withdrawn, or the journey's category opted out of.
    case optedOut = "opted_out"
    /// Left the entry segment (or, between runs, no longer in the segment or audience).
    case leftSegment = "left_segment"
    /// The operator retired the journey.
    case retired
    /// The version the user was on is no longer kept and the current one has no step of that name.
    case versionGone = "version_gone"
}

/// What the journeys ask of the service for one input, in order: the processor sends, grants and
/// writes outcomes; the engine itself keeps the enrolments and the funnel.
public enum JourneyEffect: Sendable, Equatable {
    case entered(journey: String, variant: String)
    /// Send the step's message (every policy applies) under `messageID`, in `variant`.
    case send(journey: String, step: String, template: String, channels: [Channel], category: String, messageID: String, variant: String)
    /// Grant points with a member command whose request id makes it idempotent.
    case grant(journey: String, step: String, requestID: String, points: Int64, reason: String)
    /// A conversion, counted for the step whose message was sent last.
    case converted(journey: String, step: String?, variant: String)
    /// The enrolment ended; messages of it still waiting for quiet hours (ids starting with
    /// `idBase`) are dropped.
    case ended(journey: String, reason: JourneyEndReason, step: String?, idBase: String)
}

/// Journeys over one user's state, pure: inputs and clock ticks in, enrolments moved and effects
/// out. The same inputs in the same order give the same effects (times come from the inputs), so
/// a replay after a crash sends the same messages under the same ids.
public struct JourneyEngine {
    /// One partition's journeys; its funnels are counted here.
    public var table: JourneyTable
    public let delivery: DeliveryPolicy
    /// Whether ``table`` changed (its funnels), so the service writes it back.
    public private(set) var changed = false
    /// At most this many journeys at once per user.
    public static let maxEnrolments = 16

    public init(table: JourneyTable, delivery: DeliveryPolicy) {
        self.table = table
        self.delivery = delivery
    }

    // MARK: Inputs

    /// An input record of the user: exits, conversions and awaited events or segment changes for
    /// the journeys the user is in, then entries into journeys.
    public mutating func onRecord(_ source: TriggerSource, _ record: JSONObject, derived: DerivedFacts, userID: String, time: Int64,
                                  _ r: inout Recipient, effects: inout [JourneyEffect]) {
        let eventType = source == .event ? record["type"]?.stringValue : nil
        let dimension = source == .segmentChange ? record["dimension"]?.stringValue : nil
        let value = source == .segmentChange ? record["to"]?.stringValue : nil
        forEachEnrolment(&r, &effects) { engine, index, r, effects in
            engine.handle(index, eventType: eventType, dimension: dimension, value: value, userID: userID, time: time, &r, &effects)
        }
        for (id, book) in table.books.sorted(by: { $0.key < $1.key }) where book.status == .active {
            let journey = book.current
            switch journey.entry {
            case .trigger(let on, let conditions):
                guard on == source, conditions.allSatisfy({ $0.matches(record, derived: derived) }) else { continue }
            case .segment(let d, let v):
                guard d == dimension, v == value else { continue }
            case .audience, .repurchaseDue:
                continue
            }
            enter(id, userID: userID, time: time, &r, &effects)
        }
    }

    private mutating func handle(_ index: Int, eventType: String?, dimension: String?, value: String?, userID: String, time: Int64,
                                 _ r: inout Recipient, _ effects: inout [JourneyEffect]) {
        guard let journey = journey(of: index, userID: userID, time: time, &r, &effects) else { return }
        let e = r.journeys[index]
        if let eventType {
            if eventType == journey.conversionEvent, e.convertedAtMillis == nil, time >= e.enteredMillis, time <= e.enteredMillis + journey.conversionWindowMillis {
                r.journeys[index].convertedAtMillis = time
                count(journey.id) { f in f.converted += 1; if let s = e.lastSent { f.steps[s, default: .init()].converted += 1 } }
                effects.append(.converted(journey: journey.id, step: e.lastSent, variant: e.variant))
                if journey.exits.converted { return end(index, .converted, userID: userID, &r, &effects) }
            }
            // An event from before the user entered is history (it can reach orbit-notify after
            // the segment change that enrolled them), not an answer: it neither exits nor ends a wait.
            guard time >= e.enteredMillis else { return }
            if journey.exits.events.contains(eventType) { return end(index, .exitEvent, userID: userID, &r, &effects) }
        }
        if let dimension, let segment = journey.entry.segment, journey.exits.leftSegment, segment.dimension == dimension, value != segment.value {
            return end(index, .leftSegment, userID: userID, &r, &effects)
        }
        guard table.books[journey.id]?.status == .active, e.step < journey.steps.count, case .wait(let wait) = journey.steps[e.step].action else { return }
        switch wait.until {
        case .event(let type)? where type == eventType:
            finishWait(index, journey, wait, how: "event", userID: userID, time: time, &r, &effects)
        case .segment(let d, let v)? where d == dimension && v == value:
            finishWait(index, journey, wait, how: "event", userID: userID, time: time, &r, &effects)
        default: break
        }
    }

    /// Preferences changed: a user who opted out of a journey's messages leaves it.
    public mutating func onPreferences(userID: String, time: Int64, _ r: inout Recipient, effects: inout [JourneyEffect]) {
        forEachEnrolment(&r, &effects) { engine, index, r, effects in
            if let journey = engine.journey(of: index, userID: userID, time: time, &r, &effects), journey.exits.optOut, engine.optedOut(r, journey) {
                engine.end(index, .optedOut, userID: userID, &r, &effects)
            }
        }
    }

    /// Visits each of the user's enrolments once, in order: `body` gets its index and may end
    /// it (the next one then moves into its place, and is visited next).
    private mutating func forEachEnrolment(_ r: inout Recipient, _ effects: inout [JourneyEffect],
                                           _ body: (inout JourneyEngine, Int, inout Recipient, inout [JourneyEffect]) -> Void) {
        var index = 0
        while index < r.journeys.count {
            let before = r.journeys.count
            body(&self, index, &r, &effects)
            if r.journeys.count == before { index += 1 }
        }
    }

    func optedOut(_ r: Recipient, _ journey: Journey) -> Bool {
        guard let category = delivery.categories[journey.category] else { return true }
        if category.kind == .marketing, !r.preferences.consents.allows(.marketing) { return true }
        return r.preferences.categories[journey.category] == false
    }

    /// The clock: waits that ended and runs that are due, for every journey that is active.
    /// Returns false when nothing was due (the user's state is unchanged).
    public mutating func onTick(userID: String, time: Int64, _ r: inout Recipient, effects: inout [JourneyEffect]) -> Bool {
        let entered = enterRepurchaseDue(userID: userID, time: time, &r, &effects)
        guard r.journeys.contains(where: { ($0.dueMillis ?? .max) <= time }) else { return entered }
        forEachEnrolment(&r, &effects) { engine, index, r, effects in
            guard let journey = engine.journey(of: index, userID: userID, time: time, &r, &effects), engine.table.books[journey.id]?.status == .active,
                  let due = r.journeys[index].dueMillis, due <= time else { return }
            let e = r.journeys[index]
            if e.step >= journey.steps.count {
                engine.nextRun(index, journey, userID: userID, time: time, &r, &effects)
            } else if case .wait(let wait) = journey.steps[e.step].action {
                engine.finishWait(index, journey, wait, how: wait.until == nil ? "waited" : "timeout", userID: userID, time: time, &r, &effects)
            } else {
                r.journeys[index].dueMillis = nil
                engine.advance(index, journey, userID: userID, time: time, &r, &effects)
            }
        }
        return true
    }

    /// Repurchase-due entries: the user's expected next purchase passed, with the journey's grace,
    /// and no purchase since (a purchase brings a new expected date). Once per expected date.
    private mutating func enterRepurchaseDue(userID: String, time: Int64, _ r: inout Recipient, _ effects: inout [JourneyEffect]) -> Bool {
        guard let due = r.repurchase, !due.entered else { return false }
        let today = Int(DeliveryPolicy.day(time))
        var entered = false
        for (id, book) in table.books.sorted(by: { $0.key < $1.key }) where book.status == .active {
            guard case .repurchaseDue(let grace) = book.current.entry, today >= due.dueDay + grace else { continue }
            r.repurchase?.entered = true
            enter(id, userID: userID, time: time, &r, &effects)
            entered = true
        }
        return entered
    }

    /// Whether some active journey is entered by a repurchase date (the service then keeps each
    /// buyer's expected next purchase).
    public var usesRepurchaseDates: Bool {
        table.books.values.contains { book in
            if case .repurchaseDue = book.current.entry { return book.status != .retired }
            return false
        }
    }

    // MARK: Operators' changes

    /// Enrols the user if the journey's audience matches (audience entries, once per version).
    public mutating func enterAudience(_ id: String, userID: String, time: Int64, _ r: inout Recipient, effects: inout [JourneyEffect]) {
        guard let book = table.books[id], book.status == .active, case .audience(let audience) = book.current.entry, audience.matches(r, at: time) else { return }
        enter(id, userID: userID, time: time, &r, &effects)
    }

    /// Ends the user's enrolment in a retired journey; moves one on a migrated version to the
    /// current version's mapped step.
    public mutating func reconcile(_ id: String, userID: String, time: Int64, _ r: inout Recipient, effects: inout [JourneyEffect]) {
        guard let index = r.journeys.firstIndex(where: { $0.journey == id }) else { return }
        _ = journey(of: index, userID: userID, time: time, &r, &effects)
    }

    // MARK: Walking

    /// The journey an enrolment follows, after the operator's changes: a retired journey ends
    /// it, a migration moves it, a version no longer kept moves it to the current version at the
    /// same step (or ends it). Nil when the enrolment ended.
    private mutating func journey(of index: Int, userID: String, time: Int64, _ r: inout Recipient, _ effects: inout [JourneyEffect]) -> Journey? {
        let e = r.journeys[index]
        guard let book = table.books[e.journey], book.status != .retired else {
            end(index, .retired, userID: userID, &r, &effects)
            return nil
        }
        if e.version == book.current.version { return book.current }
        let stepID = e.step < (book.version(e.version)?.steps.count ?? 0) ? book.version(e.version)!.steps[e.step].id : nil
        if let migration = book.migration, migration.fromVersion == e.version, let stepID, let to = migration.steps[stepID], let target = book.current.index(of: to) {
            r.journeys[index].version = book.current.version
            r.journeys[index].step = target
            r.journeys[index].mark(to, "migrated", at: time)
            return book.current
        }
        if let kept = book.version(e.version) { return kept }
        if let stepID, let target = book.current.index(of: stepID) {
            r.journeys[index].version = book.current.version
            r.journeys[index].step = target
            return book.current
        }
        end(index, .versionGone, userID: userID, &r, &effects)
        return nil
    }

    private mutating func enter(_ id: String, userID: String, time: Int64, _ r: inout Recipient, _ effects: inout [JourneyEffect]) {
        guard let book = table.books[id], !r.journeys.contains(where: { $0.journey == id }), r.journeys.count < Self.maxEnrolments else { return }
        let journey = book.current
        let entries = r.journeyEntries.first { $0.journey == id }?.count ?? 0
        if journey.reentry == .never, entries > 0 { return }
        if journey.exits.optOut, optedOut(r, journey) { return }
        if let at = r.journeyEntries.firstIndex(where: { $0.journey == id }) {
            r.journeyEntries[at].count += 1
        } else {
            r.journeyEntries.append(.init(journey: id, count: 1))
            r.journeyEntries.sort { $0.journey < $1.journey }
            if r.journeyEntries.count > 64 { r.journeyEntries.removeFirst() }
        }
        let variant = journey.experiment?.assign(userID: userID) ?? "all"
        r.journeys.append(JourneyEnrolment(journey: id, version: journey.version, sequence: entries + 1, variant: variant, at: time))
        count(id) { $0.entered += 1 }
        effects.append(.entered(journey: id, variant: variant))
        advance(r.journeys.count - 1, journey, userID: userID, time: time, &r, &effects)
    }

    /// Runs steps from where the enrolment is until a wait, the end of the run, or an exit.
    private mutating func advance(_ index: Int, _ journey: Journey, userID: String, time: Int64, _ r: inout Recipient, _ effects: inout [JourneyEffect]) {
        // Jumps only go forward, so a run takes at most one pass over the steps.
        for _ in 0...journey.steps.count {
            let e = r.journeys[index]
            guard e.step < journey.steps.count else {
                if let recurrence = journey.recurrence, e.run < recurrence.max {
                    r.journeys[index].dueMillis = e.runStartMillis + recurrence.everyMillis
                    return
                }
                return end(index, .completed, userID: userID, &r, &effects)
            }
            let step = journey.steps[e.step]
            count(journey.id) { $0.steps[step.id, default: .init()].entered += 1 }
            switch step.action {
            case .send(let template, let channels, let category):
                r.journeys[index].lastSent = step.id
                r.journeys[index].mark(step.id, "sent", at: time)
                r.journeys[index].step += 1
                effects.append(.send(journey: journey.id, step: step.id, template: template, channels: channels, category: category ?? journey.category,
                                     messageID: "\(e.idBase(userID: userID)):\(e.run):\(step.id)", variant: e.variant))
            case .wait(let wait):
                r.journeys[index].dueMillis = due(of: wait, from: time, r)
                return
            case .branch(let condition, let then, let otherwise):
                let holds = condition.holds(for: r, variant: e.variant)
                let target = holds ? then : otherwise
                r.journeys[index].mark(step.id, holds ? "then" : "else", at: time)
                r.journeys[index].step = target.flatMap(journey.index(of:)) ?? e.step + 1
            case .grant(let points, let reason):
                r.journeys[index].mark(step.id, "granted", at: time)
                r.journeys[index].step += 1
                let hash = StableHash.fnv1a("\(e.idBase(userID: userID)):\(e.run):\(step.id)")
                effects.append(.grant(journey: journey.id, step: step.id, requestID: "journey:\(journey.id):\(String(hash, radix: 16))", points: points, reason: reason))
            case .exit:
                r.journeys[index].mark(step.id, "exit", at: time)
                return end(index, .completed, userID: userID, &r, &effects)
            }
        }
    }

    private mutating func finishWait(_ index: Int, _ journey: Journey, _ wait: Journey.Wait, how: String, userID: String, time: Int64,
                                     _ r: inout Recipient, _ effects: inout [JourneyEffect]) {
        let step = journey.steps[r.journeys[index].step]
        count(journey.id) { $0.steps[step.id, default: .init()].waited += 1 }
        r.journeys[index].mark(step.id, how, at: time)
        r.journeys[index].dueMillis = nil
        let target = how == "event" ? wait.onEvent : how == "timeout" ? wait.onTimeout : nil
        r.journeys[index].step = target.flatMap(journey.index(of:)) ?? r.journeys[index].step + 1
        advance(index, journey, userID: userID, time: time, &r, &effects)
    }

    /// The next run of a recurring journey, if the user still qualifies.
    private mutating func nextRun(_ index: Int, _ journey: Journey, userID: String, time: Int64, _ r: inout Recipient, _ effects: inout [JourneyEffect]) {
        let qualifies: Bool
        switch journey.entry {
        case .segment(let dimension, let value): qualifies = Self.isIn(r, dimension: dimension, value: value)
        case .audience(let audience): qualifies = audience.matches(r, at: time)
        case .trigger, .repurchaseDue: qualifies = false
        }
        guard qualifies else { return end(index, .leftSegment, userID: userID, &r, &effects) }
        let due = r.journeys[index].dueMillis ?? time
        r.journeys[index].run += 1
        r.journeys[index].step = 0
        r.journeys[index].runStartMillis = due
        r.journeys[index].dueMillis = nil
        advance(index, journey, userID: userID, time: time, &r, &effects)
    }

    /// Whether the user is in a segment now, as notify knows it (its latest profile and the
    /// operators' segments it was told of).
    static func isIn(_ r: Recipient, dimension: String, value: String) -> Bool {
        if dimension.hasPrefix("custom:") { return value == "true" && r.customSegments.contains(String(dimension.dropFirst(7))) }
        switch dimension {
        case "segment": return r.profile.segment == value
        case "lifecycle": return r.profile.lifecycle == value
        case "tier": return r.profile.tier == value
        case "super_user": return (r.profile.superUser ? "true" : "false") == value
        default: return false
        }
    }

    private mutating func end(_ index: Int, _ reason: JourneyEndReason, userID: String, _ r: inout Recipient, _ effects: inout [JourneyEffect]) {
        let e = r.journeys.remove(at: index)
        let step = table.books[e.journey]?.version(e.version).flatMap { e.step < $0.steps.count ? $0.steps[e.step].id : nil }
        count(e.journey) { $0.exited[reason.rawValue, default: 0] += 1 }
        effects.append(.ended(journey: e.journey, reason: reason, step: step, idBase: e.idBase(userID: userID) + ":"))
    }

    /// When a wait that starts at `time` ends: its duration, then the next local time of day if
    /// it names one (in the user's time zone, daylight saving included).
    func due(of wait: Journey.Wait, from time: Int64, _ r: Recipient) -> Int64 {
        let after = time + wait.durationMillis
        guard let minute = wait.localMinute else { return after }
        return Self.nextLocalTime(minute: minute, atOrAfter: after, zone: zone(of: r))
    }

    func zone(of r: Recipient) -> TimeZone {
        r.contacts.timeZone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: delivery.defaultTimeZone) ?? TimeZone(secondsFromGMT: 0)!
    }

    /// The first instant at or after `time` whose local time in `zone` is `minute` after
    /// midnight. On a day that skips that time (daylight saving starts), the first instant after
    /// the gap; on a day that has it twice, the first.
    public static func nextLocalTime(minute: Int, atOrAfter time: Int64, zone: TimeZone) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let start = Date(timeIntervalSince1970: Double(time - 1) / 1000)
        guard let next = calendar.nextDate(after: start, matching: DateComponents(hour: minute / 60, minute: minute % 60, second: 0),
                                           matchingPolicy: .nextTime, repeatedTimePolicy: .first, direction: .forward) else { return time }
        return Int64((next.timeIntervalSince1970 * 1000).rounded())
    }

    private mutating func count(_ journey: String, _ body: (inout JourneyFunnel) -> Void) {
        guard table.books[journey] != nil else { return }
        body(&table.books[journey]!.funnel)
        changed = true
    }

    /// The processor's part of the funnel: whether a step's message went out or was suppressed.
    public mutating func countSend(_ journey: String, step: String, sent: Bool) {
        count(journey) { f in if sent { f.steps[step, default: .init()].sent += 1 } else { f.steps[step, default: .init()].suppressed += 1 } }
    }
}
