import ArgumentParser
import Foundation
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitNotify
import OrbitReport
import OrbitRuntime
import OrbitScoring

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Reports from live topics.",
        discussion: "orbit report --html FILE writes the operations report: one self-contained HTML page (inline SVG, works offline).",
        subcommands: [Experiments.self, Journeys.self]
    )

    @Option(help: "Write the operations report to this HTML file.") var html: String?
    @Option(help: "Days of the model calibration's holdout period (the last days of purchases).") var holdoutDays = 90.0
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try OptionChecks.require(holdoutDays, "holdout-days", above: 0)
    }

    func run() async throws {
        guard let html else { throw CleanExit.helpRequest(self) }
        let kafka = try connection.configuration()
        let topics = [OrbitTopics.userProfiles, OrbitTopics.segmentChanges, OrbitTopics.pointsLedger, OrbitTopics.memberAccounts,
                      OrbitTopics.notifications, OrbitTopics.notificationDeliveries, OrbitTopics.experimentOutcomes, OrbitTopics.validEvents,
                      OrbitTopics.memberEvents, OrbitTopics.rewards, OrbitTopics.membersStockChangelog, OrbitTopics.coupons,
                      OrbitTopics.segmentCensus, OrbitTopics.segmentDefinitions, OrbitTopics.journeyProgress]
        let reader = try TopicReader(kafka: kafka, topics: topics)
        try reader.readToEnd(timeout: 300)
        func values(_ topic: String) -> [[UInt8]] { (reader.records[topic] ?? []).compactMap(\.value) }
        let now = Date()
        var data = ReportData(generatedAt: RFC3339.format(millis: Int64(now.timeIntervalSince1970 * 1000)))
        var policy = ScoringPolicy()
        if let scoring = try? ScoringSettings(document: ConfigDocument.load(path: "deploy/config/scoring.yaml")) {
            policy = scoring.policy
        }
        data.currencyDigits = policy.currencyDigits[policy.reportingCurrency] ?? 2
        data.addProfiles(values(OrbitTopics.userProfiles))
        data.addSegmentChanges(values(OrbitTopics.segmentChanges))
        data.addLedger(values(OrbitTopics.pointsLedger))
        let membership = try? MembershipSettings(document: ConfigDocument.load(path: "deploy/config/membership.yaml"))
        let levels = membership?.policy.levels.levels.map(\.name) ?? []
        data.addAccounts(values(OrbitTopics.memberAccounts), levelOrder: levels)
        data.addMall(memberEvents: values(OrbitTopics.memberEvents), catalogue: reader.latest(OrbitTopics.rewards), stock: reader.latest(OrbitTopics.membersStockChangelog),
                     accounts: values(OrbitTopics.memberAccounts), levels: levels, pointsPerUnit: membership?.policy.checkout.pointsPerUnit ?? 100)
        data.addCoupons(latest: reader.latest(OrbitTopics.coupons))
        data.addSegmentCensus(values(OrbitTopics.segmentCensus), definitions: reader.latest(OrbitTopics.segmentDefinitions))
        data.journeys = JourneyReport(latest: reader.latest(OrbitTopics.journeyProgress)).rows.values.sorted { $0.journey < $1.journey }
        for record in values(OrbitTopics.notificationDeliveries) {
            guard let d = DeliveryRecord.decode(record) else { continue }
            data.deliveries[d.channel.rawValue, default: [:]][d.status.rawValue, default: 0] += 1
        }
        data.experiments = ExperimentReports.from(outcomes: reader.records[OrbitTopics.experimentOutcomes] ?? [], outbox: reader.records[OrbitTopics.notifications] ?? [],
                                                  deliveries: reader.records[OrbitTopics.notificationDeliveries] ?? [])
        let today = now.timeIntervalSince1970 / 86_400
        // The deployed model (a refit's on orbit.models, else the model file's), and one fitted
        // on the calibration period alone.
        let deployed = ModelCommand.deployedPolicy(policy, latest: try ModelCommand.latestModels(kafka))
        data.calibrationModel = deployed.source
        data.calibration = ModelCalibration(purchaseDays: ReportData.purchaseDays(values(OrbitTopics.validEvents)), cutOffDay: today - holdoutDays, endDay: today,
                                            model: deployed.policy.purchaseModel, unitDays: deployed.policy.modelTimeUnitDays, fitCalibrationPeriod: true)
        try OperationsReport.render(data).write(toFile: html, atomically: true, encoding: .utf8)
        Output.line("orbit report: \(data.profiles.count) users, \(data.pointsByDay.count) days of points, \(data.experiments.count) experiments, calibration on \(data.calibration?.customers ?? 0) customers -> \(html)")
    }

    struct Experiments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per experiment and variant: users assigned and sent to, conversions, rate, uplift against holdout with a 95% interval, and the sample size needed.")
        @Option(help: "The smallest absolute uplift worth detecting, for the sample size (0.02 is two percentage points).") var minEffect = 0.02
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            try OptionChecks.require(minEffect, "min-effect", above: 0)
            guard minEffect < 1 else { throw ValidationError("--min-effect is a difference of two rates: below 1, not \(minEffect)") }
        }

        func run() async throws {
            let reader = try TopicReader(kafka: try connection.configuration(), topics: [OrbitTopics.experimentOutcomes, OrbitTopics.notifications, OrbitTopics.notificationDeliveries])
            try reader.readToEnd()
            for report in ExperimentReports.from(outcomes: reader.records[OrbitTopics.experimentOutcomes] ?? [], outbox: reader.records[OrbitTopics.notifications] ?? [],
                                                 deliveries: reader.records[OrbitTopics.notificationDeliveries] ?? []) {
                Output.line(report.text(minimumEffect: minEffect))
            }
        }
    }
}

