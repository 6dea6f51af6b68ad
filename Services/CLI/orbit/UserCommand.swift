import ArgumentParser
import Foundation
import OrbitContract
import OrbitKafka

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Print a user's profile (RFM, segment, lifecycle, tier, super user, churn model, referral circle), points account and recent ledger."
    )
    @Option(help: "Ledger entries to show, newest last.") var entries = 10

    @Argument(help: "The user id.") var userID: String
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try OptionChecks.require(entries, "entries", in: 0...10_000)
    }

    func run() async throws {
        let topics = [OrbitTopics.userProfiles, OrbitTopics.memberAccounts, OrbitTopics.pointsLedger]
        let reader = try TopicReader(kafka: try connection.configuration(), topics: topics)
        try reader.readToEnd()
        let key = Array(userID.utf8)
        let profile = reader.records[OrbitTopics.userProfiles]!.last { $0.key == key }?.value
        let account = reader.records[OrbitTopics.memberAccounts]!.last { $0.key == key }?.value
        var seen = Set<String>()
        let ledger = reader.records[OrbitTopics.pointsLedger]!.filter { $0.key == key }.compactMap { record -> JSONObject? in
            guard let object = try? JSONParser.parse(record.value ?? []).objectValue, let entryKey = object["key"]?.stringValue,
                  seen.insert(entryKey).inserted else { return nil }  // identical repeats shown once
            return object
        }
        guard profile != nil || account != nil else {
            printError("orbit user: nothing is known about \(userID) (no profile on \(OrbitTopics.userProfiles), no account on \(OrbitTopics.memberAccounts))")
            throw ExitCode(1)
        }
        if let profile { Output.line("== profile ==\n" + Self.pretty(profile)) }
        if let account { Output.line("== points account ==\n" + Self.pretty(account)) }
        if !ledger.isEmpty {
            Output.line("== points ledger (last \(min(entries, ledger.count)) of \(ledger.count)) ==")
            for entry in ledger.suffix(entries) {
                let points = entry["points"]?.numberValue?.int64Value ?? 0
                Output.line("\(entry["time"]?.stringValue ?? "")  \((entry["kind"]?.stringValue ?? "").padding(toLength: 7, withPad: " ", startingAt: 0)) \(String(format: "%+8d", points))  balance \(entry["balance_after"]?.numberValue?.lexeme ?? "?")  \(entry["reason"]?.stringValue ?? "")")
            }
        }
    }

    /// Indented JSON for people.
    static func pretty(_ bytes: [UInt8]) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        return String(decoding: data, as: UTF8.self)
    }
}
