import Foundation
import Logging
import OrbitContract
import OrbitDemoData
import OrbitKafka
import OrbitNotify
import OrbitRuntime

/// The journeys part of `orbit demo`: the three journeys of `deploy/journeys/journeys.yaml` over a
/// simulated week, with a population that answers their messages (``DemoResponses``).
///
/// orbit-notify runs on the stream clock here (`notify.clock: stream`), so the week passes as the
/// demo publishes events dated later: each simulated day is two steps, first the users' answers
/// (dated at the day's start: "they act the next morning"), then hourly activity that carries the
/// clock through the day, each step waited out until orbit-notify has read it. Answers come first,
/// so a user who buys at 00:00 has left the win-back journey before any later step is due: no
/// message of a journey may be created after its user's answer, which the demo checks.
struct JourneysDemo {
    let kafka: KafkaConfiguration
    let users: [String]
    let seed: UInt64
    let configDirectory: String
    let timeout: TimeInterval

    static let file = "deploy/journeys/journeys.yaml"
    /// Users who sign up during the week (they walk the onboarding journey).
    static let newUsers = 120
    /// Paid members whose plan ends 10 days into the week (the renewal journey).
    static let renewingMembers = 80
    static let day: Int64 = 86_400_000
    static let hour: Int64 = 3_600_000

    /// The demo's journeys, checked against the notification configuration as `orbit journeys apply` does.
    func journeys() throws -> [Journey] {
        let settings = try NotifyCommand.settings("\(configDirectory)/notify.yaml")
        do { return try JourneyFile.load(path: Self.file, policy: settings.policy) } catch { throw CLIError("\(error)") }
    }

    /// Publishes the journeys (version 1, active) as `orbit journeys apply` would, but for one
    /// change: win-back enrols the users at risk when it starts (an audience entry) instead of each
    /// user as they become at risk. The scorer keeps the wall clock, so nobody becomes at risk
    /// during a simulated week; and the population's year of history, published in seconds, moves
    /// users in and out of at risk while the scorer catches up, which a deployment going live
    /// does not see.
    func apply() throws {
        let records = try journeys().map { journey -> JourneyRecord in
            var journey = journey
            journey.version = 1
            if journey.id == "winback" {
                var atRisk = AudienceFilter()
                atRisk.lifecycles = ["at_risk"]
                journey.entry = .audience(atRisk)
                journey.exits.leftSegment = false
            }
            return JourneyRecord(journey: journey, status: .active)
        }
        try send(records.map { ProducerRecord(topic: OrbitTopics.journeys, key: Array($0.id.utf8), value: $0.encoded()) })
    }

    private func send(_ records: [ProducerRecord]) throws {
        try publishAll(records, kafka: kafka, name: "orbit-demo-journeys")
    }

    private func event(_ id: String, _ user: String, _ type: String, _ time: Int64) -> ProducerRecord {
        ProducerRecord(topic: OrbitTopics.userEvents, key: Array(user.utf8), value: DemoResponses.event(id: id, user: user, type: type, time: time))
    }

    /// Until ingestion, membership's router and orbit-notify have read everything.
    private func caughtUp() -> Bool {
        waitUntilCaughtUp(kafka: kafka, groups: [("orbit-ingest", [OrbitTopics.userEvents])] + NotifyDemo.groups,
                          outputs: [OrbitTopics.notifications, OrbitTopics.journeyProgress, OrbitTopics.experimentOutcomes], minimumRounds: 2, pause: 1.5, timeout: timeout)
    }

