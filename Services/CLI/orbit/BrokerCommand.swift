import ArgumentParser
import Foundation
import Logging
import OrbitKafka
import OrbitRuntime

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the local Kafka broker (librdkafka's mock cluster) with Orbit's topics, until Ctrl-C.",
        discussion: "Prints the bootstrap address and writes it to $ORBIT_HOME/bootstrap (default .orbit/bootstrap), where the services and tools find it. Data lives in memory only; see the README for the mock's limits."
    )

    @Option(help: "Partitions per Orbit topic.") var partitions = TopicCatalogue.defaultPartitions
    @Option(help: "Number of brokers in the cluster.") var brokers = 1
    @Option(help: "A timed plan of broker faults (YAML: brokers down and up, request errors, round-trip delay, leader moves; see BrokerFaultPlan).")
    var faults: String?

    func validate() throws {
        try OptionChecks.require(brokers, "brokers", in: 1...16)
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
    }

    func run() async throws {
        // The plan is checked before the broker starts: a mistake in it is an error, not a quiet run.
        let plan = try faults.map { path in try BrokerFaultPlan.load(path: path) }
        let broker = try LocalBroker.startOrbit(brokers: brokers, partitions: partitions)
        Output.line("orbit broker: listening on \(broker.bootstrapServers) (address written to \(LocalBrokerAddress.path))")
        let started = ContinuousClock.now
        let faulting = plan.map { plan in
            Task {
                for step in plan.steps {
                    try? await Task.sleep(until: started + .milliseconds(step.atMillis))
                    if Task.isCancelled { return }
                    do {
                        try broker.apply(step.fault)
                        Output.line("orbit broker: at \(String(format: "%.1f", Double(step.atMillis) / 1000)) s: \(step.fault)")
                    } catch {
                        Output.line("orbit broker: at \(Double(step.atMillis) / 1000) s: \(step.fault) failed: \(error)")
                    }
                }
                Output.line("orbit broker: fault plan done")
            }
        }
        await Signals.wait()
        faulting?.cancel()
        LocalBrokerAddress.remove()
        broker.stop()
        Output.line("orbit broker: stopped")
    }
}

extension LocalBroker {
    /// A local broker with every Orbit topic created, its address published for other processes.
    static func startOrbit(brokers: Int = 1, partitions: Int = TopicCatalogue.defaultPartitions) throws -> LocalBroker {
        // Up to 256: the local broker keeps at most 5 MiB per partition, so a large run (a flood's
        // backlog) needs many partitions to keep every record.
        guard (1...256).contains(partitions) else { throw ValidationError("--partitions must be 1...256") }
        let broker = try LocalBroker(brokers: brokers, topics: TopicCatalogue.orbitTopics(partitions: partitions))
        try LocalBrokerAddress.write(broker.bootstrapServers)
        return broker
    }
}
