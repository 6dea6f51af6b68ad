import ArgumentParser
import Foundation
import OrbitContract
import OrbitKafka

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Print a user's current profile (RFM, segment, lifecycle, tier, super user, churn model, referral circle)."
    )

    @Argument(help: "The user id.") var userID: String
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let reader = try TopicReader(kafka: try connection.configuration(), topics: [OrbitTopics.userProfiles])
        try reader.readToEnd()
        let key = Array(userID.utf8)
        guard let latest = reader.records[OrbitTopics.userProfiles]!.last(where: { $0.key == key }), let value = latest.value else {
            printError("orbit user: no profile for \(userID) on \(OrbitTopics.userProfiles)")
            throw ExitCode(1)
        }
        Output.line(Self.pretty(value))
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
