import ArgumentParser
import Logging
import OrbitKafka
import OrbitRuntime

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create Orbit's topics on a Kafka cluster (the local broker creates its own).",
        subcommands: [Create.self, List.self, Check.self, Lag.self, Starts.self, Manifest.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create every Orbit topic with its partitions and configs (existing ones are left alone).")
        @Option(help: "Partitions per topic.") var partitions = TopicCatalogue.defaultPartitions
        @Option(help: "Replication factor (-1: the broker's default).") var replicationFactor = -1
        @Option(help: "Seconds to keep trying while the cluster is not reachable yet (a one-shot init container starts beside Kafka).")
        var wait = 0
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            try OptionChecks.require(partitions, "partitions", in: OptionChecks.clusterPartitions)
            guard replicationFactor == -1 || (1...32).contains(replicationFactor) else {
                throw ValidationError("--replication-factor must be -1 (the broker's default) or from 1 to 32, not \(replicationFactor)")
            }
            try OptionChecks.require(wait, "wait", in: 0...86_400)
        }

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

        func validate() throws {
            try OptionChecks.require(partitions, "partitions", in: 0...OptionChecks.clusterPartitions.upperBound)
            try OptionChecks.require(wait, "wait", in: 0...86_400)
        }

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

    struct Starts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the partitions of Orbit's topics whose log no longer starts at offset 0 (records deleted by retention or compaction, or dropped by the local broker's 5 MiB-per-partition cap), then their count.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let consumer = try KafkaConsumer(configuration: try connection.configuration(), name: "orbit-topics-starts", logger: Logger(label: "orbit.topics"))
            defer { consumer.close() }
            var moved = 0
            for spec in TopicCatalogue.orbitTopics() {
                guard let count = try? consumer.partitionCount(of: spec.name) else { continue }
                let partitions = (0..<count).map { TopicPartition(spec.name, Int32($0)) }
                let watermarks = try consumer.watermarks(partitions)
                for partition in partitions {
                    let marks = watermarks[partition]!
                    if marks.low > 0 {
                        moved += 1
                        print("\(spec.name)/\(partition.partition) starts at \(marks.low) (ends at \(marks.high))")
                    }
                }
            }
            print(moved)
        }
    }

    struct Manifest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print Orbit's topics as Strimzi KafkaTopic resources (deploy/k8s/topics.yaml is this output; a test keeps them equal).")
        @Option(help: "Partitions of the keyed topics.") var partitions = 12
        @Option(help: "Replicas of every topic.") var replicas = 3
        @Option(help: "The Strimzi Kafka cluster's name (the strimzi.io/cluster label).") var cluster = "orbit"

        func validate() throws {
            try OptionChecks.require(partitions, "partitions", in: OptionChecks.clusterPartitions)
            try OptionChecks.require(replicas, "replicas", in: 1...32)
        }

        func run() async throws {
            var out = "# Orbit's topics for Strimzi's topic operator. Generated: orbit topics manifest --partitions \(partitions) --replicas \(replicas) --cluster \(cluster)\n"
            out += "# Do not edit: OrbitCLITests.testKubernetesManifestsAgreeWithTheCode regenerates it and compares.\n"
            for spec in TopicCatalogue.orbitTopics(partitions: partitions) {
                out += "---\napiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata:\n"
                // Resource names are DNS labels; the Kafka topic name goes in spec.topicName.
                out += "  name: \(spec.name.replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: "_", with: "-"))\n"
                out += "  labels:\n    strimzi.io/cluster: \(cluster)\nspec:\n  topicName: \(spec.name)\n"
                out += "  partitions: \(spec.partitions)\n  replicas: \(replicas)\n"
                if !spec.configs.isEmpty {
                    out += "  config:\n"
                    for (key, value) in spec.configs.sorted(by: { $0.key < $1.key }) { out += "    \(key): \"\(value)\"\n" }
                }
            }
            print(out, terminator: "")
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
