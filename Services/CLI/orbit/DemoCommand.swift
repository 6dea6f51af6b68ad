import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitDemoData
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitScoring

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start everything (as `orbit up`), publish a synthetic population, and print what each service produced.",
        discussion: "Exits 0 when every service's output matches what was published (every valid event once on .valid, every bad one on the dead-letter topic, duplicates dropped), 1 otherwise."
    )

    @Option(help: "Users in the synthetic population.") var users = 1000
    @Option(help: "Random seed: the same seed gives the same population.") var seed: UInt64 = 42
    @Option(help: "Partitions per Orbit topic.") var partitions = TopicCatalogue.defaultPartitions
    @Option(help: "Seconds to wait for the services to catch up.") var timeout: Double = 180
    @Option(help: "Directory of the services' YAML configuration.") var configDirectory = "deploy/config"
    @Flag(help: "Show the services' logs.") var verbose = false
    @Flag(help: "Check a stack that already runs (docker-compose, or `orbit up` elsewhere) instead of starting one: publish as an outside system would, then check every service's output.")
    var attach = false
    @Option(help: "With --attach: run the local SMTP server on this port, where the stack's orbit-notify delivers mail, and check arrivals there.")
    var mailPort: Int?
    @Option(help: "With --attach: run the local webhook gateway (SMS, push) on this port and check arrivals there.")
    var gatewayPort: Int?
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try OptionChecks.require(users, "users", in: 1...1_000_000)
        try OptionChecks.require(timeout, "timeout", above: 0)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
        try OptionChecks.require(mailPort, "mail-port", in: OptionChecks.port)
        try OptionChecks.require(gatewayPort, "gateway-port", in: OptionChecks.port)
    }

    func run() async throws {
        let started = Date()
        let population = DemoPopulation(users: users, seed: seed, now: Int64(Date().timeIntervalSince1970 * 1000)).generate()
        var expectedValid = Set<String>()
        var expectedBad: [String: Int] = [:]
        var duplicates = 0
        for record in population {
            switch record.expectation {
            case .valid(let id): expectedValid.insert(id)
            case .bad(let code): expectedBad[code, default: 0] += 1
            case .duplicate: duplicates += 1
            }
        }
        let expectedBadTotal = expectedBad.values.reduce(0, +)
        Output.line("orbit demo: \(users) users, \(population.count) records (\(expectedValid.count) valid events, \(duplicates) re-sent duplicates, \(expectedBadTotal) bad records)")

        let target = try attach ? DemoTarget.attached(connection: connection, mailPort: mailPort, gatewayPort: gatewayPort)
                                : DemoTarget.local(partitions: partitions, configDirectory: configDirectory, verbose: verbose)
        defer { target.stop() }
        let kafka = target.kafka
        Output.line("orbit demo: \(target.description)")

        // Contacts and preferences first, as a CRM would have them before users act; the
        // notification service has read them before the events arrive.
        let notify = NotifyDemo(kafka: kafka, mail: target.mail, gateway: target.gateway)
        try notify.publishContacts(users: DemoContacts.userIDs(users), now: Int64(Date().timeIntervalSince1970 * 1000))
        _ = notify.caughtUp(timeout: timeout)

        let journeys = JourneysDemo(kafka: kafka, users: DemoContacts.userIDs(users), seed: seed, configDirectory: configDirectory, timeout: timeout)

        let producer = try KafkaProducer(configuration: kafka, name: "orbit-demo", logger: Logger(label: "orbit.demo"))
        let batch = DeliveryBatch()
        let publishStart = Date()
        for record in population {
            try producer.send(ProducerRecord(topic: OrbitTopics.userEvents, key: record.key, value: record.value), in: batch)
        }
        try batch.waitForAll()
        producer.close()
        Output.line(String(format: "orbit demo: published %d records in %.2f s", population.count, Date().timeIntervalSince(publishStart)))

        let collector = try TopicReader(kafka: kafka, topics: [OrbitTopics.validEvents, OrbitTopics.deadLetters])
        let complete = try collector.read(timeout: timeout) { records in
            if let failed = target.exited() { printError("orbit demo: \(failed.name) exited with status \(failed.status)"); return true }
            return records[OrbitTopics.validEvents, default: []].count >= expectedValid.count
                && records[OrbitTopics.deadLetters, default: []].count >= expectedBadTotal
        }
        let elapsed = Date().timeIntervalSince(publishStart)
        let report = DemoReport(valid: collector.records[OrbitTopics.validEvents] ?? [], deadLetters: collector.records[OrbitTopics.deadLetters] ?? [])
        report.print(elapsed: elapsed)

        // The scorer: wait until it has read everything (events and referral credits) and its
        // profiles have settled (thresholds are re-evaluated every 2 s locally).
        let profiles = try TopicReader(kafka: kafka, topics: [OrbitTopics.userProfiles])
        var stableSince: Date?
        var lastCount = -1
        let scored = try profiles.read(timeout: timeout) { records in
            let count = records[OrbitTopics.userProfiles, default: []].count
            let lag = (try? consumerLag(kafka: kafka, group: "orbit-scorer", topics: [OrbitTopics.validEvents, OrbitTopics.scorerReferralCredits])) ?? 1
            if lag == 0 && count == lastCount && count > 0 {
                stableSince = stableSince ?? Date()
            } else {
                stableSince = nil
            }
            lastCount = count
            return stableSince.map { Date().timeIntervalSince($0) > 5 } ?? false
        }
        let scoring = ScoringReport(profiles: profiles.records[OrbitTopics.userProfiles] ?? [])
        scoring.print()

        // Membership: wait until both of its stages have read everything; then some members redeem
        // (one in five asks for 500 points, a few ask twice with the same request id).
        let membersCaughtUp = {
            waitUntilCaughtUp(kafka: kafka, groups: [("orbit-members-router", [OrbitTopics.validEvents, OrbitTopics.memberCommands, OrbitTopics.membersInternal]),
                                            ("orbit-members", [OrbitTopics.membersInputs]),
                                            ("orbit-members-stock", [OrbitTopics.membersStockRequests]),
                                            ("orbit-members-coupons", [OrbitTopics.membersCouponRequests])],
                     outputs: [OrbitTopics.pointsLedger, OrbitTopics.memberEvents], minimumRounds: 2, timeout: timeout)
        }
        _ = membersCaughtUp()
        let commandProducer = try KafkaProducer(configuration: kafka, name: "orbit-demo-commands", logger: Logger(label: "orbit.demo"))
        let commands = DeliveryBatch()
        for (index, user) in report.users.sorted().enumerated() where index % 5 == 0 {
            let command = #"{"type":"redeem","request_id":"demo-\#(user)","user_id":"\#(user)","points":500,"reward_id":"voucher-5"}"#
            try commandProducer.send(ProducerRecord(topic: OrbitTopics.memberCommands, key: user, value: Array(command.utf8)), in: commands)
            if index % 25 == 0 { try commandProducer.send(ProducerRecord(topic: OrbitTopics.memberCommands, key: user, value: Array(command.utf8)), in: commands) }
        }
        try commands.waitForAll()
        // The points mall: the catalogue (read by the ledger and the stock stage as a global
        // table), a moment for it to arrive, then redemptions by part of the population.
        let mall = DeliveryBatch()
        for record in DemoMall.catalogue() { try commandProducer.send(ProducerRecord(topic: OrbitTopics.rewards, key: record.key, value: record.value), in: mall) }
        try mall.waitForAll()
        try await Task.sleep(for: .seconds(2))
        let redemptions = DemoMall.commands(users: report.users.sorted(), now: Int64(Date().timeIntervalSince1970 * 1000))
        let mallCommands = DeliveryBatch()
        for record in redemptions {
            try commandProducer.send(ProducerRecord(topic: OrbitTopics.memberCommands, key: record.key, value: record.value, timestampMillis: record.timestampMillis), in: mallCommands)
        }
        try mallCommands.waitForAll()
        commandProducer.close()
        _ = membersCaughtUp()
        let points = try TopicReader(kafka: kafka, topics: [OrbitTopics.pointsLedger, OrbitTopics.memberAccounts, OrbitTopics.memberEvents, OrbitTopics.rewardFulfilment])
        try points.readToEnd()
        let membership = MembershipReport(ledger: points.records[OrbitTopics.pointsLedger] ?? [], accounts: points.records[OrbitTopics.memberAccounts] ?? [])
        membership.print()
        let mallReport = MallReport(memberEvents: points.records[OrbitTopics.memberEvents] ?? [], fulfilment: points.records[OrbitTopics.rewardFulfilment] ?? [],
                                    ledger: membership.verification)
        mallReport.print()
        let coupons = try await CouponDemo.run(kafka: kafka, memberEvents: points.records[OrbitTopics.memberEvents] ?? [], timeout: timeout)
        coupons.print()

        // Notification: let it catch up with the triggers, run a campaign to loyal users, report.
        _ = notify.caughtUp(timeout: timeout)
        _ = try notify.startCampaign()
        let notified = notify.caughtUp(timeout: timeout)
        var problems: [String] = try notify.report()
        if !notified { problems.append("timed out waiting for orbit-notify") }

        // Journeys over a simulated week (orbit-notify must follow the stream clock: the local stack).
        if attach {
            Output.line("orbit demo: journeys' simulated week skipped with --attach (it needs orbit-notify on the stream clock, `notify.clock: stream`)")
        } else {
            problems += try await journeys.runWeek(start: Int64(Date().timeIntervalSince1970 * 1000))
        }

        // The churn models refitted on this population, deployed to the scorers, and the
        // calibration before (the shipped CDNOW model) and after. Last: the scorers re-evaluate
        // everyone with the new models, which moves users between lifecycle stages. Not on an
        // attached stack: its scorers' models are its operators' to change.
        if attach {
            Output.line("orbit demo: the models' refit skipped with --attach (it would deploy to the attached stack's scorers)")
        } else {
            try refitModels(kafka: kafka)
        }

        if !scored { problems.append("timed out waiting for the scorer") }
        if scoring.users != report.users { problems.append("profiles for \(scoring.users.count) users, but \(report.users.count) users have events") }
        if !membership.violations.isEmpty { problems.append("points ledger: \(membership.violations.count) violations, e.g. \(membership.violations[0])") }
        problems += mallReport.problems(requests: Set(redemptions.compactMap { try? JSONParser.parse($0.value).objectValue?["request_id"]?.stringValue }).count)
        problems += coupons.problems
        if membership.accounts < report.users.count { problems.append("points accounts for \(membership.accounts) users, but \(report.users.count) users have events") }
        if !complete { problems.append("timed out after \(Int(timeout)) s waiting for the services") }
        if report.validIDs != expectedValid {
            problems.append("valid events: expected \(expectedValid.count) distinct ids, got \(report.validIDs.count) (missing \(expectedValid.subtracting(report.validIDs).count), unexpected \(report.validIDs.subtracting(expectedValid).count))")
        }
        if report.duplicateValid > 0 { problems.append("\(report.duplicateValid) event ids appeared twice on \(OrbitTopics.validEvents)") }
        if report.rejectedByCode != expectedBad { problems.append("dead letters by code: expected \(expectedBad.sorted { $0.key < $1.key }), got \(report.rejectedByCode.sorted { $0.key < $1.key })") }
        Output.line(String(format: "orbit demo: finished in %.1f s", Date().timeIntervalSince(started)))
        if problems.isEmpty {
            Output.line("orbit demo: OK: every valid event reached \(OrbitTopics.validEvents) exactly once, every bad record is on \(OrbitTopics.deadLetters) with its reason, \(duplicates) duplicates dropped")
        } else {
            for problem in problems { printError("orbit demo: PROBLEM: \(problem)") }
            throw ExitCode(1)
        }
    }
}

