import ArgumentParser
import Logging
import OrbitKafka
import OrbitRuntime

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create Orbit's topics on a Kafka cluster (the local broker creates its own).",
        subcommands: [Create.self, List.self, Check.self, Lag.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create every Orbit topic with its partitions and configs (existing ones are left alone).")
        @Option(help: "Partitions per topic.") var partitions = TopicCatalogue.defaultPartitions
        @Option(help: "Replication factor (-1: the broker's default).") var replicationFactor = -1
        @Option(help: "Seconds to keep trying while the cluster is not reachable yet (a one-shot init container starts beside Kafka).")
        var wait = 0
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let specs = TopicCatalogue.orbitTopics(partitions: partitions).map {
                TopicSpec(name: $0.name, partitions: $0.partitions, replicationFactor: replicationFactor, configs: $0.configs)
            }
            let deadline = ContinuousClock.now + .seconds(wait)
            while true {
                do {
                    let admin = try KafkaAdmin(configuration: try connection.configuration(), logger: Logger(label: "orbit.topics"))
                    let outcomes = try admin.createTopics(specs)
                    for spec in specs { Output.line("\(spec.name): \(outcomes[spec.name].map { "\($0)" } ?? "unknown")") }
                    return
                } catch where ContinuousClock.now < deadline {
                    printError("orbit topics create: \(error); trying again")
                    try await Task.sleep(for: .seconds(2))
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print Orbit's topics and their partition counts as the cluster has them.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let admin = try KafkaAdmin(configuration: try connection.configuration(), logger: Logger(label: "orbit.topics"))
            for spec in TopicCatalogue.orbitTopics() {
                let count = (try? admin.partitionCount(of: spec.name)).map(String.init) ?? "missing"
                print("\(spec.name)\t\(count)")
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exit 0 when every Orbit topic exists with the given partitions, 1 otherwise: for clusters whose topics are made elsewhere (the local broker, Strimzi's KafkaTopic).")
        @Option(help: "Partitions of the keyed topics, as given to `orbit topics create` (0: do not check counts).") var partitions = 0
        @Option(help: "Seconds to keep trying while the cluster or a topic is not there yet.") var wait = 0
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let deadline = ContinuousClock.now + .seconds(wait)
            while true {
                var problems: [String] = []
                do {
                    let admin = try KafkaAdmin(configuration: try connection.configuration(), logger: Logger(label: "orbit.topics"))
                    for spec in TopicCatalogue.orbitTopics(partitions: max(1, partitions)) {
                        guard let count = try? admin.partitionCount(of: spec.name) else { problems.append("\(spec.name) is missing"); continue }
                        if partitions > 0 && count != spec.partitions { problems.append("\(spec.name) has \(count) partitions, not \(spec.partitions)") }
                    }
                } catch {
                    problems.append("\(error)")
                }
                if problems.isEmpty {
                    Output.line("orbit topics check: all \(TopicCatalogue.orbitTopics().count) Orbit topics are there")
                    return
                }
                guard ContinuousClock.now < deadline else {
                    for problem in problems { printError("orbit topics check: \(problem)") }
                    throw ExitCode(1)
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    struct Lag: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a consumer group's lag (records not yet committed) over some topics: 0 when it has caught up.")
        @Option(help: "The consumer group (e.g. orbit-scorer).") var group: String
        @Argument(help: "Topics the group reads.") var topics: [String]
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            print(try consumerLag(kafka: try connection.configuration(), group: group, topics: topics))
        }
    }
}
