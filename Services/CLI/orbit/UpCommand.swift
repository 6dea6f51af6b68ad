import ArgumentParser
import Foundation
import OrbitLocalPeers
import OrbitKafka
import OrbitNotify
import OrbitRuntime

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run the local broker and every Orbit service, with prefixed logs, until Ctrl-C or SIGTERM."
    )

    @Option(help: "Partitions per Orbit topic.") var partitions = TopicCatalogue.defaultPartitions
    @Option(help: "Directory of the services' YAML configuration.") var configDirectory = "deploy/config"

    func validate() throws {
        try OptionChecks.require(partitions, "partitions", in: OptionChecks.partitions)
    }

    func run() async throws {
        let stack = try LocalStack.start(partitions: partitions, configDirectory: configDirectory)
        Output.line("orbit up: broker on \(stack.broker.bootstrapServers); services: \(ServiceProcesses.services.map(\.name).joined(separator: ", ")). Ctrl-C stops everything.")
        if let mail = stack.mail, let gateway = stack.gateway {
            Output.line("orbit up: e-mail goes to a local SMTP server on port \(mail.port) (received: \(mail.outputFile.path)); SMS and push webhooks to port \(gateway.port) (received: \(gateway.outputFile.path))")
        }
        await Signals.wait()
        Output.line("orbit up: stopping")
        stack.stop()
    }
}

/// The local broker plus every service as a child process, and local stand-ins for the mail
/// server and the SMS/push gateway (when `scripts/install-deps.sh` installed them).
struct LocalStack {
    let broker: LocalBroker
    let services: ServiceProcesses
    let mail: LocalPeer?
    let gateway: LocalPeer?

    /// The signing key of the local gateway's webhooks.
    static let localWebhookSecret = "orbit-local-webhook-secret"

    /// - Parameter scorers: orbit-scorer processes to run (they share the scorer's group).
    static func start(partitions: Int, configDirectory: String, quiet: Bool = false, environment extra: [String: String] = [:], scorers: Int = 1) throws -> LocalStack {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        var mail: LocalPeer?
        var gateway: LocalPeer?
        if LocalPeer.isInstalled(root: root), FileManager.default.fileExists(atPath: root.appendingPathComponent("deploy/local/smtp_sink.py").path) {
            let directory = root.appendingPathComponent(".orbit")
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            mail = try LocalPeer.smtp(root: root, outputFile: directory.appendingPathComponent("mail-\(ProcessInfo.processInfo.processIdentifier).jsonl"))
            gateway = try LocalPeer.webhook(root: root, secret: localWebhookSecret, outputFile: directory.appendingPathComponent("webhooks-\(ProcessInfo.processInfo.processIdentifier).jsonl"))
        } else {
            printError("orbit: no local mail server or gateway (run scripts/install-deps.sh): orbit-notify delivers to the configured endpoints")
        }
        let broker = try LocalBroker.startOrbit(partitions: partitions)
        let services = ServiceProcesses()
        var environment = LocalProfile.environment(bootstrap: broker.bootstrapServers)
        environment["ORBIT__SERVICE__HTTP_PORT"] = environment["ORBIT__SERVICE__HTTP_PORT"] ?? "0"
        // Locally, thresholds and ageing are re-evaluated every few seconds rather than every minute.
        let inherited = ProcessInfo.processInfo.environment
        environment["ORBIT__SCORING__EVALUATION_INTERVAL_SECONDS"] = inherited["ORBIT__SCORING__EVALUATION_INTERVAL_SECONDS"] ?? "2"
        environment["ORBIT__MEMBERSHIP__EVALUATION_INTERVAL_SECONDS"] = inherited["ORBIT__MEMBERSHIP__EVALUATION_INTERVAL_SECONDS"] ?? "5"
        environment["ORBIT__NOTIFY__EVALUATION_INTERVAL_SECONDS"] = inherited["ORBIT__NOTIFY__EVALUATION_INTERVAL_SECONDS"] ?? "2"
        if let mail, let gateway {
            environment["ORBIT__DELIVERY__EMAIL__HOST"] = "127.0.0.1"
            environment["ORBIT__DELIVERY__EMAIL__PORT"] = "\(mail.port)"
            environment["ORBIT__DELIVERY__SMS__URL"] = "http://127.0.0.1:\(gateway.port)/sms"
            environment["ORBIT__DELIVERY__PUSH__URL"] = "http://127.0.0.1:\(gateway.port)/push"
            environment["ORBIT_WEBHOOK_SECRET"] = localWebhookSecret
        }
        // Queries on, for the services that answer them (not orbit-ingest): a token of this
        // machine's, kept with the broker's address (`orbit user` reads it there).
        let queryToken = inherited["ORBIT__SERVICE__QUERY_TOKEN_FILE"] == nil ? try? LocalQueryToken.file() : nil
        environment.merge(extra) { _, new in new }
        let stack = LocalStack(broker: broker, services: services, mail: mail, gateway: gateway)
        do {
            for service in ServiceProcesses.services {
                let config = "\(configDirectory)/\(service.config)"
                let arguments = FileManager.default.fileExists(atPath: config) ? ["--config", config] : []
                var serviceEnvironment = environment
                if let queryToken, service.executable != "orbit-ingest" { serviceEnvironment["ORBIT__SERVICE__QUERY_TOKEN_FILE"] = queryToken }
                for copy in 0..<(service.executable == "orbit-scorer" ? max(1, scorers) : 1) {
                    try services.start(name: copy == 0 ? service.name : "\(service.name)-\(copy + 1)", executable: service.executable,
                                       arguments: arguments, environment: serviceEnvironment, quiet: quiet)
                }
            }
        } catch {
            stack.stop()
            throw error
        }
        return stack
    }

    func stop() {
        services.stopAll()
        LocalBrokerAddress.remove()
        broker.stop()
        mail?.stop()
        gateway?.stop()
    }
}

/// The local stack's query token: `$ORBIT_HOME/query-token`, made once (32 random bytes, hex),
/// readable by its owner only.
enum LocalQueryToken {
    static func file() throws -> String {
        let path = LocalBrokerAddress.directory + "/query-token"
        if FileManager.default.fileExists(atPath: path) { return path }
        try FileManager.default.createDirectory(atPath: LocalBrokerAddress.directory, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        return path
    }
}
