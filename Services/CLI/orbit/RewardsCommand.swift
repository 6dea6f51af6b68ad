import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime

/// `orbit rewards`: the points mall's catalogue on `orbit.rewards`, which orbit-members reads as a
/// global table (no restart): apply a file of definitions, list what is offered, retire a reward.
struct RewardsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewards",
        abstract: "The points mall's reward catalogue: apply definitions, list them with the stock left, retire one.",
        subcommands: [Apply.self, List.self, Retire.self]
    )

    /// The membership configuration the catalogue is checked against (its levels).
    static func settings(_ path: String) throws -> MembershipSettings {
        do { return try MembershipSettings(document: try ConfigDocument.load(path: path)) } catch { throw CLIError("\(error)") }
    }

    static func publish(_ records: [ProducerRecord], _ connection: ConnectionOptions) throws {
        try publishAll(records, kafka: try connection.configuration(), name: "orbit-rewards-cli")
    }

    /// The latest record of every reward on the topic.
    static func latest(_ settings: MembershipSettings, _ connection: ConnectionOptions, topics extra: [String] = []) throws -> [String: [String: [UInt8]?]] {
        let topics = [settings.rewardsTopic] + extra
        let reader = try TopicReader(kafka: try connection.configuration(), topics: topics)
        try reader.readToEnd()
        var result: [String: [String: [UInt8]?]] = [:]
        for topic in topics {
            var latest: [String: [UInt8]?] = [:]
            for record in reader.records[topic] ?? [] {
                guard let key = record.key else { continue }
                latest[String(decoding: key, as: UTF8.self)] = .some(record.value)
            }
            result[topic] = latest
        }
        return result
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a file of reward definitions (errors name the file, line and field) and publish them; a file with any error publishes nothing.")
        @Argument(help: "The rewards file (YAML; see docs/SERVICES.md \"Points mall\").") var file: String
        @Option(help: "The membership configuration (its levels).") var config = "deploy/config/membership.yaml"
        @Flag(help: "Check only; publish nothing.") var dryRun = false
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let settings = try RewardsCommand.settings(config)
            let rewards: [Reward]
            do { rewards = try RewardFile.load(path: file, levels: settings.policy.levels.levels.map(\.name)) } catch { throw CLIError("\(error)") }
            if dryRun {
                Output.line("\(file): \(rewards.count) rewards, all valid (not published: --dry-run)")
                return
            }
            try RewardsCommand.publish(rewards.map { ProducerRecord(topic: settings.rewardsTopic, key: Array($0.id.utf8), value: $0.encoded()) }, connection)
            Output.line("\(rewards.count) rewards published to \(settings.rewardsTopic): \(rewards.map(\.id).joined(separator: ", "))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the catalogue: price, stock left, limits and state; definitions that cannot be used, with why.")
        @Option(help: "The membership configuration (its levels).") var config = "deploy/config/membership.yaml"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let settings = try RewardsCommand.settings(config)
            let latest = try RewardsCommand.latest(settings, connection, topics: [settings.stockChangelogTopic])
            let records = (latest[settings.rewardsTopic] ?? [:]).compactMapValues { $0 }
            let catalogue = RewardCatalogue(records: records, levels: settings.policy.levels.levels.map(\.name))
            let issued = (latest[settings.stockChangelogTopic] ?? [:]).compactMapValues { $0.flatMap { try? RewardStock.decode($0).issued } }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            Output.line("id                     kind     price  stock left / total   limits                 state")
            for reward in catalogue.rewards.values.sorted(by: { $0.id < $1.id }) {
                let stock: String
                switch reward.stock {
                case .unlimited: stock = "unlimited"
                case .limited(let total): stock = "\(max(0, total - (issued[reward.id] ?? 0))) / \(total)"
                }
                let limits = Reward.LimitPeriod.allCases.compactMap { p in reward.limits[p].map { "\(p.rawValue) \($0)" } }.joined(separator: ", ")
                let state = reward.retired ? "retired"
                    : reward.validFromMillis.map { now < $0 } == true ? "from \(RFC3339.format(millis: reward.validFromMillis!))"
                    : reward.validUntilMillis.map { now >= $0 } == true ? "ended" : "offered"
                Output.line(reward.id.padding(toLength: 22, withPad: " ", startingAt: 0) + " " + reward.kind.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                            + String(format: " %6lld  ", reward.pricePoints) + stock.padding(toLength: 20, withPad: " ", startingAt: 0) + " "
                            + (limits.isEmpty ? "-" : limits).padding(toLength: 22, withPad: " ", startingAt: 0) + " " + state)
            }
            for (id, problem) in catalogue.unusable.sorted(by: { $0.key < $1.key }) { Output.line("\(id): NOT OFFERED: \(problem)") }
            Output.line("\(catalogue.rewards.count) rewards, \(catalogue.unusable.count) unusable")
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop offering a reward: its definition stays, marked retired, so redemptions get not_available (pending ones still settle).")
        @Argument(help: "The reward id.") var id: String
        @Option(help: "The membership configuration (its levels).") var config = "deploy/config/membership.yaml"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let settings = try RewardsCommand.settings(config)
            let records = (try RewardsCommand.latest(settings, connection)[settings.rewardsTopic] ?? [:]).compactMapValues { $0 }
            guard let bytes = records[id] else { throw CLIError("no reward \(id) on \(settings.rewardsTopic)") }
            var reward: Reward
            do { reward = try Reward.decode(bytes, levels: settings.policy.levels.levels.map(\.name)) } catch {
                throw CLIError("reward \(id) on \(settings.rewardsTopic) cannot be read (\(error)): apply a corrected definition instead")
            }
            guard !reward.retired else { return Output.line("\(id) is already retired") }
            reward.retired = true
            try RewardsCommand.publish([ProducerRecord(topic: settings.rewardsTopic, key: Array(id.utf8), value: reward.encoded())], connection)
            Output.line("\(id) retired on \(settings.rewardsTopic)")
        }
    }
}