extension DemoCommand {
    /// `orbit model fit --from-state --apply` on the demo's population, with the calibration
    /// before and after.
    func refitModels(kafka: KafkaConfiguration) throws {
        let configured = try ModelCommand.configuredPolicy("\(configDirectory)/scoring.yaml")
        Output.line("== the churn models: refitted on this population (orbit model fit --from-state --apply) ==")
        Output.line("  before (\(configDirectory)/scoring-model.yaml, CDNOW's customers): " + String(format: "r %.4f alpha %.4f a %.4f b %.4f",
                    configured.purchaseModel.r, configured.purchaseModel.alpha, configured.purchaseModel.a, configured.purchaseModel.b))
        let customers = try ModelCommand.Fit.historiesFromState(kafka, policy: configured)
        let outcome = ChurnModelFit.fit(customers, timeUnitDays: configured.modelTimeUnitDays)
        try ModelCommand.deploy(outcome, source: "state of orbit-scorer (orbit demo)", atMillis: Int64(Date().timeIntervalSince1970 * 1000), configured: configured, kafka: kafka)
        switch outcome {
        case .failure(let refusal):
            // A small population (--users) is too few customers: the refusal is what it should do.
            Output.line("  refused (\(refusal.code)): \(refusal); the shipped model stays\n")
        case .success(let fit):
            let m = fit.purchases
            Output.line("  after: " + String(format: "r %.4f alpha %.4f a %.4f b %.4f (log-likelihood %.1f, %d customers, %d with repeat purchases)",
                                             m.r, m.alpha, m.a, m.b, fit.logLikelihood, fit.customers, fit.repeatCustomers))
            if let g = fit.spend { Output.line("  Gamma-Gamma: " + String(format: "p %.4f q %.4f v %.4f (%d customers)", g.p, g.q, g.v, fit.spendCustomers)) }
            try ModelCommand.Calibration.print(kafka: kafka, configured: configured, holdoutDays: 90, indent: "  ")
            Output.line("")
        }
    }
}

