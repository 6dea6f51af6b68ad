import ArgumentParser
import Foundation
import OrbitContract
import OrbitKafka
import OrbitNotify

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Reports from live topics.",
        subcommands: [Experiments.self]
    )

    struct Experiments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per experiment and variant: users assigned and sent to, conversions, rate, uplift against holdout with a 95% interval, and the sample size needed.")
        @Option(help: "The smallest absolute uplift worth detecting, for the sample size (0.02 is two percentage points).") var minEffect = 0.02
        @OptionGroup var connection: ConnectionOptions

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
