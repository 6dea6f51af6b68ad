import Foundation
import OrbitKafka
import OrbitRuntime
import XCTest

final class ConfigDocumentTests: XCTestCase {
    private static let kafkaYAML = "kafka:\n  bootstrap.servers: localhost:9092\n"

    // MARK: Helpers

    private func loadDocument(_ yaml: String, file: String = "x.yaml", environment: [String: String] = [:],
                          sourceFile: StaticString = #filePath, line: UInt = #line) -> ConfigDocument? {
        do throws(ConfigError) {
            return try ConfigDocument(yaml: yaml, file: file, environment: environment)
        } catch {
            XCTFail("unexpected configuration error: \(error)", file: sourceFile, line: line)
            return nil
        }
    }

    private func loadSettings(_ yaml: String, environment: [String: String] = [:],
                          sourceFile: StaticString = #filePath, line: UInt = #line) -> RuntimeSettings? {
        do throws(ConfigError) {
            let document = try ConfigDocument(yaml: yaml, file: "x.yaml", environment: environment)
            return try RuntimeSettings(document: document, defaultServiceName: "orbit-test", defaultHTTPPort: 9100)
        } catch {
            XCTFail("unexpected configuration error: \(error)", file: sourceFile, line: line)
            return nil
        }
    }

    /// The error from reading `yaml` (document and runtime settings), or nil and a failure.
    private func settingsError(_ yaml: String, file: String = "x.yaml", environment: [String: String] = [:],
                               sourceFile: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do throws(ConfigError) {
            let document = try ConfigDocument(yaml: yaml, file: file, environment: environment)
            var settings = try RuntimeSettings(document: document, defaultServiceName: "orbit-test", defaultHTTPPort: 9100)
            try settings.resolveBootstrapServers()
            XCTFail("expected a configuration error", file: sourceFile, line: line)
            return nil
        } catch {
            return error
        }
    }

