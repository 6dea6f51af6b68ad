import Foundation
import OrbitKafka

/// What Kafka promises about outputs and offsets. See README "Processing guarantees".
public enum ProcessingGuarantee: String, Sendable, CaseIterable {
    /// Outputs are acknowledged before offsets commit; a crash can only repeat a batch, as identical
    /// records. Works on every broker, including the local one.
    case atLeastOnce = "at_least_once"
    /// Outputs, changelog writes and offsets in one Kafka transaction. Needs Apache Kafka: the local
    /// broker writes no transaction markers, so it cannot honour this.
    case exactlyOnce = "exactly_once"
}

public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json
}

/// The settings every Orbit service shares: `service`, `kafka` and `processing` sections.
public struct RuntimeSettings: Sendable {
    public var serviceName: String
    /// Port of `/metrics` and `/health`; 0 picks a free one (logged at start).
    public var httpPort: Int
    /// Ports tried from `httpPort` upwards when it is taken: replicas sharing one network namespace
    /// (host networking) each find their own, and a static scrape list of that range finds them.
    public var httpPortAttempts: Int = 1
    public var httpHost: String
    /// What one client may hold of the HTTP port (`service.http_*`): connections, sizes, times.
    public var httpLimits = HTTPLimits()
    /// The bearer token every query over the HTTP port needs (`service.query_token_file`); nil:
    /// queries are off (answered 403), `/metrics` and `/health` are served either way.
    public var queryToken: String?
    /// The address other instances send a query to when this one holds the key
    /// (`service.advertised_url`, default `http://<host name>:<port>`).
    public var advertisedURL: String?
    public var logLevel: String
    public var logFormat: LogFormat
    /// librdkafka properties, passed through.
    public var kafka: KafkaConfiguration
    public var guarantee: ProcessingGuarantee
    /// A batch ends (outputs awaited, offsets committed) at this many records...
    public var maxBatchRecords: Int
    /// ... or after this long, whichever comes first.
    public var maxBatchWait: Duration
    /// ... or as soon as the input is drained (nothing more is queued): under light load a record
    /// is out in milliseconds instead of waiting for the timer; under heavy load the queue is never
    /// empty and batches stay large.
    public var sealWhenDrained = true
    /// Sealed batches that may wait for acknowledgements while reading goes on (at least once).
    /// More hides broker latency; each one is replayed after a crash.
    public var maxInFlightBatches: Int = 4
    /// Pipelines this process runs for one stage (Kafka Streams' `num.stream.threads`): each is a
    /// member of the stage's group with its own consumer, producer, thread and state, so the
    /// group spreads the partitions over them and a CPU-bound stage uses several cores.
    public var streamThreads: Int = 1

    /// The `privacy` section: the pseudonym key and the request and receipt topics.
    public var privacy = PrivacySettings()
    /// The `state` section: where keyed stores keep their values (memory, or SQLite on disk).
    public var stateStore: StateStoreKind = .memory

    /// Where these settings came from, for error messages.
    public var configurationFile = "(settings)"

    /// Fills in `bootstrap.servers` from the local broker's address file when the configuration
    /// has none. Called after every other setting is validated, so a typo is reported first.
    public mutating func resolveBootstrapServers() throws(ConfigError) {
        guard let servers = LocalBrokerAddress.resolve(configured: kafka["bootstrap.servers"]) else {
            throw ConfigError(file: configurationFile, line: nil, field: "kafka.bootstrap.servers",
                              message: "is required (or start `orbit broker`, which writes \(LocalBrokerAddress.path))")
        }
        kafka["bootstrap.servers"] = servers
    }

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    public init(serviceName: String, httpPort: Int = 0, httpHost: String = "0.0.0.0", logLevel: String = "info", logFormat: LogFormat = .text,
                kafka: KafkaConfiguration, guarantee: ProcessingGuarantee = .atLeastOnce, maxBatchRecords: Int = 5000, maxBatchWait: Duration = .milliseconds(200)) {
        self.serviceName = serviceName
        self.httpPort = httpPort
        self.httpHost = httpHost
        self.logLevel = logLevel
        self.logFormat = logFormat
        self.kafka = kafka
        self.guarantee = guarantee
        self.maxBatchRecords = maxBatchRecords
        self.maxBatchWait = maxBatchWait
    }

    /// The `kafka` section's librdkafka properties. A property written `<name>_file` (or, from
    /// the environment, `ORBIT__KAFKA__<NAME>_FILE`) takes its value from that file, so secrets
    /// (`sasl.password_file: /run/secrets/kafka-password`) come from a mounted secret rather than
    /// the configuration or the environment. A trailing line break is dropped; the value is never
    /// printed, and an error names only the file.
    static func kafkaProperties(_ section: ConfigSection) throws(ConfigError) -> [String: String] {
        var properties = try section.scalars()
        for (key, path) in properties.sorted(by: { $0.key < $1.key }) where key.hasSuffix("_file") || key.hasSuffix(".file") {
            let property = String(key.dropLast(5))
            guard properties[property] == nil else {
                throw section.invalid(key, "\(property) is set as well: give the value or a file, not both")
            }
            properties[property] = try SecretFile.read(path, for: key, in: section)
            properties[key] = nil
        }
        return properties
    }