/// What the services produced, summarised for people.
struct DemoReport {
    var validIDs = Set<String>()
    var duplicateValid = 0
    var byType: [String: Int] = [:]
    var netSpendUSD: [String: Int64] = [:]
    var rejectedByCode: [String: Int] = [:]
    var users = Set<String>()

    init(valid: [ConsumerRecord], deadLetters: [ConsumerRecord]) {
        for record in valid {
            guard let value = record.value, let event = try? UserEvent.decode(value) else { continue }
            if !validIDs.insert(event.id).inserted { duplicateValid += 1; continue }
            byType[event.type.name, default: 0] += 1
            users.insert(event.userID)
            if event.properties["currency"]?.stringValue == "USD", let minor = event.properties["amount_minor"]?.numberValue?.int64Value {
                if event.type == .purchase { netSpendUSD[event.userID, default: 0] += minor }
                if event.type == .refund { netSpendUSD[event.userID, default: 0] -= minor }
            }
        }
        for record in deadLetters {
            guard let value = record.value, let object = try? JSONParser.parse(value).objectValue,
                  let code = object["error"]?.objectValue?["code"]?.stringValue else { continue }
            rejectedByCode[code, default: 0] += 1
        }
    }

    func print(elapsed: TimeInterval) {
        Swift.print("\n== orbit-ingest: \(OrbitTopics.validEvents) ==")
        Swift.print("  \(validIDs.count) events from \(users.count) users (\(String(format: "%.0f", Double(validIDs.count) / max(elapsed, 0.001))) events/s end to end)")
        for (type, count) in byType.sorted(by: { $0.value > $1.value }) {
            Swift.print("  \(type.padding(toLength: 24, withPad: " ", startingAt: 0)) \(count)")
        }
        Swift.print("  top spenders (net USD):")
        for (user, minor) in netSpendUSD.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }).prefix(5) {
            Swift.print("    \(user)  $\(minor / 100).\(String(format: "%02d", minor % 100))")
        }
        Swift.print("\n== orbit-ingest: \(OrbitTopics.deadLetters) ==")
        for (code, count) in rejectedByCode.sorted(by: { $0.key < $1.key }) {
            Swift.print("  \(code.padding(toLength: 24, withPad: " ", startingAt: 0)) \(count)")
        }
        Swift.print("")
        fflush(nil)
    }
}

