import Foundation
import OrbitLocalPeers
import OrbitKafka
import OrbitNotify
import OrbitRuntime

/// What `orbit demo` publishes to and checks: a local stack it starts itself (the default), or a
/// stack that already runs (`--attach`: docker-compose, Kubernetes, `orbit up` in another shell),
/// which the demo treats as an outside system would, through Kafka only.
struct DemoTarget {
    let kafka: KafkaConfiguration
    let mail: LocalPeer?
    let gateway: LocalPeer?
    let description: String
    /// A service of the target that exited on its own, if the demo can know.
    let exited: () -> (name: String, status: Int32)?
    let stop: () -> Void

    /// Starts the local broker, every service and the local SMTP server and gateway (`orbit up`).
    static func local(partitions: Int, configDirectory: String, verbose: Bool) throws -> DemoTarget {
        // No default quiet hours in the demo (it runs at any hour); some users set their own.
        // orbit-notify on the stream clock, and ingestion accepting events up to a week ahead: the
        // journeys' week is simulated by publishing events dated later (JourneysDemo).
        let stack = try LocalStack.start(partitions: partitions, configDirectory: configDirectory, quiet: !verbose,
                                         environment: ["ORBIT__NOTIFY__QUIET_HOURS": "", "ORBIT__NOTIFY__CLOCK": "stream",
                                                       "ORBIT__INGEST__MAX_FUTURE_SKEW_SECONDS": String(7 * 86_400)])
        return DemoTarget(
            kafka: KafkaConfiguration(["bootstrap.servers": stack.broker.bootstrapServers]), mail: stack.mail, gateway: stack.gateway,
            description: "local broker on \(stack.broker.bootstrapServers); services started: \(ServiceProcesses.services.map(\.executable).joined(separator: ", "))",
            exited: { stack.services.exited.first }, stop: { stack.stop() })
    }

    /// A running stack: Kafka from the connection options; the local SMTP server and gateway on
    /// fixed ports, where that stack's orbit-notify was told to deliver (none: arrivals unchecked).
    static func attached(connection: ConnectionOptions, mailPort: Int?, gatewayPort: Int?) throws -> DemoTarget {
        let kafka = try connection.configuration()
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let mail = try mailPort.map { try LocalPeer.smtp(root: root, ["--port", "\($0)"]) }
        let gateway = try gatewayPort.map { try LocalPeer.webhook(root: root, secret: LocalStack.localWebhookSecret, ["--port", "\($0)"]) }
        let receivers = [mail.map { "SMTP server on :\($0.port)" }, gateway.map { "gateway on :\($0.port)" }].compactMap { $0 }
        return DemoTarget(
            kafka: kafka, mail: mail, gateway: gateway,
            description: "attached to the running stack at \(kafka["bootstrap.servers"] ?? "?")" + (receivers.isEmpty ? "" : "; local \(receivers.joined(separator: " and "))"),
            exited: { nil }, stop: { mail?.stop(); gateway?.stop() })
    }
}