    /// Reads `service`, `kafka` and `processing`. `bootstrap.servers`, when absent, comes from the
    /// local broker's address file (written by `orbit broker`), so a developer needs no settings.
    public init(document: ConfigDocument, defaultServiceName: String, defaultHTTPPort: Int) throws(ConfigError) {
        let service = document.section("service")
        try service.rejectUnknownKeys(["name", "http_port", "http_port_attempts", "http_host", "http_max_connections", "http_max_header_bytes",
                                       "http_max_body_bytes", "http_request_deadline_ms", "http_idle_timeout_ms", "query_token_file", "advertised_url",
                                       "log_level", "log_format"])
        serviceName = try service.string("name", default: defaultServiceName)
        httpPort = try service.int("http_port", default: defaultHTTPPort, range: 0...65535)
        httpPortAttempts = try service.int("http_port_attempts", default: 1, range: 1...1000)
        httpHost = try service.string("http_host", default: "0.0.0.0")
        httpLimits.maxConnections = try service.int("http_max_connections", default: httpLimits.maxConnections, range: 1...100_000)
        httpLimits.maxHeaderBytes = try service.int("http_max_header_bytes", default: httpLimits.maxHeaderBytes, range: 1024...1_048_576)
        httpLimits.maxBodyBytes = try service.int("http_max_body_bytes", default: httpLimits.maxBodyBytes, range: 0...16_777_216)
        httpLimits.requestDeadline = .milliseconds(try service.int("http_request_deadline_ms", default: 10_000, range: 100...600_000))
        httpLimits.idleTimeout = .milliseconds(try service.int("http_idle_timeout_ms", default: 30_000, range: 100...3_600_000))
        if service.section("query_token_file").exists {
            let token = try SecretFile.read(try service.string("query_token_file", default: ""), for: "query_token_file", in: service)
            guard token.utf8.count >= 16 else { throw service.invalid("query_token_file", "the token in the file is shorter than 16 bytes") }
            queryToken = token
        }
        if service.section("advertised_url").exists {
            let url = try service.string("advertised_url", default: "")
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), !url.hasSuffix("/") else {
                throw service.invalid("advertised_url", "is an http:// or https:// address without a trailing /, such as http://scorer-0.orbit:9102")
            }
            advertisedURL = url
        }
        logLevel = try service.string("log_level", default: "info")
        guard Self.logLevels.contains(logLevel) else {
            throw service.invalid("log_level", "must be one of: \(Self.logLevels.joined(separator: ", "))")
        }
        logFormat = try service.choice("log_format", default: .text)

        let kafkaSection = document.section("kafka")
        kafka = KafkaConfiguration(try Self.kafkaProperties(kafkaSection))
        do { try kafka.validate() } catch {
            let key = kafka.properties.keys.sorted().first { error.message.hasPrefix("Kafka property \($0):") } ?? "(section)"
            throw kafkaSection.invalid(key, error.message)
        }
        configurationFile = document.file

        let processing = document.section("processing")
        try processing.rejectUnknownKeys(["guarantee", "max_batch_records", "max_batch_wait_ms", "seal_when_drained", "max_in_flight_batches", "stream_threads"])
        guarantee = try processing.choice("guarantee", default: .atLeastOnce)
        maxBatchRecords = try processing.int("max_batch_records", default: 5000, range: 1...1_000_000)
        maxBatchWait = .milliseconds(try processing.int("max_batch_wait_ms", default: 200, range: 1...600_000))
        sealWhenDrained = try processing.bool("seal_when_drained", default: true)
        maxInFlightBatches = try processing.int("max_in_flight_batches", default: 4, range: 1...64)
        if guarantee == .exactlyOnce, processing.section("max_in_flight_batches").exists {
            throw processing.invalid("max_in_flight_batches", "under exactly_once each batch is a transaction committed before the next is sealed: batches in flight do not apply")
        }
        streamThreads = try processing.int("stream_threads", default: 1, range: 1...64)
        privacy = try PrivacySettings(document: document)

        let state = document.section("state")
        try state.rejectUnknownKeys(["store", "dir", "cache_kib"])
        switch try state.string("store", default: "memory") {
        case "memory":
            stateStore = .memory
            // A disk setting beside `store: memory` would be parsed and then ignored.
            for key in ["dir", "cache_kib"] where try state.optionalString(key) != nil {
                throw state.invalid(key, "applies only to store: disk (store is memory)")
            }
        case "disk":
            let directory = try state.optionalString("dir") ?? (LocalBrokerAddress.directory + "/state/" + serviceName)
            guard !directory.isEmpty else { throw state.invalid("dir", "must name a directory") }
            stateStore = .disk(directory: directory, cacheKiB: try state.int("cache_kib", default: 1024, range: 64...1_048_576))
        default:
            throw state.invalid("store", "must be memory or disk")
        }
    }
}

/// Where `orbit broker` publishes the local broker's bootstrap address (its ports are ephemeral).
/// `ORBIT_HOME` moves it; the default is `.orbit/` in the working directory.
public enum LocalBrokerAddress {
    public static var directory: String {
        ProcessInfo.processInfo.environment["ORBIT_HOME"] ?? FileManager.default.currentDirectoryPath + "/.orbit"
    }

    public static var path: String { directory + "/bootstrap" }

    public static func read() -> String? {
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
              !text.isEmpty else { return nil }
        return text
    }

    /// The configured servers, or the address file's when none are configured. Empty counts as
    /// unset, so an override (a compose file's empty variable) can hand a process back to the file.
    public static func resolve(configured: String?) -> String? {
        if let configured, !configured.isEmpty { return configured }
        return read()
    }

    public static func write(_ bootstrap: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data((bootstrap + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
