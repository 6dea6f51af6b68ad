import OrbitContract
import OrbitKafka
import OrbitRuntime
import XCTest

/// Privacy requests, receipts, consents and pseudonyms: the contract's parsing and its guarantees.
final class PrivacyContractTests: XCTestCase {
    func testARequestRoundTripsAndBadOnesSayWhichFieldIsWrong() throws {
        let request = PrivacyRequest(requestID: "gdpr-7", userID: "u-42", requestedAtMillis: 1_780_000_000_000)
        XCTAssertEqual(try PrivacyRequest.decode(request.encoded(), key: "u-42"), request)
        func field(_ json: String, key: String = "u-42") -> String? {
            do { _ = try PrivacyRequest.decode(Array(json.utf8), key: key); return "accepted" } catch { return error.field ?? error.message }
        }
        XCTAssertEqual(field("[]"), "not a JSON object")
        XCTAssertEqual(field(#"{"type":"erase","request_id":"r","user_id":"u-42","requested_at":"2026-01-01T00:00:00Z"}"#), "schema_version")
        XCTAssertEqual(field(#"{"schema_version":1,"type":"export","request_id":"r","user_id":"u-42","requested_at":"2026-01-01T00:00:00Z"}"#), "type")
        XCTAssertEqual(field(#"{"schema_version":1,"type":"erase","request_id":" r","user_id":"u-42","requested_at":"2026-01-01T00:00:00Z"}"#), "request_id")
        XCTAssertEqual(field(#"{"schema_version":1,"type":"erase","request_id":"r","user_id":"u-43","requested_at":"2026-01-01T00:00:00Z"}"#), "user_id")
        XCTAssertEqual(field(#"{"schema_version":1,"type":"erase","request_id":"r","user_id":"u-42","requested_at":"yesterday"}"#), "requested_at")
        XCTAssertEqual(field(String(repeating: " ", count: 5000)), "larger than 4096 bytes")
    }

    func testAReceiptRoundTrips() {
        let receipt = PrivacyReceipt(requestID: "r", subject: "p1:00", service: "orbit-scorer", erased: ["user state"],
                                     tombstones: ["orbit.user-profiles": 1], notes: ["n"], timeMillis: 1_780_000_000_000)
        XCTAssertEqual(PrivacyReceipt.decode(receipt.encoded()), receipt)
    }

    func testConsentsAreWithdrawnOnlyByFalseAndUnknownPurposesAreRejected() throws {
        func consents(_ json: String) throws -> Consents { try Consents.of(preferences: XCTUnwrap(JSONParser.parse(json).objectValue)) }
        XCTAssertEqual(try consents(#"{}"#), Consents())
        XCTAssertEqual(try consents(#"{"consents":null}"#), Consents())
        XCTAssertEqual(try consents(#"{"consents":{"marketing":true,"profiling":false}}"#), Consents(withdrawn: [.profiling]))
        XCTAssertFalse(try consents(#"{"consents":{"marketing":false}}"#).allows(.marketing))
        XCTAssertThrowsError(try consents(#"{"consents":{"selling":false}}"#))
        XCTAssertThrowsError(try consents(#"{"consents":{"profiling":"no"}}"#))
        XCTAssertThrowsError(try consents(#"{"consents":[false]}"#))
    }

    func testPseudonymsAreStableKeyedAndNeverTheId() {
        let a = Pseudonymizer(key: Array(repeating: 1, count: 32))
        let b = Pseudonymizer(key: Array(repeating: 2, count: 32))
        XCTAssertEqual(a.pseudonym("u-42"), a.pseudonym("u-42"))
        XCTAssertNotEqual(a.pseudonym("u-42"), a.pseudonym("u-43"))
        XCTAssertNotEqual(a.pseudonym("u-42"), b.pseudonym("u-42"), "another key, another pseudonym")
        XCTAssertTrue(a.pseudonym("u-42").hasPrefix("p1:"))
        XCTAssertEqual(a.pseudonym("u-42").count, 3 + 32)
        XCTAssertFalse(a.pseudonym("u-42").contains("u-42"))
    }

    /// Coupon codes and other keyed hashes are HMAC-SHA256 under a key derived per purpose; a
    /// hasher used many times gives each message the bytes a fresh HMAC gives (the values are
    /// Python's `hmac` over the same key, purpose and messages).
    func testKeyedHashesAreHMACUnderTheDerivedKeyHoweverOftenTheHasherIsUsed() {
        let secret = Pseudonymizer(key: Array(repeating: 1, count: 32))
        let hasher = secret.hasher(purpose: "test purpose")
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let expected = [("", "799214eb237a90fd7001708afb852b6dbd5317c776b2a27db852fdf2730883a8"),
                        ("u-42\u{0}r-1\u{0}0", "1e2cba64ecdc27a2bf7fd6434059e311eb237584eac23538446d6d5f06283b03"),
                        (String(repeating: "x", count: 200), "3f288d424987bce9ba20c2178a3bdc2f638721a8deb89a089d991ce70aee1eb0")]
        for _ in 0..<2 {
            for (message, mac) in expected {
                XCTAssertEqual(hex(hasher.hash(Array(message.utf8))), mac)
                XCTAssertEqual(hex(secret.keyedHash(Array(message.utf8), purpose: "test purpose")), mac)
            }
        }
    }

    func testAShortOrMissingKeyFileIsAConfigurationError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("orbit-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let short = directory.appendingPathComponent("short.key")
        try Data("too short".utf8).write(to: short)
        let yaml = "privacy:\n  pseudonym_key_file: \(short.path)\n"
        XCTAssertThrowsError(try PrivacySettings(document: ConfigDocument(yaml: yaml, file: "svc.yaml"))) { error in
            XCTAssertTrue("\(error)".contains("privacy.pseudonym_key_file"), "\(error)")
            XCTAssertTrue("\(error)".contains("svc.yaml"), "\(error)")
        }
        let missing = "privacy:\n  pseudonym_key_file: \(directory.path)/none.key\n"
        XCTAssertThrowsError(try PrivacySettings(document: ConfigDocument(yaml: missing, file: "svc.yaml")))
        let good = directory.appendingPathComponent("good.key")
        try Data(Array(repeating: 7, count: 32)).write(to: good)
        let settings = try PrivacySettings(document: ConfigDocument(yaml: "privacy:\n  pseudonym_key_file: \(good.path)\n", file: "svc.yaml"))
        XCTAssertEqual(settings.pseudonymizer.pseudonym("u"), Pseudonymizer(key: Array(repeating: 7, count: 32)).pseudonym("u"))
    }

    func testTheAuditFindsTheUsersKeysAndMentionsButNotTombstonedOrOtherUsers() {
        func r(_ topic: String, _ key: String, _ value: String?) -> ConsumerRecord {
            ConsumerRecord(topic: topic, partition: 0, offset: 0, key: Array(key.utf8), value: value.map { Array($0.utf8) }, headers: [], timestampMillis: 0)
        }
        let compacted = [
            "profiles": [r("profiles", "u-1", #"{"user_id":"u-1"}"#), r("profiles", "u-1", nil), r("profiles", "u-12", #"{"user_id":"u-12"}"#)],
            "inbox": [r("inbox", "u-1/n-1", #"{"x":1}"#)],
            "accounts": [r("accounts", "u-3", #"{"referred_by":"u-1"}"#)],
        ]
        let receipt = PrivacyReceipt(requestID: "r", subject: "p1:s", service: "orbit-scorer", erased: [], tombstones: [:], timeMillis: 0)
        let audit = ErasureAudit.audit(user: "u-1", subject: "p1:s", compacted: compacted, appendOnly: ["ledger": [r("ledger", "u-1", "{}")]],
                                       receipts: [r("receipts", "r", String(decoding: receipt.encoded(), as: UTF8.self))], services: ["orbit-scorer", "orbit-notify"])
        XCTAssertEqual(audit.leftovers.map(\.description).sorted(), [
            "accounts key u-3: the value mentions the user id",
            "inbox key u-1/n-1: the user's key still has a value",
        ])
        XCTAssertEqual(audit.missingReceipts, ["orbit-notify"])
        XCTAssertEqual(audit.retained, ["ledger": 1])
        XCTAssertFalse(audit.passed)
    }
}
