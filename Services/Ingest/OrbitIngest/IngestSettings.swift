import OrbitContract
import OrbitRuntime

/// The `topics` and `ingest` sections of the ingestion service's configuration.
public struct IngestSettings: Sendable {
    public var groupID = "orbit-ingest"
    public var inputTopic = OrbitTopics.userEvents
    public var validTopic = OrbitTopics.validEvents
    public var deadLetterTopic = OrbitTopics.deadLetters
    public var dedupChangelogTopic = OrbitTopics.ingestDedupChangelog
    public var policy = ValidationPolicy()
    public var dedupWindowMillis: Int64 = 7 * 24 * 3600 * 1000
    public var dedupMaxIDsPerPartition = 5_000_000
    public var deadLetterMaxPayloadBytes = 512 * 1024

    public init() {}

    public init(document: ConfigDocument) throws(ConfigError) {
        let topics = document.section("topics")
        try topics.rejectUnknownKeys(["input", "valid", "dead_letters", "dedup_changelog"])
        inputTopic = try topics.string("input", default: inputTopic)
        validTopic = try topics.string("valid", default: validTopic)
        deadLetterTopic = try topics.string("dead_letters", default: deadLetterTopic)
        dedupChangelogTopic = try topics.string("dedup_changelog", default: dedupChangelogTopic)

        let ingest = document.section("ingest")
        try ingest.rejectUnknownKeys([
            "group_id", "max_payload_bytes", "max_future_skew_seconds", "dedup_window_days", "dedup_max_ids_per_partition",
            "dead_letter_max_payload_bytes", "default_currency", "currencies", "currencies_file", "extra_event_types",
        ])
        groupID = try ingest.string("group_id", default: groupID)
        policy.maxPayloadBytes = try ingest.int("max_payload_bytes", default: 64 * 1024, range: 256...(16 * 1024 * 1024))
        policy.maxFutureSkewMillis = Int64(try ingest.int("max_future_skew_seconds", default: 300, range: 0...(7 * 86_400))) * 1000
        // The window is rebuilt from the dedup changelog after a restart, and that topic keeps
        // seven days (TopicCatalogue): a longer window would hold only until the next restart.
        dedupWindowMillis = Int64(try ingest.int("dedup_window_days", default: 7, range: 0...(TopicCatalogue.dedupRetention / 86_400_000))) * 86_400_000
        dedupMaxIDsPerPartition = try ingest.int("dedup_max_ids_per_partition", default: dedupMaxIDsPerPartition, range: 1...1_000_000_000)
        deadLetterMaxPayloadBytes = try ingest.int("dead_letter_max_payload_bytes", default: deadLetterMaxPayloadBytes, range: 1024...(16 * 1024 * 1024))
        if try ingest.optionalString("currencies_file") != nil {
            // The one currency table every service reads; the inline list is the older form.
            guard try ingest.intMap("currencies", range: 0...4) == nil else { throw ingest.invalid("currencies", "give either currencies_file or currencies, not both") }
            policy.currencies = try CurrencyTable.load(from: ingest, configFile: document.file).catalog
        }
        if let currencies = try ingest.intMap("currencies", range: 0...4) {
            for code in currencies.keys where code.count != 3 || !code.allSatisfy({ $0.isASCII && $0.isUppercase }) {
                throw ingest.section("currencies").invalid(code, "currency codes are three upper-case letters (ISO 4217)")
            }
            policy.currencies = CurrencyCatalog(currencies)
        }
        policy.defaultCurrency = try ingest.string("default_currency", default: "USD")
        guard policy.currencies.digits(for: policy.defaultCurrency) != nil else {
            throw ingest.invalid("default_currency", "\(policy.defaultCurrency) is not among the configured currencies")
        }
        var extra: Set<EventType> = []
        for name in try ingest.stringList("extra_event_types") {
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
                throw ingest.invalid("extra_event_types", "\"\(name)\" must be lower-case letters, digits and underscores")
            }
            guard !EventType.builtIn.contains(EventType(name)) else {
                throw ingest.invalid("extra_event_types", "\"\(name)\" is built in already")
            }
            extra.insert(EventType(name))
        }
        policy.extraEventTypes = extra
    }
}