/// What the scorer produced, summarised for people: the RFM segment matrix, lifecycle stages,
/// value tiers and super users.
struct ScoringReport {
    var latest: [String: JSONObject] = [:]
    var users: Set<String> { Set(latest.keys) }

    init(profiles: [ConsumerRecord]) {
        for record in profiles {
            guard let key = record.key, let value = record.value, let object = try? JSONParser.parse(value).objectValue else { continue }
            latest[String(decoding: key, as: UTF8.self)] = object
        }
    }

    func print() {
        func count(_ path: (JSONObject) -> String?) -> [String: Int] {
            var result: [String: Int] = [:]
            for profile in latest.values { if let v = path(profile) { result[v, default: 0] += 1 } }
            return result
        }
        Swift.print("== orbit-scorer: \(OrbitTopics.userProfiles) ==")
        Swift.print("  \(latest.count) user profiles")
        Swift.print("  RFM value segments:")
        let segments = count { $0["segment"]?.stringValue }
        for segment in ["important_value", "important_keep", "important_develop", "important_retain", "general_value", "general_keep", "general_develop", "general_retain"] {
            Swift.print("    \(segment.padding(toLength: 20, withPad: " ", startingAt: 0)) \(segments[segment] ?? 0)")
        }
        Swift.print("  RFM matrix (rows: R 5..1, columns: F 1..5; users):")
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: 5), count: 5)
        for profile in latest.values {
            if let rfm = profile["rfm"]?.objectValue, let r = rfm["r"]?.numberValue?.int64Value, let f = rfm["f"]?.numberValue?.int64Value {
                matrix[5 - Int(r)][Int(f) - 1] += 1
            }
        }
        for (row, counts) in matrix.enumerated() {
            Swift.print("    R\(5 - row) " + counts.map { String($0).leftPadded(6) }.joined())
        }
        let stages = count { $0["lifecycle"]?.objectValue?["stage"]?.stringValue }
        Swift.print("  lifecycle: " + ["new", "active", "at_risk", "churned", "reactivated"].map { "\($0) \(stages[$0] ?? 0)" }.joined(separator: ", "))
        let tiers = count { $0["tier"]?.stringValue }
        Swift.print("  value tiers: " + ["S", "A", "B"].map { "\($0) \(tiers[$0] ?? 0)" }.joined(separator: ", "))
        let mvps = latest.filter { $0.value["super_user"] == .bool(true) }.keys.sorted()
        Swift.print("  super users: \(mvps.count)\(mvps.isEmpty ? "" : " (" + mvps.prefix(8).joined(separator: ", ") + (mvps.count > 8 ? ", ..." : "") + ")")")
        let converted = latest.values.compactMap { $0["referral_circle"]?.objectValue?["converted"]?.numberValue?.int64Value }.filter { $0 > 0 }
        Swift.print("  referral circles: \(converted.count) referrers with converted referees (\(converted.reduce(0, +)) conversions)")
        Swift.print("")
        fflush(nil)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// Waits until consumer groups have worked through everything on their topics and what it set off:
