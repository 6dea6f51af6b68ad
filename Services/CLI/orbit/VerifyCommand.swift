import ArgumentParser
import Foundation
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Check invariants over what the services published.", subcommands: [Ledger.self, Erased.self])

    struct Ledger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the points ledger: keys applied once (or identical copies), balances chain from 0, never negative, every hold settled at most once and in full, accounts equal their ledgers (balance and held points). Exits 1 on any violation.")
        @Flag(help: "Negative balances are allowed (membership.allow_negative_balance).") var allowNegative = false
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let reader = try TopicReader(kafka: try connection.configuration(), topics: [OrbitTopics.pointsLedger, OrbitTopics.memberAccounts])
            try reader.readToEnd(timeout: 300)
            let report = LedgerVerifier.verify(ledger: (reader.records[OrbitTopics.pointsLedger] ?? []).map { ($0.key, $0.value) },
                                               accounts: (reader.records[OrbitTopics.memberAccounts] ?? []).map { ($0.key, $0.value) },
                                               allowNegative: allowNegative)
            Output.line("ledger: \(report.entries) entries for \(report.users) users (\(report.repeatedCopies) identical repeated copies)")
            let open = report.openHolds.values.reduce(0) { $0 + $1.count }
            Output.line("holds: \(report.holds) placed, \(report.committed) committed, \(report.released) released, \(open) open (waiting for a stock answer)")
            for violation in report.violations.prefix(50) { Output.line("VIOLATION: \(violation)") }
            Output.line("violations: \(report.violations.count)")
            if !report.violations.isEmpty { throw ExitCode(1) }
        }
    }

    struct Erased: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that a user was erased: no value of theirs in any compacted topic (public ones and every state store's changelog), and a receipt from every service. Exits 1 otherwise.")
        @Argument(help: "The erased user's id.") var userID: String
        @Option(help: "The pseudonym key file the services use (privacy.pseudonym_key_file).") var pseudonymKeyFile = PrivacySettings.defaultKeyFile
        @Option(help: "The services that must have answered (comma-separated).") var services = "orbit-ingest,orbit-scorer,orbit-members,orbit-notify"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let catalogue = TopicCatalogue.orbitTopics()
            let compacted = catalogue.filter { $0.configs["cleanup.policy"] == "compact" }.map(\.name)
            // Append-only topics keyed by user, counted: their records expire with retention.
            let appendOnly = [OrbitTopics.userEvents, OrbitTopics.validEvents, OrbitTopics.segmentChanges, OrbitTopics.pointsLedger,
                              OrbitTopics.memberEvents, OrbitTopics.notifications, OrbitTopics.notificationDeliveries, OrbitTopics.privacyRequests]
            let reader = try TopicReader(kafka: try connection.configuration(), topics: compacted + appendOnly + [OrbitTopics.privacyReceipts])
            try reader.readToEnd(timeout: 300)
            let subject = try PrivacySettings(pseudonymKeyFile: pseudonymKeyFile).loadPseudonymizer().pseudonym(userID)
            let audit = ErasureAudit.audit(user: userID, subject: subject,
                                           compacted: reader.records.filter { compacted.contains($0.key) },
                                           appendOnly: reader.records.filter { appendOnly.contains($0.key) },
                                           receipts: reader.records[OrbitTopics.privacyReceipts] ?? [],
                                           services: services.split(separator: ",").map(String.init))
            Output.line("subject \(subject): \(compacted.count) compacted topics read")
            for receipt in audit.receipts.sorted(by: { ($0.service, $0.requestID) < ($1.service, $1.requestID) }) {
                let tombstones = receipt.tombstones.sorted(by: { $0.key < $1.key }).map { "\($0.key)×\($0.value)" }.joined(separator: " ")
                Output.line("receipt \(receipt.requestID) from \(receipt.service): erased \(receipt.erased.isEmpty ? "nothing held" : receipt.erased.joined(separator: "; ")); tombstones \(tombstones.isEmpty ? "none" : tombstones)")
            }
            for service in audit.missingReceipts { Output.line("MISSING RECEIPT: \(service)") }
            for finding in audit.leftovers.prefix(50) { Output.line("LEFT: \(finding)") }
            for (topic, count) in audit.retained.sorted(by: { $0.key < $1.key }) {
                Output.line("append-only: \(topic) holds \(count) records keyed by the user until its retention.ms")
            }
            Output.line("leftovers: \(audit.leftovers.count), missing receipts: \(audit.missingReceipts.count)")
            if !audit.passed { throw ExitCode(1) }
        }
    }
}