    private func documentError(_ yaml: String, file: String = "x.yaml", environment: [String: String] = [:],
                               sourceFile: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do throws(ConfigError) {
            _ = try ConfigDocument(yaml: yaml, file: file, environment: environment)
            XCTFail("expected a configuration error", file: sourceFile, line: line)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Runtime settings

    func testDefaults() throws {
        let settings = try XCTUnwrap(loadSettings(Self.kafkaYAML))
        XCTAssertEqual(settings.serviceName, "orbit-test")
        XCTAssertEqual(settings.httpPort, 9100)
        XCTAssertEqual(settings.httpHost, "0.0.0.0")
        XCTAssertEqual(settings.logLevel, "info")
        XCTAssertEqual(settings.logFormat, .text)
        XCTAssertEqual(settings.guarantee, .atLeastOnce)
        XCTAssertEqual(settings.maxBatchRecords, 5000)
        XCTAssertEqual(settings.maxBatchWait, .milliseconds(200))
        XCTAssertEqual(settings.maxInFlightBatches, 4)
        XCTAssertEqual(settings.kafka["bootstrap.servers"], "localhost:9092")
    }

    func testValuesFromYAML() throws {
        let yaml = """
            service:
              name: ingest-eu
              http_port: 8081
              log_level: debug
              log_format: json
            kafka:
              bootstrap.servers: broker-1:9092,broker-2:9092
              security.protocol: SASL_SSL
            processing:
              guarantee: exactly_once
              max_batch_records: 10_000
              max_batch_wait_ms: 50
            """
        let settings = try XCTUnwrap(loadSettings(yaml))
        XCTAssertEqual(settings.serviceName, "ingest-eu")
        XCTAssertEqual(settings.httpPort, 8081)
        XCTAssertEqual(settings.logLevel, "debug")
        XCTAssertEqual(settings.logFormat, .json)
        XCTAssertEqual(settings.kafka["bootstrap.servers"], "broker-1:9092,broker-2:9092")
        XCTAssertEqual(settings.kafka["security.protocol"], "SASL_SSL")
        XCTAssertEqual(settings.guarantee, .exactlyOnce)
        XCTAssertEqual(settings.maxBatchRecords, 10_000)
        XCTAssertEqual(settings.maxBatchWait, .milliseconds(50))
    }

    /// Batches in flight are an at-least-once setting: beside exactly_once it would do nothing.
    func testBatchesInFlightBesideExactlyOnceAreAnError() throws {
        let error = try XCTUnwrap(settingsError("processing:\n  guarantee: exactly_once\n  max_in_flight_batches: 8\n" + Self.kafkaYAML))
        XCTAssertEqual(error.field, "processing.max_in_flight_batches")
        XCTAssertEqual(error.line, 3)
    }

    func testBadNumberNamesFileLineAndField() throws {
        let error = try XCTUnwrap(settingsError("processing:\n  max_batch_records: lots\n" + Self.kafkaYAML))
        XCTAssertEqual(error.file, "x.yaml")
        XCTAssertEqual(error.line, 2)
        XCTAssertEqual(error.field, "processing.max_batch_records")
        XCTAssertTrue(error.message.contains("lots"), error.message)
        XCTAssertTrue(error.description.hasPrefix("x.yaml:2: processing.max_batch_records: "), error.description)
    }

    func testKafkaSecretsComeFromFilesAndAreNeverShown() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("orbit-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("password")
        try "s3cr3t-Value\n".write(to: secret, atomically: true, encoding: .utf8)

        let yaml = "kafka:\n  bootstrap.servers: broker:9093\n  security.protocol: SASL_SSL\n  sasl.mechanisms: SCRAM-SHA-512\n  sasl.username: orbit\n  sasl.password_file: \(secret.path)\n"
        let settings = try XCTUnwrap(loadSettings(yaml))
        XCTAssertEqual(settings.kafka["sasl.password"], "s3cr3t-Value", "the file's text without its line break")
        XCTAssertNil(settings.kafka["sasl.password_file"])
        XCTAssertEqual(settings.kafka.redacted["sasl.password"], "(secret)")
        XCTAssertEqual(settings.kafka.redacted["sasl.username"], "orbit")
        // From the environment too (ORBIT__KAFKA__SASL_PASSWORD_FILE reads as sasl.password.file).
        let fromEnvironment = try XCTUnwrap(loadSettings(Self.kafkaYAML, environment: ["ORBIT__KAFKA__SASL_PASSWORD_FILE": secret.path]))
        XCTAssertEqual(fromEnvironment.kafka["sasl.password"], "s3cr3t-Value")

        let missing = try XCTUnwrap(settingsError("kafka:\n  bootstrap.servers: b:9092\n  sasl.password_file: /nonexistent/secret\n"))
        XCTAssertEqual(missing.field, "kafka.sasl.password_file")
        XCTAssertEqual(missing.line, 3)
        XCTAssertEqual(missing.message, "cannot read the file /nonexistent/secret")
        let both = try XCTUnwrap(settingsError("kafka:\n  bootstrap.servers: b:9092\n  sasl.password: x\n  sasl.password_file: \(secret.path)\n"))
        XCTAssertEqual(both.message, "sasl.password is set as well: give the value or a file, not both")
    }

    func testABadKafkaPropertyIsAConfigurationErrorAndASecretValueIsNotQuoted() throws {
        let unknown = try XCTUnwrap(settingsError("kafka:\n  bootstrap.servers: b:9092\n  bootstrap.servrs: x\n"))
        XCTAssertEqual(unknown.field, "kafka.bootstrap.servrs")
        XCTAssertEqual(unknown.line, 3)
        let badValue = try XCTUnwrap(settingsError("kafka:\n  bootstrap.servers: b:9092\n  ssl.key.password: hunter2\n  security.protocol: carrier-pigeon\n"))
        XCTAssertEqual(badValue.field, "kafka.security.protocol")
        XCTAssertTrue(badValue.message.contains("carrier-pigeon"), "an ordinary value is quoted to help: \(badValue.message)")
        XCTAssertEqual(KafkaConfiguration.isSecret("ssl.key.password"), true)
        XCTAssertEqual(KafkaConfiguration.isSecret("sasl.oauthbearer.client.secret"), true)
        XCTAssertEqual(KafkaConfiguration.isSecret("bootstrap.servers"), false)
        XCTAssertFalse("\(badValue)".contains("hunter2"))
    }

    func testErrorNamesTheGivenFile() throws {
        let error = try XCTUnwrap(settingsError("processing:\n  max_batch_records: lots\n" + Self.kafkaYAML, file: "/etc/orbit/ingest.yaml"))
        XCTAssertEqual(error.file, "/etc/orbit/ingest.yaml")
        XCTAssertTrue(error.description.hasPrefix("/etc/orbit/ingest.yaml:2: "), error.description)
    }

    func testOutOfRangeNumber() throws {
        let error = try XCTUnwrap(settingsError(Self.kafkaYAML + "processing:\n  max_batch_records: 0\n"))
        XCTAssertEqual(error.field, "processing.max_batch_records")
        XCTAssertEqual(error.line, 4)
        XCTAssertTrue(error.message.contains("between 1 and 1000000"), error.message)
    }

    func testUnknownKeyIsRejectedWithItsLine() throws {
        let error = try XCTUnwrap(settingsError("processing:\n  max_batch_recrods: 5\n" + Self.kafkaYAML))
        XCTAssertEqual(error.field, "processing.max_batch_recrods")
        XCTAssertEqual(error.line, 2)
        XCTAssertEqual(error.file, "x.yaml")
        XCTAssertTrue(error.message.contains("max_batch_records"), "should list the allowed keys: \(error.message)")
    }

    func testUnknownServiceKey() throws {
        let error = try XCTUnwrap(settingsError("service:\n  name: a\n  port: 80\n" + Self.kafkaYAML))
        XCTAssertEqual(error.field, "service.port")
        XCTAssertEqual(error.line, 3)
    }

    func testBadChoiceListsTheOptions() throws {
        let error = try XCTUnwrap(settingsError(Self.kafkaYAML + "processing:\n  guarantee: sometimes\n"))
        XCTAssertEqual(error.field, "processing.guarantee")
        XCTAssertEqual(error.line, 4)
        XCTAssertTrue(error.message.contains("at_least_once"), error.message)
        XCTAssertTrue(error.message.contains("exactly_once"), error.message)
    }

    func testBadLogLevel() throws {
        let error = try XCTUnwrap(settingsError("service:\n  log_level: loud\n" + Self.kafkaYAML))
        XCTAssertEqual(error.field, "service.log_level")
        XCTAssertEqual(error.line, 2)
    }

    func testSectionThatIsNotAMapping() throws {
        let error = try XCTUnwrap(settingsError(Self.kafkaYAML + "processing: 5\n"))
        XCTAssertEqual(error.field, "processing")
        XCTAssertEqual(error.line, 3)
        XCTAssertTrue(error.message.contains("mapping"), error.message)
    }

    func testMissingBootstrapNamesTheKafkaField() throws {
        // Only meaningful when no local broker address file exists in the working directory.
        guard LocalBrokerAddress.read() == nil else { throw XCTSkip("a local broker address file exists") }
        let error = try XCTUnwrap(settingsError("service:\n  name: a\n"))
        XCTAssertEqual(error.field, "kafka.bootstrap.servers")
        XCTAssertEqual(error.file, "x.yaml")
    }

    // MARK: Environment overrides

    func testEnvironmentOverrideTakesEffect() throws {
        let settings = try XCTUnwrap(loadSettings(Self.kafkaYAML + "processing:\n  max_batch_records: 100\n",
                                              environment: ["ORBIT__PROCESSING__MAX_BATCH_RECORDS": "7"]))
        XCTAssertEqual(settings.maxBatchRecords, 7)
    }

    func testEnvironmentOverrideAddsMissingSection() throws {
        let settings = try XCTUnwrap(loadSettings(Self.kafkaYAML, environment: [
            "ORBIT__PROCESSING__MAX_BATCH_RECORDS": "7",
            "ORBIT__SERVICE__NAME": "from-env",
            "PATH": "/usr/bin",
            "ORBIT_HOME": "/tmp/not-an-override",
        ]))
        XCTAssertEqual(settings.maxBatchRecords, 7)
        XCTAssertEqual(settings.serviceName, "from-env")
    }

    func testKafkaEnvironmentOverrideUsesDots() throws {
        let settings = try XCTUnwrap(loadSettings(Self.kafkaYAML, environment: [
            "ORBIT__KAFKA__BOOTSTRAP_SERVERS": "h:1",
            "ORBIT__KAFKA__CLIENT_ID": "orbit-x",
        ]))
        XCTAssertEqual(settings.kafka["bootstrap.servers"], "h:1")
        XCTAssertEqual(settings.kafka["client.id"], "orbit-x")
        XCTAssertNil(settings.kafka["bootstrap_servers"])
    }

    func testKafkaBootstrapFromEnvironmentAlone() throws {
        let settings = try XCTUnwrap(loadSettings("service:\n  name: a\n", environment: ["ORBIT__KAFKA__BOOTSTRAP_SERVERS": "h:1"]))
        XCTAssertEqual(settings.kafka["bootstrap.servers"], "h:1")
    }

    func testBadEnvironmentValueNamesTheVariable() throws {
        let error = try XCTUnwrap(settingsError(Self.kafkaYAML, environment: ["ORBIT__PROCESSING__MAX_BATCH_RECORDS": "lots"]))
        XCTAssertEqual(error.field, "processing.max_batch_records")
        XCTAssertNil(error.line)
        XCTAssertTrue(error.message.contains("ORBIT__PROCESSING__MAX_BATCH_RECORDS"), error.message)
        XCTAssertTrue(error.message.contains("lots"), error.message)
    }

    func testBadEnvironmentOverrideOfYAMLValueStillNamesTheVariable() throws {
        let error = try XCTUnwrap(settingsError(Self.kafkaYAML + "processing:\n  max_batch_records: 5\n",
                                                environment: ["ORBIT__PROCESSING__MAX_BATCH_RECORDS": "0"]))
        XCTAssertEqual(error.field, "processing.max_batch_records")
        XCTAssertNil(error.line)
        XCTAssertTrue(error.message.contains("ORBIT__PROCESSING__MAX_BATCH_RECORDS"), error.message)
    }

    func testMalformedEnvironmentName() throws {
        let error = try XCTUnwrap(documentError(Self.kafkaYAML, environment: ["ORBIT__PROCESSING": "1"]))
        XCTAssertEqual(error.field, "ORBIT__PROCESSING")
        XCTAssertNil(error.line)
        let empty = try XCTUnwrap(documentError(Self.kafkaYAML, environment: ["ORBIT__PROCESSING__": "1"]))
        XCTAssertEqual(empty.field, "ORBIT__PROCESSING__")
    }

    // MARK: YAML syntax

    func testInvalidYAMLReportsALine() throws {
        let error = try XCTUnwrap(documentError("service:\n  name: a\nprocessing: b\n  max_batch_records: 5\n"))
        XCTAssertEqual(error.file, "x.yaml")
        XCTAssertEqual(error.field, "(document)")
        XCTAssertEqual(error.line, 4)
        XCTAssertTrue(error.message.hasPrefix("not valid YAML"), error.message)
    }

    func testUnclosedFlowSequenceReportsALine() throws {
        let error = try XCTUnwrap(documentError("processing:\n  max_batch_records: [1, 2\n"))
        XCTAssertEqual(error.field, "(document)")
        XCTAssertNotNil(error.line)
    }

    func testTopLevelMustBeAMapping() throws {
        let error = try XCTUnwrap(documentError("- a\n- b\n"))
        XCTAssertEqual(error.field, "(document)")
        XCTAssertEqual(error.line, 1)
        XCTAssertTrue(error.message.contains("mapping"), error.message)
    }

    func testEmptyDocumentIsAllowed() throws {
        let document = try XCTUnwrap(loadDocument(""))
        XCTAssertFalse(document.section("processing").exists)
        XCTAssertEqual(document.file, "x.yaml")
    }

    // MARK: Sections

    func testTypedAccessors() throws {
        let yaml = """
            app:
              name: orbit
              count: 12
              ratio: 0.25
              enabled: yes
              disabled: off
              tags: [a, b]
              limits:
                small: 1
                large: 3
              props:
                x.y: z
              empty:
            """
        let app = try XCTUnwrap(loadDocument(yaml)).section("app")
        XCTAssertTrue(app.exists)
        XCTAssertEqual(app.path, ["app"])
        XCTAssertEqual(try app.string("name"), "orbit")
        XCTAssertEqual(try app.string("missing", default: "fallback"), "fallback")
        XCTAssertNil(try app.optionalString("missing"))
        XCTAssertNil(try app.optionalString("empty"))
        XCTAssertEqual(try app.int("count", range: 0...100), 12)
        XCTAssertEqual(try app.int("missing", default: 3, range: 0...100), 3)
        XCTAssertEqual(try app.double("ratio", range: 0...1), 0.25)
        XCTAssertEqual(try app.bool("enabled", default: false), true)
        XCTAssertEqual(try app.bool("disabled", default: true), false)
        XCTAssertEqual(try app.bool("missing", default: true), true)
        XCTAssertEqual(try app.stringList("tags"), ["a", "b"])
        XCTAssertEqual(try app.stringList("missing", default: ["d"]), ["d"])
        XCTAssertEqual(try app.intMap("limits", range: 0...4), ["small": 1, "large": 3])
        XCTAssertNil(try app.intMap("missing", range: 0...4))
        XCTAssertEqual(try app.stringMap("props"), ["x.y": "z"])
        XCTAssertEqual(try app.section("props").scalars(), ["x.y": "z"])
        XCTAssertFalse(app.section("nothing").exists)
        XCTAssertEqual(app.section("limits").path, ["app", "limits"])
    }

    func testAccessorErrorsNameFieldAndLine() throws {
        let yaml = "app:\n  count: many\n  ratio: nan\n  flag: maybe\n  tags: text\n  limits:\n    small: 9\n"
        let app = try XCTUnwrap(loadDocument(yaml)).section("app")
        XCTAssertEqual(accessorError { () throws(ConfigError) in _ = try app.int("count", range: 0...10) }?.line, 2)
        XCTAssertEqual(accessorError { () throws(ConfigError) in _ = try app.int("count", range: 0...10) }?.field, "app.count")
        XCTAssertEqual(accessorError { () throws(ConfigError) in _ = try app.double("ratio", range: 0...1) }?.field, "app.ratio")
        XCTAssertEqual(accessorError { () throws(ConfigError) in _ = try app.bool("flag", default: false) }?.line, 4)
        XCTAssertEqual(accessorError { () throws(ConfigError) in _ = try app.string("missing") }?.field, "app.missing")
        // A scalar where a list is expected is read as a comma-separated list (the environment form).
        XCTAssertEqual(try app.stringList("tags"), ["text"])
        let limit = accessorError { () throws(ConfigError) in _ = try app.intMap("limits", range: 0...4) }
        XCTAssertEqual(limit?.field, "app.limits.small")
        XCTAssertEqual(limit?.line, 7)
    }

    func testCommaSeparatedListFromEnvironment() throws {
        let document = try XCTUnwrap(loadDocument("app:\n  tags: [x]\n", environment: ["ORBIT__APP__TAGS": "a, b,,c "]))
        XCTAssertEqual(try document.section("app").stringList("tags"), ["a", "b", "c"])
    }

    func testInvalidHelperUsesTheValueLine() throws {
        let app = try XCTUnwrap(loadDocument("app:\n  a: 1\n  b: 2\n", file: "y.yaml")).section("app")
        let error = app.invalid("b", "is wrong")
        XCTAssertEqual(error, ConfigError(file: "y.yaml", line: 3, field: "app.b", message: "is wrong"))
    }

    func testConfigErrorDescription() {
        XCTAssertEqual(ConfigError(file: "f.yaml", line: 3, field: "a.b", message: "bad").description, "f.yaml:3: a.b: bad")
        XCTAssertEqual(ConfigError(file: "f.yaml", line: nil, field: "a.b", message: "bad").description, "f.yaml: a.b: bad")
    }

    private func accessorError(_ body: () throws(ConfigError) -> Void, file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do throws(ConfigError) {
            try body()
            XCTFail("expected a configuration error", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }
}
