import Foundation
import OrbitContract
import OrbitKafka
import OrbitRuntime
import OrbitTestSupport
import XCTest

/// Consents and the right to be forgotten across the four services, as separate processes
/// (`orbit up`): `orbit forget` reaches every service, each answers with a receipt, and
/// `orbit verify erased` finds nothing of the user in any compacted topic or state changelog.
final class PrivacyErasureTests: XCTestCase {
    var home: URL!

    override func setUp() {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("orbit-privacy-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: home)
    }

    func orbit(_ arguments: [String]) throws -> ServiceProcess {
        // No default quiet hours: the wall clock may be at night, and the welcome this test waits
        // for would then be deferred to the morning (the services inherit this from `orbit up`).
        try ServiceProcess(executable: "orbit", arguments: arguments, environment: ["ORBIT_HOME": home.path, "ORBIT__NOTIFY__QUIET_HOURS": ""])
    }

    func finish(_ process: ServiceProcess, timeout: TimeInterval = 120) -> Int32? {
        _ = eventually(timeout: timeout) { !process.isRunning }
        return process.exitStatus
    }

    func testForgetErasesAUserFromEveryServiceAndTopicWithReceiptsAndConsentWithholdsProfiling() throws {
        let up = try orbit(["up"])
        defer { _ = try? up.terminate() }
        _ = try up.waitForLine(containing: "orbit up: broker on")
        XCTAssertTrue(eventually(timeout: 90) { up.output.filter { $0.contains("partitions assigned") }.count >= 4 }, "every service joined its groups")
        let bootstrap = try String(contentsOf: home.appendingPathComponent("bootstrap"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let kafka = KafkaConfiguration(["bootstrap.servers": bootstrap])

        // Two users with events, contacts, preferences and tags; "gone" will be erased, "kept"
        // withdrew consent to profiling.
        let now = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
        func event(_ id: String, _ user: String, _ type: String, _ offset: Int64, _ properties: String = "{}") -> ProducerRecord {
            let json = #"{"id":"\#(id)","user_id":"\#(user)","type":"\#(type)","time":"\#(RFC3339.format(millis: now + offset))","properties":\#(properties)}"#
            return ProducerRecord(topic: OrbitTopics.userEvents, key: Array(user.utf8), value: Array(json.utf8))
        }
        func keyed(_ topic: String, _ user: String, _ json: String) -> ProducerRecord {
            ProducerRecord(topic: topic, key: Array(user.utf8), value: Array(json.utf8))
        }
        var records: [ProducerRecord] = []
        for user in ["gone-7f3a", "kept-2b9c"] {
            records.append(keyed(OrbitTopics.userContacts, user, #"{"name":"N","email":"\#(user)@example.com","locale":"en","time_zone":"UTC"}"#))
            records.append(keyed(OrbitTopics.userTags, user, #"{"tags":["vip-trial"]}"#))
        }
        records.append(keyed(OrbitTopics.userPreferences, "gone-7f3a", #"{"categories":{"promotions":true},"consents":{"marketing":true}}"#))
        records.append(keyed(OrbitTopics.userPreferences, "kept-2b9c", #"{"consents":{"profiling":false}}"#))
        for user in ["gone-7f3a", "kept-2b9c"] {
            records.append(event("\(user)-s", user, "signup", 0))
            records.append(event("\(user)-p", user, "purchase", 1000, #"{"order_id":"o-\#(user)","amount":"120.00","currency":"USD"}"#))
        }
        try publish(records, kafka: kafka)

        // Everything about "gone" reached every service: profile, account, in-app welcome.
        let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.userProfiles, OrbitTopics.memberAccounts, OrbitTopics.userInbox, OrbitTopics.privacyReceipts])
        XCTAssertTrue(try reader.read(timeout: 120) { records in
            let profiles = records[OrbitTopics.userProfiles] ?? []
            return profiles.contains { $0.key == Array("gone-7f3a".utf8) && $0.value.map { String(decoding: $0, as: UTF8.self).contains("\"segment\"") } == true }
                && profiles.last(where: { $0.key == Array("kept-2b9c".utf8) })?.value.map { String(decoding: $0, as: UTF8.self).contains("\"profiling\"") } == true
                && (records[OrbitTopics.memberAccounts] ?? []).contains { $0.key == Array("gone-7f3a".utf8) }
                && (records[OrbitTopics.userInbox] ?? []).contains { $0.key.map { String(decoding: $0, as: UTF8.self).hasPrefix("gone-7f3a/") } == true }
        }, "the user's data reached every service:\n\(up.output.suffix(30).joined(separator: "\n"))")

        // Consent: no segment, tier or lifecycle for the user who withdrew it, and the reason.
        let kept = try XCTUnwrap(reader.records[OrbitTopics.userProfiles]?.last { $0.key == Array("kept-2b9c".utf8) }?.value)
        let keptProfile = try XCTUnwrap(JSONParser.parse(kept).objectValue)
        XCTAssertNil(keptProfile["segment"])
        XCTAssertNil(keptProfile["tier"])
        XCTAssertEqual(keptProfile["profiling"]?.objectValue?["reason"]?.stringValue?.contains("withdrew consent to profiling"), true)

        // Erase "gone": four receipts, then nothing left.
        let forget = try orbit(["forget", "gone-7f3a", "--request-id", "gdpr-1"])
        XCTAssertEqual(finish(forget), 0, forget.output.joined(separator: "\n"))
        XCTAssertTrue(try reader.read(timeout: 120) { records in
            Set((records[OrbitTopics.privacyReceipts] ?? []).compactMap { $0.value.flatMap(PrivacyReceipt.decode)?.service }).count == 4
        }, "every service answered:\n\(up.output.suffix(30).joined(separator: "\n"))")
        let receipts = (reader.records[OrbitTopics.privacyReceipts] ?? []).compactMap { $0.value.flatMap(PrivacyReceipt.decode) }
        XCTAssertEqual(Set(receipts.map(\.requestID)), ["gdpr-1"])
        XCTAssertEqual(Set(receipts.map(\.subject)).count, 1, "one pseudonym for one user across services")
        XCTAssertFalse(receipts.contains { String(decoding: $0.encoded(), as: UTF8.self).contains("gone-7f3a") }, "receipts never name the user")
        let byService = Dictionary(receipts.map { ($0.service, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(byService["orbit-notify"]?.tombstones[OrbitTopics.userContacts], 1)
        XCTAssertGreaterThanOrEqual(byService["orbit-notify"]?.tombstones[OrbitTopics.userInbox] ?? 0, 1)
        XCTAssertEqual(byService["orbit-members"]?.tombstones[OrbitTopics.memberAccounts], 1)
        XCTAssertEqual(byService["orbit-scorer"]?.tombstones[OrbitTopics.userProfiles], 1)

        // The audit reads every compacted topic and store changelog: nothing left. The tombstones
        // are written after the receipts' batch is acknowledged, so allow a moment.
        var verify: ServiceProcess?
        XCTAssertTrue(try eventually(timeout: 60, interval: 2) {
            let run = try orbit(["verify", "erased", "gone-7f3a", "--pseudonym-key-file", home.appendingPathComponent("pseudonym.key").path])
            _ = finish(run)
            verify = run
            return run.exitStatus == 0
        }, verify?.output.joined(separator: "\n") ?? "")
        let report = verify?.output.joined(separator: "\n") ?? ""
        XCTAssertTrue(report.contains("leftovers: 0, missing receipts: 0"), report)
        XCTAssertTrue(report.contains("append-only: orbit.points-ledger"), "the ledger's retained records are reported:\n\(report)")

        // The ledger still verifies: the forfeit closed the erased member's balance.
        let ledger = try orbit(["verify", "ledger"])
        XCTAssertEqual(finish(ledger), 0, ledger.output.joined(separator: "\n"))

        // The audit does find a user who was not erased.
        let notErased = try orbit(["verify", "erased", "kept-2b9c", "--pseudonym-key-file", home.appendingPathComponent("pseudonym.key").path])
        XCTAssertEqual(finish(notErased), 1)
        XCTAssertTrue(notErased.output.contains { $0.hasPrefix("LEFT: orbit.user-contacts key kept-2b9c") }, notErased.output.joined(separator: "\n"))
        XCTAssertTrue(notErased.output.contains("MISSING RECEIPT: orbit-scorer"), notErased.output.joined(separator: "\n"))

        // Nothing the services logged names the erased user's e-mail address.
        XCTAssertFalse(up.output.contains { $0.contains("gone-7f3a@example.com") }, "an e-mail address in the logs")
        XCTAssertEqual(try up.terminate(), 0)
    }

    private func publish(_ records: [ProducerRecord], kafka: KafkaConfiguration) throws {
        let producer = try KafkaProducer(configuration: kafka, logger: .init(label: "test.publisher"))
        defer { producer.close() }
        let batch = DeliveryBatch()
        for record in records { try producer.send(record, in: batch) }
        try batch.waitForAll()
    }
}
