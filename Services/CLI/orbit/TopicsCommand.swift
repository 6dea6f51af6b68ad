import ArgumentParser
import Logging
import OrbitKafka
import OrbitRuntime

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create Orbit's topics on a Kafka cluster (the local broker creates its own).",
        subcommands: [Create.self, List.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create every Orbit topic with its partitions and configs (existing ones are left alone).")
        @Option(help: "Partitions per topic.") var partitions = TopicCatalogue.defaultPartitions
        @Option(help: "Replication factor (-1: the broker's default).") var replicationFactor = -1
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let admin = try KafkaAdmin(configuration: try connection.configuration(), logger: Logger(label: "orbit.topics"))
            let specs = TopicCatalogue.orbitTopics(partitions: partitions).map {
                TopicSpec(name: $0.name, partitions: $0.partitions, replicationFactor: replicationFactor, configs: $0.configs)
            }
            let outcomes = try admin.createTopics(specs)
            for spec in specs { print("\(spec.name): \(outcomes[spec.name].map { "\($0)" } ?? "unknown")") }
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
}
