import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// `orbit forget USER_ID`: the right to be forgotten, as a request every service acts on.
struct ForgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Ask every service to erase a user: publishes an erase request to orbit.privacy-requests (key: the user id).",
        discussion: """
            Each service erases the user's state, writes tombstones to the compacted topics that hold the user, and \
            publishes a receipt on orbit.privacy-receipts. Check the result with `orbit verify erased USER_ID`.
            """)

    @Argument(help: "The user id to erase.") var userID: String
    @Option(help: "The request id (default: forget-<epoch ms>-<random>, never derived from the user id); a repeat with the same id is answered the same way.") var requestID: String?
    @Option(help: "Topic of privacy requests.") var topic = OrbitTopics.privacyRequests
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        if let violation = IdentifierRules.violation(userID) { throw ValidationError("the user id \(violation)") }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let request = PrivacyRequest(requestID: requestID ?? "forget-\(now)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))", userID: userID, requestedAtMillis: now)
        if let violation = IdentifierRules.violation(request.requestID) { throw ValidationError("the request id \(violation)") }
        let producer = try KafkaProducer(configuration: try connection.configuration(), name: "orbit-forget", logger: Logger(label: "orbit.forget"))
        defer { producer.close() }
        let batch = DeliveryBatch()
        try producer.send(ProducerRecord(topic: topic, key: Array(userID.utf8), value: request.encoded(), timestampMillis: now), in: batch)
        try batch.waitForAll()
        Output.line("erase request \(request.requestID) published to \(topic); check with: orbit verify erased \(userID)")
    }
}

/// `orbit privacy-key FILE`: makes a deployment's one pseudonym key, shared by every service and
/// instance (`privacy.pseudonym_key_file`), so a user has one pseudonym everywhere.
struct PrivacyKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy-key",
        abstract: "Create the pseudonym key file every service shares (32 random bytes, mode 0600) unless it exists; never overwrites.",
        discussion: """
            docker-compose runs it once (the privacy-key-init service) into a volume every Orbit service mounts. \
            Keep the file as a secret: with it, a pseudonym can be matched to a user id one guess at a time; \
            without it, never. A new key gives every user a new pseudonym.
            """)

    @Argument(help: "The key file to create.") var file: String

    func run() throws {
        let directory = (file as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let created = try PrivacySettings.createKeyFile(at: file)
        // Whether made now or before, it must be a usable key: the services would refuse it at start.
        _ = try PrivacySettings(pseudonymKeyFile: file).loadPseudonymizer()
        Output.line(created ? "created the pseudonym key \(file)" : "the pseudonym key \(file) exists; kept")
    }
}