extension ReportCommand {
    struct Journeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per journey and step: entered, sent, suppressed, waited, converted, and the enrolments that ended by reason (orbit.journey-progress).")
        @Argument(help: "Only this journey.") var journey: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let reader = try TopicReader(kafka: try connection.configuration(), topics: [OrbitTopics.journeyProgress])
            try reader.readToEnd()
            Output.line(JourneyReport(latest: reader.latest(OrbitTopics.journeyProgress)).text(only: journey))
        }
    }
}

enum ExperimentReports {
    static func from(outcomes: [ConsumerRecord], outbox: [ConsumerRecord], deliveries: [ConsumerRecord]) -> [ExperimentReport] {
        var assignments: [String: [String: String]] = [:]
        var conversions: [String: Set<String>] = [:]
        for record in outcomes {
            guard let o = try? JSONParser.parse(record.value ?? []).objectValue, let experiment = o["experiment"]?.stringValue,
                  let variant = o["variant"]?.stringValue, let user = o["user_id"]?.stringValue else { continue }
            switch o["kind"]?.stringValue {
            case "assigned": assignments[experiment, default: [:]][user] = variant
            case "converted": conversions[experiment, default: []].insert(user)
            default: break
            }
        }
        let sentIDs = Set(deliveries.compactMap { $0.value.flatMap(DeliveryRecord.decode) }.filter { $0.status == .sent }.map(\.notificationID))
        var sentTo: [String: [String: Set<String>]] = [:]
        for record in outbox {
            guard let n = try? OutboxNotification.decode(record.value ?? []), let experiment = n.experiment, let variant = n.variant, sentIDs.contains(n.id) else { continue }
            sentTo[experiment, default: [:]][variant, default: []].insert(n.userID)
        }
        return assignments.keys.sorted().map {
            ExperimentReport(experiment: $0, assignments: assignments[$0]!, conversions: conversions[$0] ?? [], sentTo: sentTo[$0] ?? [:])
        }
    }
}
