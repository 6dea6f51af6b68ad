import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitScoring

/// `orbit segments`: operators' segments on `orbit.segment-definitions`, which every scorer reads as
/// a global table (no restart): apply a file of definitions, list them, retire one, preview one
/// against the profiles published now.
struct SegmentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segments",
        abstract: "Operators' segments: apply definitions, list them, retire one, preview one's size and users.",
        subcommands: [Apply.self, List.self, Retire.self, Preview.self]
    )

    static let topic = OrbitTopics.segmentDefinitions

    /// The attributes the scorer declares (`attributes.<name>` in a condition must name one).
    static func attributes(_ scoringConfig: String) throws -> AttributeSchema {
        do { return try ScoringSettings(document: ConfigDocument.load(path: scoringConfig)).policy.attributes } catch { throw CLIError("\(error)") }
    }

    /// The latest record of every segment on the topic (nil: retired).
    static func latest(_ connection: ConnectionOptions) throws -> [String: [UInt8]?] {
        let reader = try TopicReader(kafka: try connection.configuration(), topics: [topic])
        try reader.readToEnd()
        var latest: [String: [UInt8]?] = [:]
        for record in reader.records[topic] ?? [] {
            guard let key = record.key else { continue }
            latest[String(decoding: key, as: UTF8.self)] = .some(record.value)
        }
        return latest
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a file of segment definitions (errors name the file, line and field) and publish them; a file with any error publishes nothing.")
        @Argument(help: "The segments file (YAML; see docs/SERVICES.md \"Operators' segments\").") var file: String
        @Flag(help: "Check only; publish nothing.") var dryRun = false
        @Option(help: "The scorer's configuration, for the attributes it declares.") var scoringConfig = "deploy/config/scoring.yaml"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let definitions: [SegmentDefinition]
            do { definitions = try SegmentFile.load(path: file, attributes: try SegmentsCommand.attributes(scoringConfig)) } catch { throw CLIError("\(error)") }
            if dryRun { return Output.line("\(file): \(definitions.count) segments, all valid (not published: --dry-run)") }
            try RewardsCommand.publish(definitions.map { ProducerRecord(topic: SegmentsCommand.topic, key: Array($0.id.utf8), value: $0.encoded()) }, connection)
            Output.line("\(definitions.count) segments published to \(SegmentsCommand.topic): \(definitions.map(\.id).joined(separator: ", "))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the live segments with their conditions; records that cannot be used, with why.")
        @Option(help: "The scorer's configuration, for the attributes it declares.") var scoringConfig = "deploy/config/scoring.yaml"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var live = 0, unusable = 0
            let attributes = try SegmentsCommand.attributes(scoringConfig)
            for (id, bytes) in try SegmentsCommand.latest(connection).sorted(by: { $0.key < $1.key }) {
                guard let bytes else { continue }
                do {
                    let definition = try SegmentDefinition.decode(key: id, bytes, attributes: attributes)
                    var w = JSONWriter()
                    definition.predicate.write(to: &w)
                    Output.line("\(definition.dimension)  \(definition.name)  where \(String(decoding: w.bytes, as: UTF8.self))")
                    live += 1
                } catch {
                    Output.line("\(id): NOT USED: \(error)")
                    unusable += 1
                }
            }
            Output.line("\(live) segments, \(unusable) unusable")
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retire a segment: its members leave it (custom:<id> changes to false) at the scorers' next evaluation.")
        @Argument(help: "The segment id.") var id: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            guard case .some(.some) = try SegmentsCommand.latest(connection)[id] else { throw CLIError("no live segment \(id) on \(SegmentsCommand.topic)") }
            try RewardsCommand.publish([ProducerRecord(topic: SegmentsCommand.topic, key: Array(id.utf8), value: nil)], connection)
            Output.line("\(id) retired on \(SegmentsCommand.topic)")
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A segment's size now and a sample of its users, from the profiles published now (a live segment's id, or --file to try one before applying it).")
        @Argument(help: "The segment id.") var id: String
        @Option(help: "Take the definition from this file instead of the topic.") var file: String?
        @Option(help: "Users to show.") var sample = 10
        @Option(help: "The scorer's configuration, for the attributes it declares.") var scoringConfig = "deploy/config/scoring.yaml"
        @OptionGroup var connection: ConnectionOptions

        func validate() throws { try OptionChecks.require(sample, "sample", in: 0...10_000) }

        func run() async throws {
            let definition: SegmentDefinition
            let attributes = try SegmentsCommand.attributes(scoringConfig)
            if let file {
                let all: [SegmentDefinition]
                do { all = try SegmentFile.load(path: file, attributes: attributes) } catch { throw CLIError("\(error)") }
                guard let found = all.first(where: { $0.id == id }) else { throw CLIError("\(file) defines no segment \(id)") }
                definition = found
            } else {
                guard case .some(.some(let bytes)) = try SegmentsCommand.latest(connection)[id] else { throw CLIError("no live segment \(id) on \(SegmentsCommand.topic)") }
                do { definition = try SegmentDefinition.decode(key: id, bytes, attributes: attributes) } catch { throw CLIError("segment \(id) cannot be used: \(error)") }
            }
            let reader = try TopicReader(kafka: try connection.configuration(), topics: [OrbitTopics.userProfiles])
            try reader.readToEnd()
            var latest: [String: [UInt8]?] = [:]
            for record in reader.records[OrbitTopics.userProfiles] ?? [] {
                guard let key = record.key else { continue }
                latest[String(decoding: key, as: UTF8.self)] = .some(record.value)
            }
            var members: [String] = []
            var profiles = 0
            for (user, bytes) in latest {
                guard let bytes, let object = try? JSONParser.parse(bytes).objectValue, object["profiling"] == nil else { continue }
                profiles += 1
                if definition.predicate.matches(ProfileJSON(object)) { members.append(user) }
            }
            members.sort()
            Output.line("\(definition.dimension) (\(definition.name)): \(members.count) of \(profiles) profiled users" + (profiles > 0 ? String(format: " (%.1f%%)", 100 * Double(members.count) / Double(profiles)) : ""))
            for user in members.prefix(sample) { Output.line("  \(user)") }
        }
    }
}