/// in rounds, each group must commit up to where its topics ended when the round began, and the
/// rounds go on until one adds nothing to `outputs` (at least `minimumRounds`, one per hop of the
/// cascade). Unlike waiting for a lag of zero, this ends while clock ticks keep arriving: a service
/// that turns time into inputs (every 2 s locally) is never idle for long, and a lag sampled every
/// few hundred milliseconds then catches a tick in flight often enough to wait out any timeout.
func waitUntilCaughtUp(kafka: KafkaConfiguration, groups: [(group: String, topics: [String])], outputs: [String],
                       minimumRounds: Int = 3, pause: TimeInterval = 2.5, timeout: TimeInterval) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    func positions() -> [[TopicPartition: (committed: Int64, high: Int64)]]? {
        try? groups.map { try consumerPositions(kafka: kafka, group: $0.group, topics: $0.topics) }
    }
    func produced() -> Int64? {
        try? consumerPositions(kafka: kafka, group: "orbit-demo-probe", topics: outputs).values.reduce(0) { $0 + $1.high }
    }
    var rounds = 0
    var before = produced()
    while Date() < deadline {
        guard let targets = positions() else { usleep(200_000); continue }
        while Date() < deadline {
            if let now = positions(), zip(now, targets).allSatisfy({ current, target in
                target.allSatisfy { partition, position in (current[partition]?.committed ?? 0) >= position.high }
            }) { break }
            usleep(200_000)
        }
        guard Date() < deadline else { return false }
        rounds += 1
        usleep(UInt32(pause * 1_000_000))
        let after = produced()
        if rounds >= minimumRounds, let before, let after, after == before { return true }
        before = after
    }
    return false
}

/// What the membership service produced: points issued, redeemed, expired, levels.
struct MembershipReport {
    var issued: Int64 = 0
    var redeemed: Int64 = 0
    var expired: Int64 = 0
    var reversed: Int64 = 0
    var accounts = 0
    var levels: [String: Int] = [:]
    /// The ledger's check (what `orbit verify ledger` runs), holds included.
    let verification: LedgerVerifier.Report
    var violations: [String] { verification.violations }