    /// What the week produced so far: each message of an experiment (journeys included), by
    /// experiment and user, and each user's assignment.
    private func observe() throws -> (messages: [String: [Int64]], assigned: [String: (variant: String, time: Int64)]) {
        let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.notifications, OrbitTopics.experimentOutcomes])
        try reader.readToEnd()
        var messages: [String: [Int64]] = [:]
        for record in reader.records[OrbitTopics.notifications] ?? [] {
            guard let n = try? OutboxNotification.decode(record.value ?? []), let experiment = n.experiment else { continue }
            messages["\(experiment)/\(n.userID)", default: []].append(n.createdMillis)
        }
        var assigned: [String: (variant: String, time: Int64)] = [:]
        for record in reader.records[OrbitTopics.experimentOutcomes] ?? [] {
            guard let o = try? JSONParser.parse(record.value ?? []).objectValue, o["kind"]?.stringValue == "assigned",
                  let experiment = o["experiment"]?.stringValue, let user = o["user_id"]?.stringValue,
                  let time = o["time"]?.stringValue.flatMap({ try? RFC3339.parse($0) }) else { continue }
            let key = "\(experiment)/\(user)"
            if assigned[key] == nil { assigned[key] = (o["variant"]?.stringValue ?? "", time) }
        }
        return (messages, assigned)
    }

    /// Runs the week from `start` (at most the wall clock's now, so the whole week stays within
    /// ingestion's allowed skew) and returns the problems found.
    func runWeek(start: Int64) async throws -> [String] {
        let weekStart = start / Self.hour * Self.hour
        let newUsers = (0..<Self.newUsers).map { String(format: "n%06d", $0) }
        let renewing = Array(users.sorted().enumerated().filter { $0.offset % 7 == 3 }.map(\.element).prefix(Self.renewingMembers))
        Output.line("\n== journeys: \(Self.file), a simulated week from \(RFC3339.format(millis: weekStart)) ==")

        // Day 0: the journeys go live; new users' contacts arrive as a CRM would send them; some
        // members' paid plans end in 10 days (they joined 350 days ago for 12 months).
        try apply()
        Output.line("  winback enrols the users at risk now (an audience entry: the scorer's clock does not move with the simulated week)")
        try send(DemoContacts.records(users: newUsers, now: weekStart).filter { $0.key != "orbit-operators" }
                    .map { ProducerRecord(topic: $0.topic, key: Array($0.key.utf8), value: $0.value) })
        try send(renewing.map { user in
            ProducerRecord(topic: OrbitTopics.memberCommands, key: Array(user.utf8),
                           value: Array(#"{"type":"join","request_id":"demo-week-join-\#(user)","user_id":"\#(user)","plan":"plus","months":12}"#.utf8),
                           timestampMillis: weekStart - 350 * Self.day)
        })
        _ = caughtUp()

        var decided = Set<String>()
        var answers: [(user: String, experiment: String, time: Int64)] = []
        var pending: [(user: String, experiment: String, time: Int64)] = []
        for day in 0..<7 {
            let dayStart = weekStart + Int64(day) * Self.day
            // 1. The answers due by this morning, dated at its start.
            var records: [ProducerRecord] = []
            if day == 0 {
                records += newUsers.map { event("demo-week-signup-\($0)", $0, "signup", dayStart) }
            }
            let due = pending.filter { $0.time <= dayStart }
            pending.removeAll { $0.time <= dayStart }
            for answer in due {
                let name = answer.experiment.replacingOccurrences(of: ":", with: "-")
                records.append(event("demo-week-\(name)-\(answer.user)", answer.user, DemoResponses.action(experiment: answer.experiment), dayStart))
                answers.append((answer.user, answer.experiment, dayStart))
            }
            try send(records)
            _ = caughtUp()
            // 2. The day's activity: a login an hour, which carries the clock to the day's end.
            try send((1...24).map { h in
                let user = users[(day * 24 + h) * 37 % users.count]
                return event("demo-week-login-\(day)-\(h)", user, "login", dayStart + Int64(h) * Self.hour - (h == 24 ? 60_000 : 0))
            })
            _ = caughtUp()
            // 3. Who will answer what arrived: after a message, or, unreached, on their own.
            let (messages, assigned) = try observe()
            for (key, entry) in assigned where !decided.contains(key) {
                guard let slash = key.lastIndex(of: "/") else { continue }
                let (experiment, user) = (String(key[..<slash]), String(key[key.index(after: slash)...]))
                let first = messages[key]?.min()
                guard first != nil || entry.time < dayStart else { continue }  // a day for a message to come
                decided.insert(key)
                let from = first ?? max(entry.time, weekStart)
                if let delay = DemoResponses.response(seed: seed, user: user, experiment: experiment, variant: entry.variant, messaged: first != nil) {
                    // They act the next morning after the delay, within the week.
                    let at = (from + delay - weekStart + Self.day - 1) / Self.day * Self.day + weekStart
                    if at < weekStart + 7 * Self.day { pending.append((user, experiment, at)) }
                }
            }
        }
        let lifecycleOptIns = newUsers.indices.filter { DemoContacts.acceptsMarketingAndLifecycle(index: $0) }.count
        return try report(answers: answers, newUsers: lifecycleOptIns, renewing: renewing.count)
    }

    /// Prints each journey's funnel and experiment and checks them against what the demo published.
    private func report(answers: [(user: String, experiment: String, time: Int64)], newUsers: Int, renewing: Int) throws -> [String] {
        let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.journeyProgress, OrbitTopics.experimentOutcomes, OrbitTopics.notifications,
                                                            OrbitTopics.notificationDeliveries])
        try reader.readToEnd()
        let funnels = JourneyReport(latest: reader.latest(OrbitTopics.journeyProgress))
        Swift.print(funnels.text().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        let experiments = ExperimentReports.from(outcomes: reader.records[OrbitTopics.experimentOutcomes] ?? [], outbox: reader.records[OrbitTopics.notifications] ?? [],
                                                 deliveries: reader.records[OrbitTopics.notificationDeliveries] ?? [])
        for experiment in experiments {
            Swift.print(experiment.text(minimumEffect: 0.05).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        let byExperiment = Dictionary(grouping: answers, by: \.experiment).mapValues(\.count)
        Swift.print("  the population's answers (\(DemoResponses.self)): "
                    + byExperiment.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) (\(DemoResponses.action(experiment: $0.key)))" }.joined(separator: ", "))
        Swift.print("")
        fflush(nil)

        var problems: [String] = []
        let rows = funnels.rows
        for id in ["winback", "onboarding", "renewal"] where rows[id] == nil { problems.append("journeys: no progress for \(id) on \(OrbitTopics.journeyProgress)") }
        // Users who opted out of the journey's category do not enter it.
        if let onboarding = rows["onboarding"], onboarding.funnel.entered != newUsers {
            problems.append("journeys: onboarding entered \(onboarding.funnel.entered), but \(newUsers) users who accept lifecycle messages signed up during the week")
        }
        if let renewal = rows["renewal"], renewal.funnel.entered != renewing {
            problems.append("journeys: renewal entered \(renewal.funnel.entered), but \(renewing) paid plans were announced as ending")
        }
        // Each funnel's conversions are the outcomes orbit-notify published.
        var converted: [String: Set<String>] = [:]
        var assigned: [String: Set<String>] = [:]
        for record in reader.records[OrbitTopics.experimentOutcomes] ?? [] {
            guard let o = try? JSONParser.parse(record.value ?? []).objectValue, let e = o["experiment"]?.stringValue, e.hasPrefix("journey:"),
                  let user = o["user_id"]?.stringValue else { continue }
            if o["kind"]?.stringValue == "converted" { converted[String(e.dropFirst(8)), default: []].insert(user) }
            if o["kind"]?.stringValue == "assigned" { assigned[String(e.dropFirst(8)), default: []].insert(user) }
        }
        for (id, row) in rows.sorted(by: { $0.key < $1.key }) {
            // An enrolment is assigned and converts at most once; a user may enter again after leaving.
            if row.funnel.entered < assigned[id]?.count ?? 0 { problems.append("journeys: \(id) entered \(row.funnel.entered), but \(assigned[id]?.count ?? 0) users were assigned") }
            if row.funnel.converted < converted[id]?.count ?? 0 { problems.append("journeys: \(id) counted \(row.funnel.converted) conversions, \(converted[id]?.count ?? 0) users on \(OrbitTopics.experimentOutcomes)") }
        }
        for experiment in experiments where experiment.rows.allSatisfy({ $0.converted == 0 }) {
            problems.append("experiments: nobody converted in \(experiment.experiment), though \(byExperiment[experiment.experiment] ?? 0) answered")
        }
        // A user who answered stops receiving that journey's messages at once (win-back exits on
        // a purchase; renewal's watch ends on the renewal).
        var messages: [String: [Int64]] = [:]
        for record in reader.records[OrbitTopics.notifications] ?? [] {
            guard let n = try? OutboxNotification.decode(record.value ?? []), n.trigger.hasPrefix("journey:") else { continue }
            messages["\(n.trigger)/\(n.userID)", default: []].append(n.createdMillis)
        }
        for answer in answers where answer.experiment == "journey:winback" || answer.experiment == "journey:renewal" {
            if let late = messages["\(answer.experiment)/\(answer.user)"]?.first(where: { $0 > answer.time }) {
                problems.append("journeys: \(answer.user) answered \(answer.experiment) at \(RFC3339.format(millis: answer.time)) but got a message at \(RFC3339.format(millis: late))")
                break
            }
        }
        return problems
    }
}
