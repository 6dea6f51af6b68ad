import ArgumentParser
import Foundation
import OrbitKafka
import OrbitRuntime

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run the local broker and every Orbit service, with prefixed logs, until Ctrl-C or SIGTERM."
    )

    @Option(help: "Partitions per Orbit topic.") var partitions = TopicCatalogue.defaultPartitions
    @Option(help: "Directory of the services' YAML configuration.") var configDirectory = "deploy/config"

    func run() async throws {
        let (broker, services) = try LocalStack.start(partitions: partitions, configDirectory: configDirectory)
        Output.line("orbit up: broker on \(broker.bootstrapServers); services: \(ServiceProcesses.services.map(\.name).joined(separator: ", ")). Ctrl-C stops everything.")
        await Signals.wait()
        Output.line("orbit up: stopping")
        LocalStack.stop(broker: broker, services: services)
    }
}

/// The local broker plus every service as a child process.
enum LocalStack {
    static func start(partitions: Int, configDirectory: String, quiet: Bool = false) throws -> (LocalBroker, ServiceProcesses) {
        let broker = try LocalBroker.startOrbit(partitions: partitions)
        let services = ServiceProcesses()
        var environment = LocalProfile.environment(bootstrap: broker.bootstrapServers)
        environment["ORBIT__SERVICE__HTTP_PORT"] = environment["ORBIT__SERVICE__HTTP_PORT"] ?? "0"
        // Locally, thresholds and ageing are re-evaluated every few seconds rather than every minute.
        environment["ORBIT__SCORING__EVALUATION_INTERVAL_SECONDS"] = ProcessInfo.processInfo.environment["ORBIT__SCORING__EVALUATION_INTERVAL_SECONDS"] ?? "2"
        environment["ORBIT__MEMBERSHIP__EVALUATION_INTERVAL_SECONDS"] = ProcessInfo.processInfo.environment["ORBIT__MEMBERSHIP__EVALUATION_INTERVAL_SECONDS"] ?? "5"
        do {
            for service in ServiceProcesses.services {
                let config = "\(configDirectory)/\(service.config)"
                let arguments = FileManager.default.fileExists(atPath: config) ? ["--config", config] : []
                try services.start(name: service.name, executable: service.executable, arguments: arguments, environment: environment, quiet: quiet)
            }
        } catch {
            stop(broker: broker, services: services)
            throw error
        }
        return (broker, services)
    }

    static func stop(broker: LocalBroker, services: ServiceProcesses) {
        services.stopAll()
        LocalBrokerAddress.remove()
        broker.stop()
    }
}