    init(ledger: [ConsumerRecord], accounts records: [ConsumerRecord]) {
        var seen = Set<String>()
        for record in ledger {
            guard let entry = try? JSONParser.parse(record.value ?? []).objectValue, let key = entry["key"]?.stringValue,
                  let user = entry["user_id"]?.stringValue, seen.insert("\(user)/\(key)").inserted,
                  let points = entry["points"]?.numberValue?.int64Value else { continue }
            switch entry["kind"]?.stringValue {
            case "earn": issued += points
            case "adjust" where points > 0: issued += points
            case "redeem": redeemed -= points
            case "expire": expired -= points
            case "reverse": reversed -= points
            default: break
            }
        }
        var latest: [String: JSONObject] = [:]
        for record in records {
            guard let key = record.key, let object = try? JSONParser.parse(record.value ?? []).objectValue else { continue }
            latest[String(decoding: key, as: UTF8.self)] = object
        }
        accounts = latest.count
        for account in latest.values { levels[account["level"]?.stringValue ?? "?", default: 0] += 1 }
        verification = LedgerVerifier.verify(ledger: ledger.map { ($0.key, $0.value) }, accounts: records.map { ($0.key, $0.value) }, allowNegative: false)
    }

    func print() {
        Swift.print("== orbit-members: \(OrbitTopics.pointsLedger), \(OrbitTopics.memberAccounts) ==")
        Swift.print("  \(accounts) accounts; points issued \(issued), redeemed \(redeemed), expired \(expired), reversed by refunds \(reversed)")
        Swift.print("  levels: " + levels.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        Swift.print("  ledger invariants: \(violations.isEmpty ? "0 violations" : "\(violations.count) VIOLATIONS")")
        Swift.print("")
        fflush(nil)
    }
}

/// The points mall's outcome: redemptions by result, what each reward issued against its stock,
/// goods sent to fulfilment, and holds left open.
struct MallReport {
    var results: [String: Int] = [:]
    var requests = 0
    var issued: [String: Int64] = [:]
    var fulfilment = 0
    var openHolds = 0
    var committed = 0

    /// - Parameter ledger: the ledger's check the membership report already made.
    init(memberEvents: [ConsumerRecord], fulfilment: [ConsumerRecord], ledger report: LedgerVerifier.Report) {
        var seen = Set<String>()
        for record in memberEvents {
            guard let o = try? JSONParser.parse(record.value ?? []).objectValue else { continue }
            if o["kind"]?.stringValue == "command_result", o["command"]?.stringValue == "redeem_reward", let id = o["request_id"]?.stringValue, seen.insert(id).inserted {
                results[o["status"]?.stringValue == "accepted" ? "accepted" : o["reason"]?.stringValue ?? "?", default: 0] += 1
            }
            if o["kind"]?.stringValue == "reward_redeemed", let id = o["redemption_id"]?.stringValue, seen.insert("redeemed:\(id)").inserted,
               let reward = o["reward_id"]?.stringValue {
                issued[reward, default: 0] += o["quantity"]?.numberValue?.int64Value ?? 0
            }
        }
        requests = seen.filter { !$0.hasPrefix("redeemed:") }.count
        self.fulfilment = Set(fulfilment.compactMap(\.key)).count
        openHolds = report.openHolds.values.reduce(0) { $0 + $1.count }
        committed = report.committed
    }

    func print() {
        Swift.print("== the points mall: \(OrbitTopics.rewards), redeem_reward ==")
        Swift.print("  \(requests) redemptions: " + results.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        for reward in DemoMall.rewards {
            let stock: String
            switch reward.stock {
            case .limited(let n): stock = "of \(n) in stock"
            case .unlimited: stock = "(unlimited)"
            }
            Swift.print("  \(reward.id): \(issued[reward.id] ?? 0) issued \(stock)")
        }
        Swift.print("  goods to fulfilment: \(fulfilment); holds left open: \(openHolds)")
        Swift.print("")
        fflush(nil)
    }

    func problems(requests expected: Int) -> [String] {
        var problems: [String] = []
        if requests != expected { problems.append("points mall: \(requests) redemptions have a result, \(expected) were requested") }
        for reward in DemoMall.rewards {
            if case .limited(let n) = reward.stock, (issued[reward.id] ?? 0) > n { problems.append("points mall: \(reward.id) issued \(issued[reward.id]!) of a stock of \(n)") }
        }
        if openHolds > 0 { problems.append("points mall: \(openHolds) holds left open") }
        if results["accepted", default: 0] != committed { problems.append("points mall: \(results["accepted", default: 0]) accepted but \(committed) holds committed") }
        if results["out_of_stock", default: 0] == 0 { problems.append("points mall: no redemption met an empty stock (the demo's stocks are small on purpose)") }
        return problems
    }
}
