import ArgumentParser
import Foundation
import OrbitContract
import OrbitKafka
import OrbitRuntime

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Print a user's profile (RFM, segment, lifecycle, tier, super user, churn model, referral circle) and points account.",
        discussion: """
            Asks the running services (their query API: a scorer's GET /v1/users/{id}, orbit-members' GET /v1/members/{id}),             found on orbit.instances, with the bearer token of --token-file: milliseconds, whatever the number of users.             When no service answers, or with --scan, reads the profiles, accounts and ledger topics whole instead (and shows             the last ledger entries).
            """
    )
    @Option(help: "Ledger entries to show, newest last (--scan).") var entries = 10
    @Flag(help: "Read the topics whole instead of asking the services (for when none runs).") var scan = false
    @Option(help: "The query token's file (default: $ORBIT_HOME/query-token, which `orbit up` writes).") var tokenFile: String?

    @Argument(help: "The user id.") var userID: String
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        try OptionChecks.require(entries, "entries", in: 0...10_000)
    }

    func run() async throws {
        if !scan {
            if try await asked() { return }
        }
        try scanned()
    }

    /// The services' answers; false when they cannot give one (then the topics are read).
    private func asked() async throws -> Bool {
        let path = tokenFile ?? LocalBrokerAddress.directory + "/query-token"
        guard let token = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
            printError("orbit user: no query token in \(path); reading the topics instead")
            return false
        }
        let client = QueryClient(token: token, instances: try QueryClient.instances(kafka: try connection.configuration()))
        let id = userID.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? userID
        let profile = await client.get(service: "orbit-scorer", path: "/v1/users/\(id)")
        let member = await client.get(service: "orbit-members", path: "/v1/members/\(id)")
        if case .unavailable(let why) = profile, case .unavailable = member {
            printError("orbit user: the services did not answer (\(why)); reading the topics instead")
            return false
        }
        var shown = false
        for (title, answer) in [("profile", profile), ("member", member)] {
            switch answer {
            case .found(let bytes):
                Output.line("== \(title) ==\n" + Self.pretty(bytes))
                shown = true
            case .notFound: break
            case .unavailable(let why): printError("orbit user: no \(title): \(why)")
            }
        }
        guard shown else {
            printError("orbit user: nothing is known about \(userID) (no profile, no account)")
            throw ExitCode(1)
        }
        return true
    }

    private func scanned() throws {
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
