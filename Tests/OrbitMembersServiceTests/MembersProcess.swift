import Foundation
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitTestSupport

/// orbit-members as a child process of a test, on the test's local broker, and the wait for its
/// consumer groups to have read everything.
enum MembersProcess {
    /// The configuration `yaml` in a temporary file (the caller removes it).
    static func configuration(_ yaml: String, name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// orbit-members with the configuration file `config`, its HTTP port chosen by the system.
    static func start(_ broker: LocalBroker, config: URL) throws -> ServiceProcess {
        var environment = LocalProfile.environment(bootstrap: broker.bootstrapServers)
        environment["ORBIT__SERVICE__HTTP_PORT"] = "0"
        environment["ORBIT__SERVICE__HTTP_HOST"] = "127.0.0.1"
        return try ServiceProcess(executable: "orbit-members", arguments: ["--config", config.path], environment: environment)
    }

    /// True once every group has no lag on its topics for three seconds in a row.
    static func caughtUp(_ broker: LocalBroker, groups: [(group: String, topics: [String])], timeout: TimeInterval = 300) throws -> Bool {
        var quietSince: Date?
        return try eventually(timeout: timeout, interval: 0.5) {
            let lag = try groups.reduce(0) { $0 + (try consumerLag(bootstrap: broker.bootstrapServers, group: $1.group, topics: $1.topics)) }
            if lag == 0 { quietSince = quietSince ?? Date() } else { quietSince = nil }
            return quietSince.map { Date().timeIntervalSince($0) > 3 } ?? false
        }
    }

    /// Everything the service published on the ledger, accounts and member events topics, and
    /// the ledger's check over them (what `orbit verify ledger` runs).
    static func published(_ broker: LocalBroker) throws -> (records: [String: [ConsumerRecord]], report: LedgerVerifier.Report) {
        let reader = try TopicReader(bootstrap: broker.bootstrapServers, topics: [OrbitTopics.pointsLedger, OrbitTopics.memberAccounts, OrbitTopics.memberEvents])
        try reader.readToEnd(timeout: 120)
        let report = LedgerVerifier.verify(ledger: (reader.records[OrbitTopics.pointsLedger] ?? []).map { ($0.key, $0.value) },
                                           accounts: (reader.records[OrbitTopics.memberAccounts] ?? []).map { ($0.key, $0.value) }, allowNegative: false)
        return (reader.records, report)
    }
}
