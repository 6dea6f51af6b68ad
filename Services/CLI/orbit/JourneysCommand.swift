import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitNotify
import OrbitRuntime

/// `orbit journeys`: multi-step journeys on `orbit.journeys`, which every orbit-notify partition
/// reads as an input (no restart): apply a file, list them with their funnels, pause, resume or
/// retire one.
struct JourneysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journeys",
        abstract: "Journeys: apply definitions, list them with their funnels, pause, resume or retire one.",
        subcommands: [Apply.self, List.self, Pause.self, Resume.self, Retire.self]
    )

    static func publish(_ records: [JourneyRecord], _ settings: NotifySettings, _ connection: ConnectionOptions) throws {
        try publishAll(records.map { ProducerRecord(topic: settings.journeysTopic, key: Array($0.id.utf8), value: $0.encoded()) },
                       kafka: try connection.configuration(), name: "orbit-journeys-cli")
    }

    /// The latest record of every journey on the topic (read without notify.yaml's checks: a
    /// record this configuration would refuse is still the one the topic holds), with those that
    /// cannot be read at all.
    static func latest(_ settings: NotifySettings, _ connection: ConnectionOptions) throws -> (records: [String: JourneyRecord], unreadable: [String: String], progress: [String: [UInt8]]) {
        let reader = try TopicReader(kafka: try connection.configuration(), topics: [settings.journeysTopic, settings.journeyProgressTopic])
        try reader.readToEnd()
        var records: [String: JourneyRecord] = [:]
        var unreadable: [String: String] = [:]
        for record in reader.records[settings.journeysTopic] ?? [] {
            guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }), let value = record.value else { continue }
            do {
                records[key] = try JourneyRecord.decode(key: key, value, policy: nil, topic: settings.journeysTopic)
                unreadable[key] = nil
            } catch {
                unreadable[key] = "\(error)"
            }
        }
        var progress: [String: [UInt8]] = [:]
        for record in reader.records[settings.journeyProgressTopic] ?? [] {
            if let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) { progress[key] = record.value }
        }
        return (records, unreadable, progress)
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a file of journeys (errors name the file, line and field) and publish each changed one as a new version; a file with any error publishes nothing.",
            discussion: """
                A changed journey becomes a new version: users who enter from now on follow it, and users already in it finish on theirs \
                unless --migrate moves them (each to the step of the same name in the new version; --map names others).
                """)
        @Argument(help: "The journeys file (YAML; see docs/JOURNEYS.md).") var file: String
        @Option(help: "The notification configuration (categories and templates).") var config = "deploy/config/notify.yaml"
        @Flag(help: "Move users already in a changed journey to the new version, each to the step of the same name.") var migrate = false
        @Option(name: .customLong("map"), help: "With --migrate: JOURNEY.OLD_STEP=NEW_STEP for a step renamed (repeatable).") var maps: [String] = []
        @Flag(help: "Publish the journeys paused (nobody enters until `orbit journeys resume`).") var paused = false
        @Flag(help: "Check only; publish nothing.") var dryRun = false
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let settings = try NotifyCommand.settings(config)
            let journeys: [Journey]
            do { journeys = try JourneyFile.load(path: file, policy: settings.policy) } catch { throw CLIError("\(error)") }
            var explicit: [String: [String: String]] = [:]
            for map in maps {
                let parts = map.split(separator: "=", maxSplits: 1).map(String.init)
                let left = parts.first?.split(separator: ".", maxSplits: 1).map(String.init) ?? []
                guard parts.count == 2, left.count == 2 else { throw CLIError("--map \(map): write JOURNEY.OLD_STEP=NEW_STEP") }
                guard let journey = journeys.first(where: { $0.id == left[0] }) else { throw CLIError("--map \(map): \(left[0]) is not a journey of \(file)") }
                guard journey.index(of: parts[1]) != nil else { throw CLIError("--map \(map): \(parts[1]) is not a step of \(left[0]) in \(file)") }
                explicit[left[0], default: [:]][left[1]] = parts[1]
            }
            guard maps.isEmpty || migrate else { throw CLIError("--map moves users only with --migrate") }
            if dryRun { return Output.line("\(file): \(journeys.count) journeys, all valid (not published: --dry-run)") }
            let existing = try JourneysCommand.latest(settings, connection).records
            var records: [JourneyRecord] = []
            for var journey in journeys {
                let status: JourneyStatus = paused ? .paused : .active
                if let old = existing[journey.id] {
                    journey.version = old.journey.version
                    if old.journey == journey, old.status == status { Output.line("\(journey.id): unchanged (version \(old.journey.version), \(old.status.rawValue))"); continue }
                    if old.journey == journey {
                        records.append(JourneyRecord(journey: journey, status: status))
                        continue
                    }
                    journey.version = old.journey.version + 1
                    var migration: JourneyMigration?
                    if migrate {
                        var steps: [String: String] = [:]
                        for step in old.journey.steps where journey.index(of: step.id) != nil { steps[step.id] = step.id }
                        for (from, to) in explicit[journey.id] ?? [:] {
                            guard old.journey.index(of: from) != nil else { throw CLIError("--map \(journey.id).\(from)=\(to): version \(old.journey.version) has no step \(from)") }
                            steps[from] = to
                        }
                        migration = JourneyMigration(fromVersion: old.journey.version, steps: steps)
                    }
                    records.append(JourneyRecord(journey: journey, status: status, migration: migration))
                } else {
                    journey.version = 1
                    records.append(JourneyRecord(journey: journey, status: status))
                }
            }
            guard !records.isEmpty else { return }
            try JourneysCommand.publish(records, settings, connection)
            for r in records {
                Output.line("\(r.id): version \(r.journey.version) published to \(settings.journeysTopic) (\(r.status.rawValue))"
                            + (r.migration.map { ", users on version \($0.fromVersion) move (\($0.steps.count) steps mapped)" } ?? ""))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the journeys: version, status, entry and funnel; records that cannot be read, with why.")
        @Option(help: "The notification configuration.") var config = "deploy/config/notify.yaml"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let settings = try NotifyCommand.settings(config)
            let (records, unreadable, progress) = try JourneysCommand.latest(settings, connection)
            let report = JourneyReport(latest: progress)
            for record in records.values.sorted(by: { $0.id < $1.id }) {
                let entry: String
                switch record.journey.entry {
                case .trigger(let source, let conditions): entry = "on \(source.rawValue) " + conditions.map { "\($0.path.joined(separator: "."))=\($0.values.sorted().joined(separator: "|"))" }.joined(separator: " ")
                case .segment(let dimension, let value): entry = "entering \(dimension)=\(value)"
                case .audience: entry = "an audience"
                case .repurchaseDue(let grace): entry = "a repurchase date passed (+\(grace) days)"
                }
                // A record this notify.yaml refuses is not run by a service with the same configuration.
                var problem = ""
                do { _ = try JourneyRecord.decode(key: record.id, record.encoded(), policy: settings.policy, topic: settings.journeysTopic) } catch { problem = "  NOT RUN: \(error)" }
                let row = report.rows[record.id]
                Output.line("\(record.id) v\(record.journey.version) \(record.status.rawValue): \(record.journey.steps.count) steps, \(entry); "
                            + "entered \(row?.funnel.entered ?? 0), in progress \(row?.active ?? 0), converted \(row?.funnel.converted ?? 0)\(problem)")
            }
            for (id, why) in unreadable.sorted(by: { $0.key < $1.key }) { Output.line("\(id): NOT RUN: \(why)") }
            Output.line("\(records.count) journeys, \(unreadable.count) unreadable")
        }
    }

    /// Republishes a journey's current version with another status.
    static func set(_ id: String, to status: JourneyStatus, config: String, _ connection: ConnectionOptions) throws {
        let settings = try NotifyCommand.settings(config)
        guard var record = try latest(settings, connection).records[id] else { throw CLIError("no journey \(id) on \(settings.journeysTopic)") }
        guard record.status != status else { return Output.line("\(id) is already \(status.rawValue)") }
        guard record.status != .retired else { throw CLIError("\(id) is retired: apply its definition again to start it again") }
        record.status = status
        record.migration = nil
        try publish([record], settings, connection)
        Output.line("\(id) \(status.rawValue) (version \(record.journey.version)) on \(settings.journeysTopic)")
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hold every enrolment of a journey where it is; nobody enters until it resumes.")
        @Argument(help: "The journey id.") var id: String
        @Option(help: "The notification configuration.") var config = "deploy/config/notify.yaml"
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try JourneysCommand.set(id, to: .paused, config: config, connection) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused journey: waits that ended meanwhile end on the next clock tick.")
        @Argument(help: "The journey id.") var id: String
        @Option(help: "The notification configuration.") var config = "deploy/config/notify.yaml"
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try JourneysCommand.set(id, to: .active, config: config, connection) }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End every enrolment of a journey (reason: retired); nobody enters it again.")
        @Argument(help: "The journey id.") var id: String
        @Option(help: "The notification configuration.") var config = "deploy/config/notify.yaml"
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try JourneysCommand.set(id, to: .retired, config: config, connection) }
    }
}
