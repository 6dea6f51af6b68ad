import ArgumentParser
import Foundation
import OrbitContract
import OrbitKafka
import OrbitMembership

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Check invariants over what the services published.", subcommands: [Ledger.self])

    struct Ledger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the points ledger: keys applied once (or identical copies), balances chain from 0, never negative, accounts equal their ledgers. Exits 1 on any violation.")
        @Flag(help: "Negative balances are allowed (membership.allow_negative_balance).") var allowNegative = false
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let reader = try TopicReader(kafka: try connection.configuration(), topics: [OrbitTopics.pointsLedger, OrbitTopics.memberAccounts])
            try reader.readToEnd(timeout: 300)
            let report = LedgerVerifier.verify(ledger: (reader.records[OrbitTopics.pointsLedger] ?? []).map { ($0.key, $0.value) },
                                               accounts: (reader.records[OrbitTopics.memberAccounts] ?? []).map { ($0.key, $0.value) },
                                               allowNegative: allowNegative)
            Output.line("ledger: \(report.entries) entries for \(report.users) users (\(report.repeatedCopies) identical repeated copies)")
            for violation in report.violations.prefix(50) { Output.line("VIOLATION: \(violation)") }
            Output.line("violations: \(report.violations.count)")
            if !report.violations.isEmpty { throw ExitCode(1) }
        }
    }
}
