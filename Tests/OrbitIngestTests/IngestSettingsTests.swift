import OrbitContract
import OrbitIngest
import OrbitRuntime
import XCTest

final class IngestSettingsTests: XCTestCase {
    private func loadSettings(_ yaml: String, environment: [String: String] = [:],
                              file: StaticString = #filePath, line: UInt = #line) -> IngestSettings? {
        do throws(ConfigError) {
            return try IngestSettings(document: ConfigDocument(yaml: yaml, file: "ingest.yaml", environment: environment))
        } catch {
            XCTFail("unexpected configuration error: \(error)", file: file, line: line)
            return nil
        }
    }

    private func settingsError(_ yaml: String, environment: [String: String] = [:],
                               file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do throws(ConfigError) {
            let settings = try IngestSettings(document: ConfigDocument(yaml: yaml, file: "ingest.yaml", environment: environment))
            XCTFail("expected a configuration error, got policy \(settings.policy)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testDefaults() throws {
        let settings = try XCTUnwrap(loadSettings("topics: {}\n"))
        let defaults = IngestSettings()
        XCTAssertEqual(settings.groupID, "orbit-ingest")
        XCTAssertEqual(settings.inputTopic, OrbitTopics.userEvents)
        XCTAssertEqual(settings.validTopic, OrbitTopics.validEvents)
        XCTAssertEqual(settings.deadLetterTopic, OrbitTopics.deadLetters)
        XCTAssertEqual(settings.dedupChangelogTopic, OrbitTopics.ingestDedupChangelog)
        XCTAssertEqual(settings.policy.maxPayloadBytes, 64 * 1024)
        XCTAssertEqual(settings.policy.maxFutureSkewMillis, 300_000)
        XCTAssertEqual(settings.policy.defaultCurrency, "USD")
        XCTAssertEqual(settings.policy.currencies, .standard)
        XCTAssertEqual(settings.policy.extraEventTypes, [])
        XCTAssertEqual(settings.dedupWindowMillis, 7 * 86_400_000)
        XCTAssertEqual(settings.dedupWindowMillis, defaults.dedupWindowMillis)
        XCTAssertEqual(settings.dedupMaxIDsPerPartition, defaults.dedupMaxIDsPerPartition)
        XCTAssertEqual(settings.deadLetterMaxPayloadBytes, defaults.deadLetterMaxPayloadBytes)
    }

    func testValidOverridesApplyToThePolicy() throws {
        let yaml = """
            topics:
              input: in
              valid: out
              dead_letters: dlq
              dedup_changelog: dedup
            ingest:
              group_id: ingest-eu
              max_payload_bytes: 1024
              max_future_skew_seconds: 60
              dedup_window_days: 1
              dedup_max_ids_per_partition: 1000
              dead_letter_max_payload_bytes: 2048
              currencies:
                EUR: 2
                JPY: 0
                KWD: 3
              default_currency: EUR
              extra_event_types: [teleport, warp_drive2]
            """
        let settings = try XCTUnwrap(loadSettings(yaml))
        XCTAssertEqual(settings.inputTopic, "in")
        XCTAssertEqual(settings.validTopic, "out")
        XCTAssertEqual(settings.deadLetterTopic, "dlq")
        XCTAssertEqual(settings.dedupChangelogTopic, "dedup")
        XCTAssertEqual(settings.groupID, "ingest-eu")
        XCTAssertEqual(settings.policy.maxPayloadBytes, 1024)
        XCTAssertEqual(settings.policy.maxFutureSkewMillis, 60_000)
        XCTAssertEqual(settings.dedupWindowMillis, 86_400_000)
        XCTAssertEqual(settings.dedupMaxIDsPerPartition, 1000)
        XCTAssertEqual(settings.deadLetterMaxPayloadBytes, 2048)
        XCTAssertEqual(settings.policy.currencies, CurrencyCatalog(["EUR": 2, "JPY": 0, "KWD": 3]))
        XCTAssertEqual(settings.policy.defaultCurrency, "EUR")
        XCTAssertEqual(settings.policy.extraEventTypes, [EventType("teleport"), EventType("warp_drive2")])
        XCTAssertTrue(settings.policy.isKnown(EventType("teleport")))
        XCTAssertTrue(settings.policy.isKnown(.purchase))
        XCTAssertFalse(settings.policy.isKnown(EventType("warp")))
    }

    func testConfiguredPolicyDrivesValidation() throws {
        let settings = try XCTUnwrap(loadSettings("ingest:\n  extra_event_types: [teleport]\n  currencies:\n    EUR: 2\n  default_currency: EUR\n"))
        let validator = EventValidator(policy: settings.policy)
        let reference: Int64 = 1_772_366_400_000
        let teleport = Array(#"{"id":"e","user_id":"u","type":"teleport","time":"2026-03-01T11:00:00Z"}"#.utf8)
        XCTAssertNoThrow(try validator.validate(teleport, referenceTimeMillis: reference).get())
        let overdue = Array(#"{"id":"e","user_id":"u","type":"payment_overdue","time":"2026-03-01T11:00:00Z","properties":{"invoice_id":"i","amount":"3.50","days_overdue":1}}"#.utf8)
        let event = try validator.validate(overdue, referenceTimeMillis: reference).get()
        XCTAssertEqual(event.properties["currency"], .string("EUR"))
        let dollars = Array(#"{"id":"e","user_id":"u","type":"refund","time":"2026-03-01T11:00:00Z","properties":{"order_id":"o","amount":"1.00","currency":"USD"}}"#.utf8)
        guard case .failure(let rejection) = validator.validate(dollars, referenceTimeMillis: reference) else {
            return XCTFail("USD is not configured, so it must be rejected")
        }
        XCTAssertEqual(rejection.code, .unknownCurrency)
    }

    func testEnvironmentOverrides() throws {
        let settings = try XCTUnwrap(loadSettings("ingest:\n  max_payload_bytes: 1024\n", environment: [
            "ORBIT__INGEST__MAX_PAYLOAD_BYTES": "4096",
            "ORBIT__INGEST__EXTRA_EVENT_TYPES": "teleport, warp",
            "ORBIT__TOPICS__INPUT": "raw-events",
        ]))
        XCTAssertEqual(settings.policy.maxPayloadBytes, 4096)
        XCTAssertEqual(settings.policy.extraEventTypes, [EventType("teleport"), EventType("warp")])
        XCTAssertEqual(settings.inputTopic, "raw-events")
    }

    func testDefaultCurrencyMustBeConfigured() throws {
        let error = try XCTUnwrap(settingsError("ingest:\n  default_currency: XYZ\n"))
        XCTAssertEqual(error.field, "ingest.default_currency")
        XCTAssertEqual(error.file, "ingest.yaml")
        XCTAssertEqual(error.line, 2)
        XCTAssertTrue(error.message.contains("XYZ"), error.message)
    }

    func testImplicitDefaultCurrencyMustBeAmongConfiguredCurrencies() throws {
        // The default, USD, is not in a list that only has EUR.
        let error = try XCTUnwrap(settingsError("ingest:\n  currencies:\n    EUR: 2\n"))
        XCTAssertEqual(error.field, "ingest.default_currency")
        XCTAssertTrue(error.message.contains("USD"), error.message)
    }

    func testDefaultCurrencyFromEnvironmentNamesTheVariable() throws {
        let error = try XCTUnwrap(settingsError("topics: {}\n", environment: ["ORBIT__INGEST__DEFAULT_CURRENCY": "XYZ"]))
        XCTAssertEqual(error.field, "ingest.default_currency")
        XCTAssertTrue(error.message.contains("ORBIT__INGEST__DEFAULT_CURRENCY"), error.message)
    }

    func testLowercaseCurrencyCodeIsRejected() throws {
        let error = try XCTUnwrap(settingsError("ingest:\n  currencies:\n    usd: 2\n"))
        XCTAssertEqual(error.field, "ingest.currencies.usd")
        XCTAssertEqual(error.line, 3)
        XCTAssertTrue(error.message.contains("ISO 4217"), error.message)
    }

    func testCurrencyCodeMustHaveThreeLetters() throws {
        XCTAssertEqual(try XCTUnwrap(settingsError("ingest:\n  currencies:\n    EURO: 2\n")).field, "ingest.currencies.EURO")
        XCTAssertEqual(try XCTUnwrap(settingsError("ingest:\n  currencies:\n    US1: 2\n")).field, "ingest.currencies.US1")
    }

    func testCurrencyDigitsOutOfRange() throws {
        let error = try XCTUnwrap(settingsError("ingest:\n  currencies:\n    USD: 9\n"))
        XCTAssertEqual(error.field, "ingest.currencies.USD")
        XCTAssertEqual(error.line, 3)
    }

    func testBuiltInExtraEventTypeIsRejected() throws {
        let error = try XCTUnwrap(settingsError("ingest:\n  extra_event_types: [purchase]\n"))
        XCTAssertEqual(error.field, "ingest.extra_event_types")
        XCTAssertEqual(error.line, 2)
        XCTAssertTrue(error.message.contains("purchase"), error.message)
    }

    func testExtraEventTypeNamesMustBeLowerCase() throws {
        for name in ["Teleport", "warp-drive", "warp drive", "\"\"", "téléport"] {
            let error = settingsError("ingest:\n  extra_event_types: [\(name)]\n")
            XCTAssertEqual(error?.field, "ingest.extra_event_types", name)
        }
    }

    func testExtraEventTypesMustBeAList() throws {
        let error = try XCTUnwrap(settingsError("ingest:\n  extra_event_types:\n    a: b\n"))
        XCTAssertEqual(error.field, "ingest.extra_event_types")
    }

    func testOutOfRangeNumbers() throws {
        XCTAssertEqual(try XCTUnwrap(settingsError("ingest:\n  max_payload_bytes: 10\n")).field, "ingest.max_payload_bytes")
        XCTAssertEqual(try XCTUnwrap(settingsError("ingest:\n  dedup_window_days: 400\n")).field, "ingest.dedup_window_days")
        XCTAssertEqual(try XCTUnwrap(settingsError("ingest:\n  dead_letter_max_payload_bytes: 1\n")).field, "ingest.dead_letter_max_payload_bytes")
        XCTAssertEqual(try XCTUnwrap(settingsError("ingest:\n  max_future_skew_seconds: -1\n")).field, "ingest.max_future_skew_seconds")
    }

    func testUnknownKeysAreRejected() throws {
        let ingest = try XCTUnwrap(settingsError("ingest:\n  group_id: g\n  max_payload_byte: 1\n"))
        XCTAssertEqual(ingest.field, "ingest.max_payload_byte")
        XCTAssertEqual(ingest.line, 3)
        let topics = try XCTUnwrap(settingsError("topics:\n  inputs: x\n"))
        XCTAssertEqual(topics.field, "topics.inputs")
        XCTAssertEqual(topics.line, 2)
    }
}
